package vault

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// Cache is a read-through cache in front of a Vault. Every inbound request of
// a returning customer and every outbound request reads a record; decoding it
// from disk costs more than the rest of the gateway's work, so records are
// kept in memory for a short TTL. Records hold only sealed card data, never a
// PAN. Writes go through and refresh the cache, so this process always sees
// its own changes; another process sharing the store (a future database
// backend) is seen within the TTL. Misses are not cached: a new card must
// always reach the store. A change made elsewhere that this process learns of
// (a webhook, say) is made visible at once with Invalidate.
type Cache struct {
	Vault
	byToken *expirable.LRU[string, Record] // tenant \x00 token
	byPrint *expirable.LRU[string, string] // tenant \x00 fingerprint -> token
}

// NewCache wraps v; ttl bounds how stale a record can be, max how many
// records are kept (the least recently used is dropped when full).
func NewCache(v Vault, ttl time.Duration, max int) *Cache {
	return &Cache{Vault: v,
		byToken: expirable.NewLRU[string, Record](max, nil, ttl),
		byPrint: expirable.NewLRU[string, string](max, nil, ttl)}
}

func key(tenant, s string) string { return tenant + "\x00" + s }

func (c *Cache) remember(rec Record) {
	c.byToken.Add(key(rec.Tenant, rec.Token), rec)
	c.byPrint.Add(key(rec.Tenant, rec.Fingerprint), rec.Token)
}

// Invalidate implements Invalidator: the next read of the record goes to
// the store.
func (c *Cache) Invalidate(tenant, token string) {
	if rec, ok := c.byToken.Peek(key(tenant, token)); ok {
		c.byPrint.Remove(key(tenant, rec.Fingerprint))
	}
	c.byToken.Remove(key(tenant, token))
}

// Get implements Vault.
func (c *Cache) Get(ctx context.Context, tenant, token string) (Record, error) {
	if rec, ok := c.byToken.Get(key(tenant, token)); ok {
		return rec, nil
	}
	rec, err := c.Vault.Get(ctx, tenant, token)
	if err == nil {
		c.remember(rec)
	}
	return rec, err
}

// GetByFingerprint implements Vault.
func (c *Cache) GetByFingerprint(ctx context.Context, tenant, fingerprint string) (Record, error) {
	if token, ok := c.byPrint.Get(key(tenant, fingerprint)); ok {
		if rec, ok := c.byToken.Get(key(tenant, token)); ok {
			return rec, nil
		}
	}
	rec, err := c.Vault.GetByFingerprint(ctx, tenant, fingerprint)
	if err == nil {
		c.remember(rec)
	}
	return rec, err
}

// Put implements Vault.
func (c *Cache) Put(ctx context.Context, rec Record) (Record, bool, error) {
	stored, created, err := c.Vault.Put(ctx, rec)
	if err == nil {
		c.remember(stored)
	}
	return stored, created, err
}

// Update implements Vault. A conflict means the cached copy is stale: it is
// dropped, so the caller's next read sees the store.
func (c *Cache) Update(ctx context.Context, rec Record) (Record, error) {
	stored, err := c.Vault.Update(ctx, rec)
	switch {
	case err == nil:
		c.remember(stored)
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
		c.Invalidate(rec.Tenant, rec.Token)
	}
	return stored, err
}

// Delete implements Vault.
func (c *Cache) Delete(ctx context.Context, tenant, token string) error {
	err := c.Vault.Delete(ctx, tenant, token)
	c.Invalidate(tenant, token)
	return err
}

// Interface guards.
var (
	_ Vault       = (*Cache)(nil)
	_ Invalidator = (*Cache)(nil)
)

// BeginUnit implements Units for a backend that has them.
func (c *Cache) BeginUnit(ctx context.Context) context.Context {
	if u, ok := c.Vault.(Units); ok {
		return u.BeginUnit(ctx)
	}
	return ctx
}

// FlushUnit implements Units for a backend that has them.
func (c *Cache) FlushUnit(ctx context.Context) error {
	if u, ok := c.Vault.(Units); ok {
		return u.FlushUnit(ctx)
	}
	return nil
}
