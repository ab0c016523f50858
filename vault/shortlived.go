package vault

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ShortLived keeps short-lived records beside a vault, in memory only: card
// tokens that must be gone after a few minutes (Juspay's ctkn_, which "is
// remembered only for 15 minutes"), and cards whose holder did not consent
// to their being kept. Get finds them by token, as any record, so the
// outbound side can use them until they expire; GetByFingerprint never
// returns one, so a card presented again inbound is not tied to them; they
// are never written to the store, and an expired one is gone for good.
// Everything else goes to the vault underneath.
//
// Held in memory, a short-lived card can be used only through the gateway
// that issued it. With a Shared store (Redis, beside the CVVs) every gateway
// of a deployment sees it, and nothing is kept in this process.
type ShortLived struct {
	Vault
	// Shared, when set, keeps the short-lived cards instead of memory.
	Shared ShortLivedStore
	// Reserve is how many of the bound are kept for the short-lived cards
	// put without a Pool (the gateway's own: cards a tokenize handler keeps
	// without consent): the pools together hold at most max − Reserve, so
	// a flood of unauthenticated /card/tokenize calls can never take the
	// room a checkout needs. NewShortLivedLimit sets half the bound.
	Reserve int

	mu sync.RWMutex
	// entries are the cards held, by tenant \x00 token: with their
	// records in memory, or, with Shared, only what this process put there
	// (rec empty), counted as if held here.
	entries map[string]shortLivedEntry
	expiry  expiryHeap     // entries by expiry, so a sweep costs what expired
	pools   map[string]int // entries per Pool name ("" not counted)
	pooled  int            // the sum of pools
	held    atomic.Int64   // len(entries), read without the lock
	refused atomic.Uint64  // cards refused for want of room (full or a pool's quota)
	now     func() time.Time
	max     int
}

type shortLivedEntry struct {
	rec     Record
	expires time.Time
	pool    string
}

// ShortLivedMark is the Metadata key of every short-lived record, so the
// served APIs can tell an alias for one payment from a saved card: they
// never change a token's state, or reissue, through one.
//
// Its value is the key records (and the shared store) already hold, which
// is why it keeps the older spelling.
const ShortLivedMark = "tokengate.ephemeral"

// IsShortLived reports whether rec is a short-lived record.
func IsShortLived(rec Record) bool {
	_, ok := rec.Metadata[ShortLivedMark]
	return ok
}

// MaxShortLived bounds how many short-lived cards are held at once. They can
// be created without an API key (Juspay's /card/tokenize is called from
// browsers), so memory must not grow with whatever a caller sends: past the
// bound new ones are refused (ErrShortLivedFull), never an old one dropped.
// It is the last line: each caller's Pool has its own, smaller, quota.
const MaxShortLived = 100_000

// ErrShortLivedFull means MaxShortLived short-lived cards are held already,
// or, for a card put in a Pool, the pools' share of them.
var ErrShortLivedFull = errors.New("vault: too many short-lived cards held; try again later")

// ErrShortLivedQuota means the Pool the card was put in holds its Max
// already; other pools, and the gateway's own cards, are unaffected.
var ErrShortLivedQuota = errors.New("vault: this pool holds its quota of short-lived cards; try again later")

// Pool names whose quota a short-lived card counts against: a caller that
// creates cards for someone else (the Juspay API's /card/tokenize, for the
// merchant a request names) puts them in that one's pool, so that one
// merchant's callers filling it leave every other merchant, and the
// gateway's own cards, their room. A Pool travels in the context
// (WithPool), so the tokenizer in between need not know of it.
type Pool struct {
	// Name identifies the pool (for example "juspay/<merchant id>").
	Name string
	// Max is how many cards the pool holds at once (at least 1).
	Max int
}

type poolKey struct{}

// WithPool returns ctx carrying p: PutShortLived counts what is put under
// ctx against p. Without a Pool a card is the gateway's own, bounded only
// by the layer's total (and served from the Reserve pools cannot take).
func WithPool(ctx context.Context, p Pool) context.Context {
	return context.WithValue(ctx, poolKey{}, p)
}

func poolOf(ctx context.Context) Pool {
	p, _ := ctx.Value(poolKey{}).(Pool)
	if p.Name != "" && p.Max < 1 {
		p.Max = 1
	}
	return p
}

