package vault

import (
	"context"
	"errors"
	"sync"
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
// (a webhook, another gateway's change announced by the database) is made
// visible at once with Invalidate; while such announcements cannot be heard,
// Pause turns the cache off.
type Cache struct {
	Vault
	byToken *expirable.LRU[cacheKey, *packed] // tenant, token
	byPrint *expirable.LRU[cacheKey, string]  // tenant, fingerprint -> token
	max     int

	// mu guards gen and off. gen counts invalidations: a read from the store
	// is cached only if none happened while it was under way, so a change
	// announced while the read was in flight is never overwritten by the
	// older record it returned.
	mu  sync.Mutex
	gen uint64
	off bool
	// days holds the Metadata maps cached records share (guarded by mu).
	days dayMaps

	// Reseal, when set, is offered every record Update writes: it returns
	// the record's sealed data in the current format when it is in an
	// older one (ok), so records move to the current format on their next
	// write (keys.Keys.Reseal). Set it before the cache is used.
	Reseal func(tenant, fingerprint, token string, sealed []byte) (resealed []byte, ok bool)
}

// NewCache wraps v; ttl bounds how stale a record can be, max how many
// records are kept (the least recently used is dropped when full).
func NewCache(v Vault, ttl time.Duration, max int) *Cache {
	return &Cache{Vault: v, max: max,
		byToken: expirable.NewLRU[cacheKey, *packed](max, nil, ttl),
		byPrint: expirable.NewLRU[cacheKey, string](max, nil, ttl)}
}

// cacheKey is a cache entry's key: the tenant and the token or
// fingerprint, compared as a pair, with no string made per lookup.
type cacheKey struct{ tenant, s string }

// key is the short-lived layer's map key: tenant \x00 token.
func key(tenant, s string) string { return tenant + "\x00" + s }

// generation returns the invalidation count to pass to remember, and
// whether the cache is on.
func (c *Cache) generation() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, !c.off
}

type notCachedKey struct{}

// WithoutCaching marks ctx so that what is read from or written to the
// store under it is not added to a Cache (what the cache already holds is
// still served). A bulk body's cards are seldom read again within the TTL:
// cached, a 1,000-card import would keep 1,000 records alive for it, which
// the collector counts against every request's heap goal.
func WithoutCaching(ctx context.Context) context.Context {
	return context.WithValue(ctx, notCachedKey{}, true)
}

// admits reports whether records read or written under ctx are cached.
func admits(ctx context.Context) bool { return ctx.Value(notCachedKey{}) == nil }

// remember caches rec unless the cache is off or something was invalidated
// since generation returned gen.
func (c *Cache) remember(rec Record, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off || c.gen != gen {
		return
	}
	rec.Metadata = c.days.share(rec.Metadata)
	p := pack(rec)
	rec = p.record() // the keys too are parts of p's blob, keeping no other strings alive
	c.byToken.Add(cacheKey{rec.Tenant, rec.Token}, p)
	c.byPrint.Add(cacheKey{rec.Tenant, rec.Fingerprint}, rec.Token)
}

// Invalidate implements Invalidator: the next read of the record goes to
// the store.
func (c *Cache) Invalidate(tenant, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if p, ok := c.byToken.Peek(cacheKey{tenant, token}); ok {
		c.byPrint.Remove(cacheKey{tenant, p.fingerprint()})
	}
	c.byToken.Remove(cacheKey{tenant, token})
}

// InvalidateAll drops every record.
func (c *Cache) InvalidateAll() { c.set(false) }

// Pause drops every record and stops caching: changes made elsewhere can no
// longer be heard (the database's announcements are down), so nothing read
// now could be trusted later.
func (c *Cache) Pause() { c.set(true) }

// Resume drops every record (changes may have gone unheard while paused)
// and caches again.
func (c *Cache) Resume() { c.set(false) }

func (c *Cache) set(off bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.off = off
	c.byToken.Purge()
	c.byPrint.Purge()
}

// Get implements Vault.
func (c *Cache) Get(ctx context.Context, tenant, token string) (Record, error) {
	gen, on := c.generation()
	if on {
		if p, ok := c.byToken.Get(cacheKey{tenant, token}); ok {
			return p.record(), nil
		}
	}
	rec, err := c.Vault.Get(ctx, tenant, token)
	if err == nil && admits(ctx) {
		c.remember(rec, gen)
	}
	return rec, err
}

// GetByFingerprint implements Vault.
func (c *Cache) GetByFingerprint(ctx context.Context, tenant, fingerprint string) (Record, error) {
	gen, on := c.generation()
	if on {
		if token, ok := c.byPrint.Get(cacheKey{tenant, fingerprint}); ok {
			if p, ok := c.byToken.Get(cacheKey{tenant, token}); ok {
				return p.record(), nil
			}
		}
	}
	rec, err := c.Vault.GetByFingerprint(ctx, tenant, fingerprint)
	if err == nil && admits(ctx) {
		c.remember(rec, gen)
	}
	return rec, err
}

// Put implements Vault.
func (c *Cache) Put(ctx context.Context, rec Record) (Record, bool, error) {
	return c.PutInUnit(ctx, nil, rec)
}

// PutInUnit implements UnitWriter for the vault underneath.
func (c *Cache) PutInUnit(ctx context.Context, unit *Unit, rec Record) (Record, bool, error) {
	gen, _ := c.generation()
	stored, created, err := Put(ctx, c.Vault, unit, rec)
	if err == nil && admits(ctx) {
		c.remember(stored, gen)
	}
	return stored, created, err
}

// Update implements Vault. A conflict means the cached copy is stale: it is
// dropped, so the caller's next read sees the store.
func (c *Cache) Update(ctx context.Context, rec Record) (Record, error) {
	return c.UpdateInUnit(ctx, nil, rec)
}

// UpdateInUnit implements UnitWriter for the vault underneath.
func (c *Cache) UpdateInUnit(ctx context.Context, unit *Unit, rec Record) (Record, error) {
	gen, _ := c.generation()
	if c.Reseal != nil {
		if sealed, ok := c.Reseal(rec.Tenant, rec.Fingerprint, rec.Token, rec.Sealed); ok {
			rec.Sealed = sealed
		}
	}
	stored, err := Update(ctx, c.Vault, unit, rec)
	switch {
	case err == nil && admits(ctx):
		c.remember(stored, gen)
	case err == nil, errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
		// Not cached (WithoutCaching) or stale: the copy the cache may
		// hold is older than the store's, so it goes.
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
	_ UnitWriter  = (*Cache)(nil)
)
