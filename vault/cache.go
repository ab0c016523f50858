package vault

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/VictoriaMetrics/fastcache"
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
	// The entries live in fastcache's chunks, allocated off the Go heap:
	// with the cache full (100,000 records at 2,000 new cards a second),
	// records held as Go values were a third of the live heap's objects,
	// which every GC cycle marked again. A record is kept in EncodeRecord's
	// form, followed by its expiry (expiresLen), under tenant and token;
	// byPrint maps tenant and fingerprint to the token. A record that does
	// not fit an entry (huge metadata) is not cached.
	byToken, byPrint *fastcache.Cache
	ttl              time.Duration
	max              int

	// mu guards gen and off. gen counts invalidations: a read from the store
	// is cached only if none happened while it was under way, so a change
	// announced while the read was in flight is never overwritten by the
	// older record it returned.
	mu  sync.Mutex
	gen uint64
	off bool

	// Reseal, when set, is offered every record Update writes: it returns
	// the record's sealed data in the current format when it is in an
	// older one (ok), so records move to the current format on their next
	// write (keys.Keys.Reseal). Set it before the cache is used.
	Reseal func(tenant, fingerprint, token string, sealed []byte) (resealed []byte, ok bool)
}

// Room per record: an encoded record with its key and expiry takes about
// 300 bytes; fastcache drops the oldest entries of a bucket when it is full,
// so max bounds the memory, and about max typical records fit.
const (
	recordRoom = 512
	printRoom  = 128
	// maxEntry is fastcache's bound on key and value (64 KiB), less its
	// header: a larger Set is silently ignored, which would leave an older
	// copy in place.
	maxEntry   = 64*1024 - 16
	expiresLen = 8
)

// NewCache wraps v; ttl bounds how stale a record can be, max about how many
// records are kept (the oldest are dropped when full).
func NewCache(v Vault, ttl time.Duration, max int) *Cache {
	c := &Cache{Vault: v, ttl: ttl, max: max,
		byToken: fastcache.New(max * recordRoom), byPrint: fastcache.New(max * printRoom)}
	// fastcache's chunks go back to its free list only on Reset: a stack
	// dropped on a config reload must not keep them.
	runtime.AddCleanup(c, func(fc [2]*fastcache.Cache) { fc[0].Reset(); fc[1].Reset() }, [2]*fastcache.Cache{c.byToken, c.byPrint})
	return c
}

// key is the short-lived layer's map key: tenant \x00 token.
func key(tenant, s string) string { return tenant + "\x00" + s }

// appendKey appends an entry's key: tenant (length first, so no pair of
// tenant and s spells another's) and the token or fingerprint.
func appendKey(dst []byte, tenant, s string) []byte {
	return append(append(binary.AppendUvarint(dst, uint64(len(tenant))), tenant...), s...)
}

// bufs holds the buffers hits copy entries into.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// generation returns the invalidation count to pass to remember, and
// whether the cache is on.
func (c *Cache) generation() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, !c.off
}

// remember caches rec unless the cache is off or something was invalidated
// since generation returned gen.
func (c *Cache) remember(rec Record, gen uint64) {
	enc, err := EncodeRecord(rec) // on error the record is not cached, and an older copy dropped
	expires := time.Now().Add(c.ttl).UnixNano()
	enc = binary.BigEndian.AppendUint64(enc, uint64(expires))
	var kb [128]byte
	key := appendKey(kb[:0], rec.Tenant, rec.Token)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off || c.gen != gen {
		return
	}
	if err != nil || len(key)+len(enc) > maxEntry {
		c.invalidate(rec.Tenant, rec.Token)
		return
	}
	c.byToken.Set(key, enc)
	pkey := appendKey(kb[:0], rec.Tenant, rec.Fingerprint)
	if len(pkey)+len(rec.Token)+expiresLen > maxEntry {
		c.byPrint.Del(pkey)
		return
	}
	c.byPrint.Set(pkey, binary.BigEndian.AppendUint64([]byte(rec.Token), uint64(expires)))
}