// NewShortLived puts a short-lived layer over v, holding up to MaxShortLived
// cards.
func NewShortLived(v Vault) *ShortLived { return NewShortLivedLimit(v, MaxShortLived) }

// NewShortLivedLimit is NewShortLived holding up to max cards, half of them
// reserved for the cards put without a Pool.
func NewShortLivedLimit(v Vault, max int) *ShortLived {
	return &ShortLived{Vault: v, entries: map[string]shortLivedEntry{}, pools: map[string]int{}, now: time.Now, max: max, Reserve: max / 2}
}

// ShortLivedStore keeps short-lived cards for several gateways, each until
// its TTL; they are never written to the vault.
type ShortLivedStore interface {
	// PutShortLived keeps rec for ttl.
	PutShortLived(ctx context.Context, rec Record, ttl time.Duration) error
	// GetShortLived returns the live record, or ErrNotFound.
	GetShortLived(ctx context.Context, tenant, token string) (Record, error)
	// DeleteShortLived forgets the record, or returns ErrNotFound.
	DeleteShortLived(ctx context.Context, tenant, token string) error
}

// PutShortLived keeps rec for ttl, counted against the Pool ctx carries
// (WithPool), if any. Its token must be new: short-lived tokens are random,
// and the caller draws them.
//
// With a Shared store, what a process puts there counts against its bounds
// as if it were held here, so a shared store cannot be filled by one
// gateway's unauthenticated callers either: a deployment of n gateways
// holds at most n × max, and a pool n × its Max.
func (e *ShortLived) PutShortLived(ctx context.Context, rec Record, ttl time.Duration) error {
	now := e.now()
	rec.CreatedAt, rec.UpdatedAt, rec.Version = now.UTC(), now.UTC(), 1
	pool := poolOf(ctx)
	k := key(rec.Tenant, rec.Token)
	e.mu.Lock()
	if err := e.admit(now, pool); err != nil {
		e.mu.Unlock()
		e.refused.Add(1)
		return err
	}
	ent := shortLivedEntry{rec: rec, expires: now.Add(ttl), pool: pool.Name}
	if e.Shared != nil {
		ent.rec = Record{} // only counted here; the card is in Shared
	}
	e.add(k, ent)
	e.mu.Unlock()
	if e.Shared != nil {
		if err := e.Shared.PutShortLived(ctx, rec, ttl); err != nil {
			e.mu.Lock()
			e.remove(k)
			e.mu.Unlock()
			return err
		}
	}
	return nil
}

// admit says whether one more card fits, in the layer and in pool; the
// caller holds mu. Expired cards go first, so room comes back as they do.
func (e *ShortLived) admit(now time.Time, pool Pool) error {
	e.sweep(now)
	switch {
	case len(e.entries) >= e.max:
		return ErrShortLivedFull
	case pool.Name == "":
		return nil
	case e.pools[pool.Name] >= pool.Max:
		return ErrShortLivedQuota
	case e.pooled >= e.max-min(max(e.Reserve, 0), e.max):
		return ErrShortLivedFull
	}
	return nil
}

// add holds ent under k; the caller holds mu.
func (e *ShortLived) add(k string, ent shortLivedEntry) {
	e.entries[k] = ent
	heap.Push(&e.expiry, expiryItem{key: k, expires: ent.expires})
	if ent.pool != "" {
		e.pools[ent.pool]++
		e.pooled++
	}
	e.held.Store(int64(len(e.entries)))
}

// remove forgets k, if held; the caller holds mu. Its expiry item stays in
// the heap until it comes up (or the heap is rebuilt) and is then ignored.
func (e *ShortLived) remove(k string) bool {
	ent, ok := e.entries[k]
	if !ok {
		return false
	}
	delete(e.entries, k)
	if ent.pool != "" {
		if e.pools[ent.pool]--; e.pools[ent.pool] <= 0 {
			delete(e.pools, ent.pool)
		}
		e.pooled--
	}
	e.held.Store(int64(len(e.entries)))
	return true
}

