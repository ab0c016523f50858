package vault

import (
	"context"
	"sync"
	"time"
)

// Cache is a read-through cache in front of a Vault. Every inbound request of
// a returning customer and every outbound request reads a record; decoding it
// from disk costs more than the rest of the gateway's work, so records are
// kept in memory for a short TTL. Records hold only sealed card data, never a
// PAN. Writes go through and refresh the cache, so this process always sees
// its own changes; another process sharing the store (a future database
// backend) is seen within the TTL. Misses are not cached: a new card must
// always reach the store.
type Cache struct {
	Vault
	ttl     time.Duration
	max     int
	now     func() time.Time
	mu      sync.RWMutex
	byToken map[string]cachedRecord // tenant \x00 token
	byPrint map[string]string       // tenant \x00 fingerprint -> token
}

type cachedRecord struct {
	rec     Record
	expires time.Time
}

// NewCache wraps v; ttl bounds how stale a record can be, max how many
// records are kept (an arbitrary one is dropped when full).
func NewCache(v Vault, ttl time.Duration, max int) *Cache {
	return &Cache{Vault: v, ttl: ttl, max: max, now: time.Now,
		byToken: make(map[string]cachedRecord), byPrint: make(map[string]string)}
}

func key(tenant, s string) string { return tenant + "\x00" + s }

func (c *Cache) lookup(tenant, token string) (Record, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.byToken[key(tenant, token)]
	if !ok || !c.now().Before(e.expires) {
		return Record{}, false
	}
	return e.rec, true
}

func (c *Cache) remember(rec Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byToken) >= c.max {
		for k, e := range c.byToken {
			delete(c.byToken, k)
			delete(c.byPrint, key(e.rec.Tenant, e.rec.Fingerprint))
			break
		}
	}
	c.byToken[key(rec.Tenant, rec.Token)] = cachedRecord{rec: rec, expires: c.now().Add(c.ttl)}
	c.byPrint[key(rec.Tenant, rec.Fingerprint)] = rec.Token
}

func (c *Cache) forget(tenant, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byToken[key(tenant, token)]; ok {
		delete(c.byPrint, key(tenant, e.rec.Fingerprint))
	}
	delete(c.byToken, key(tenant, token))
}

// Get implements Vault.
func (c *Cache) Get(ctx context.Context, tenant, token string) (Record, error) {
	if rec, ok := c.lookup(tenant, token); ok {
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
	c.mu.RLock()
	token, ok := c.byPrint[key(tenant, fingerprint)]
	c.mu.RUnlock()
	if ok {
		if rec, ok := c.lookup(tenant, token); ok {
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

// Update implements Vault. The stored record's timestamps are the backend's,
// so the entry is dropped rather than guessed; the next read refills it.
func (c *Cache) Update(ctx context.Context, rec Record) error {
	err := c.Vault.Update(ctx, rec)
	c.forget(rec.Tenant, rec.Token)
	return err
}

// Delete implements Vault.
func (c *Cache) Delete(ctx context.Context, tenant, token string) error {
	err := c.Vault.Delete(ctx, tenant, token)
	c.forget(tenant, token)
	return err
}

var _ Vault = (*Cache)(nil)