// lookup returns the live entry under key, without its expiry, in a pooled
// buffer the caller gives back with release.
func lookup(fc *fastcache.Cache, key []byte) (v []byte, buf *[]byte, ok bool) {
	buf = bufs.Get().(*[]byte)
	v, ok = fc.HasGet((*buf)[:0], key)
	*buf = v
	if !ok || len(v) < expiresLen {
		release(buf)
		return nil, nil, false
	}
	n := len(v) - expiresLen
	if time.Now().UnixNano() >= int64(binary.BigEndian.Uint64(v[n:])) {
		release(buf)
		return nil, nil, false
	}
	return v[:n], buf, true
}

// release clears a buffer (it held sealed card data) and pools it again.
func release(buf *[]byte) {
	clear((*buf)[:cap(*buf)])
	*buf = (*buf)[:0]
	bufs.Put(buf)
}

// cached returns the cached record of token in tenant.
func (c *Cache) cached(tenant, token string) (Record, bool) {
	var kb [128]byte
	v, buf, ok := lookup(c.byToken, appendKey(kb[:0], tenant, token))
	if !ok {
		return Record{}, false
	}
	defer release(buf)
	rec, err := DecodeRecord(token, v)
	return rec, err == nil
}

// invalidate drops the record's entries; c.mu is held.
func (c *Cache) invalidate(tenant, token string) {
	c.gen++
	var kb [128]byte
	key := appendKey(kb[:0], tenant, token)
	if rec, ok := c.cached(tenant, token); ok {
		c.byPrint.Del(appendKey(nil, tenant, rec.Fingerprint))
	}
	c.byToken.Del(key)
}

// Invalidate implements Invalidator: the next read of the record goes to
// the store.
func (c *Cache) Invalidate(tenant, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidate(tenant, token)
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
	c.byToken.Reset()
	c.byPrint.Reset()
}

// Get implements Vault.
func (c *Cache) Get(ctx context.Context, tenant, token string) (Record, error) {
	gen, on := c.generation()
	if on {
		if rec, ok := c.cached(tenant, token); ok {
			return rec, nil
		}
	}
	rec, err := c.Vault.Get(ctx, tenant, token)
	if err == nil {
		c.remember(rec, gen)
	}
	return rec, err
}

// GetByFingerprint implements Vault.
func (c *Cache) GetByFingerprint(ctx context.Context, tenant, fingerprint string) (Record, error) {
	gen, on := c.generation()
	if on {
		if rec, ok := c.cachedByPrint(tenant, fingerprint); ok {
			return rec, nil
		}
	}
	rec, err := c.Vault.GetByFingerprint(ctx, tenant, fingerprint)
	if err == nil {
		c.remember(rec, gen)
	}
	return rec, err
}

// cachedByPrint returns the cached record of fingerprint in tenant.
func (c *Cache) cachedByPrint(tenant, fingerprint string) (Record, bool) {
	var kb [128]byte
	v, buf, ok := lookup(c.byPrint, appendKey(kb[:0], tenant, fingerprint))
	if !ok {
		return Record{}, false
	}
	token := string(v)
	release(buf)
	rec, ok := c.cached(tenant, token)
	// The token's entry is checked against the fingerprint: a stale
	// mapping (the token's record dropped and its entry written anew)
	// must not answer for another card.
	return rec, ok && rec.Fingerprint == fingerprint
}

// Put implements Vault.
func (c *Cache) Put(ctx context.Context, rec Record) (Record, bool, error) {
	return c.PutInUnit(ctx, nil, rec)
}

// PutInUnit implements UnitWriter for the vault underneath.
func (c *Cache) PutInUnit(ctx context.Context, unit *Unit, rec Record) (Record, bool, error) {
	gen, _ := c.generation()
	stored, created, err := Put(ctx, c.Vault, unit, rec)
	if err == nil {
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
	case err == nil:
		c.remember(stored, gen)
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
	_ UnitWriter  = (*Cache)(nil)
)