// sweep drops expired entries; the caller holds mu. Every put sweeps, and
// a Get of an expired card sweeps; it costs what expired, not what is held.
func (e *ShortLived) sweep(now time.Time) {
	for e.expiry.Len() > 0 && !now.Before(e.expiry[0].expires) {
		it := heap.Pop(&e.expiry).(expiryItem)
		if ent, ok := e.entries[it.key]; ok && ent.expires.Equal(it.expires) {
			e.remove(it.key)
		}
	}
	// Items of deleted cards wait for their expiry; never more than as many
	// again as there are cards (plus some slack).
	if e.expiry.Len() > 2*len(e.entries)+1024 {
		e.expiry = e.expiry[:0]
		for k, ent := range e.entries {
			e.expiry = append(e.expiry, expiryItem{key: k, expires: ent.expires})
		}
		heap.Init(&e.expiry)
	}
}

// PoolHeld reports how many cards the pool named holds now (a process's
// count, with a Shared store), for metrics and tests; "" names the cards
// put without a pool.
func (e *ShortLived) PoolHeld(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sweep(e.now())
	if name == "" {
		return len(e.entries) - e.pooled
	}
	return e.pools[name]
}

// Held reports how many short-lived cards are held now (with a Shared
// store, how many this process put there and are live), for metrics.
func (e *ShortLived) Held() int { return int(e.held.Load()) }

// Max reports how many short-lived cards are held at most.
func (e *ShortLived) Max() int { return e.max }

// Refused counts the short-lived cards refused for want of room: the
// layer full (ErrShortLivedFull) or a pool at its quota (ErrShortLivedQuota).
func (e *ShortLived) Refused() uint64 { return e.refused.Load() }

type expiryItem struct {
	key     string
	expires time.Time
}

// expiryHeap is a min-heap of expiries (container/heap).
type expiryHeap []expiryItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// Get implements Vault: a live short-lived record, else the vault's. Most
// gateways hold none, and then Get costs one atomic load more than the
// vault's.
func (e *ShortLived) Get(ctx context.Context, tenant, token string) (Record, error) {
	if e.Shared == nil && e.held.Load() > 0 {
		e.mu.RLock()
		ent, ok := e.entries[key(tenant, token)]
		e.mu.RUnlock()
		switch {
		case ok && e.now().Before(ent.expires):
			return ent.rec, nil
		case ok:
			e.mu.Lock()
			e.sweep(e.now()) // an expired card goes as soon as it is asked for
			e.mu.Unlock()
			return Record{}, ErrNotFound
		}
	}
	rec, err := e.Vault.Get(ctx, tenant, token)
	if e.Shared != nil && errors.Is(err, ErrNotFound) {
		return e.Shared.GetShortLived(ctx, tenant, token)
	}
	return rec, err
}

// Delete implements Vault: a short-lived record is forgotten at once.
func (e *ShortLived) Delete(ctx context.Context, tenant, token string) error {
	if e.Shared != nil {
		e.mu.Lock()
		e.remove(key(tenant, token))
		e.mu.Unlock()
		if err := e.Shared.DeleteShortLived(ctx, tenant, token); !errors.Is(err, ErrNotFound) {
			return err
		}
		return e.Vault.Delete(ctx, tenant, token)
	}
	e.mu.Lock()
	ok := e.remove(key(tenant, token))
	e.mu.Unlock()
	if ok {
		return nil
	}
	return e.Vault.Delete(ctx, tenant, token)
}

// Invalidate implements Invalidator for the vault underneath.
func (e *ShortLived) Invalidate(tenant, token string) { Invalidate(e.Vault, tenant, token) }

// PutInUnit implements UnitWriter for the vault underneath: short-lived
// cards are put with PutShortLived, never in a unit.
func (e *ShortLived) PutInUnit(ctx context.Context, unit *Unit, rec Record) (Record, bool, error) {
	return Put(ctx, e.Vault, unit, rec)
}

// UpdateInUnit implements UnitWriter for the vault underneath.
func (e *ShortLived) UpdateInUnit(ctx context.Context, unit *Unit, rec Record) (Record, error) {
	return Update(ctx, e.Vault, unit, rec)
}

// Interface guards.
var (
	_ Vault       = (*ShortLived)(nil)
	_ Invalidator = (*ShortLived)(nil)
	_ UnitWriter  = (*ShortLived)(nil)
)
