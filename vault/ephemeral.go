package vault

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Ephemeral keeps short-lived records beside a vault, in memory only: card
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
type Ephemeral struct {
	Vault
	// Shared, when set, keeps the short-lived cards instead of memory.
	Shared ShortLivedStore

	mu      sync.RWMutex
	entries map[string]ephemeralEntry // tenant \x00 token
	shared  map[string]time.Time      // expiries of the cards this process put in Shared
	held    atomic.Int64              // len(entries), read without the lock
	now     func() time.Time
	max     int
}

type ephemeralEntry struct {
	rec     Record
	expires time.Time
}

// EphemeralMark is the Metadata key of every short-lived record, so the
// served APIs can tell an alias for one payment from a saved card: they
// never change a token's state, or reissue, through one.
const EphemeralMark = "tokengate.ephemeral"

// IsEphemeral reports whether rec is a short-lived record.
func IsEphemeral(rec Record) bool {
	_, ok := rec.Metadata[EphemeralMark]
	return ok
}

// MaxEphemeral bounds how many short-lived cards are held at once. They can
// be created without an API key (Juspay's /card/tokenize is called from
// browsers), so memory must not grow with whatever a caller sends: past the
// bound new ones are refused (ErrEphemeralFull), never an old one dropped.
const MaxEphemeral = 100_000

// ErrEphemeralFull means MaxEphemeral short-lived cards are held already.
var ErrEphemeralFull = errors.New("vault: too many short-lived cards held; try again later")

// NewEphemeral puts an ephemeral layer over v, holding up to MaxEphemeral
// cards.
func NewEphemeral(v Vault) *Ephemeral { return NewEphemeralLimit(v, MaxEphemeral) }

// NewEphemeralLimit is NewEphemeral holding up to max cards.
func NewEphemeralLimit(v Vault, max int) *Ephemeral {
	return &Ephemeral{Vault: v, entries: map[string]ephemeralEntry{}, now: time.Now, max: max}
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

// PutEphemeral keeps rec for ttl. Its token must be new: ephemeral tokens
// are random, and the caller draws them.
func (e *Ephemeral) PutEphemeral(ctx context.Context, rec Record, ttl time.Duration) error {
	now := e.now()
	rec.CreatedAt, rec.UpdatedAt, rec.Version = now.UTC(), now.UTC(), 1
	if e.Shared != nil {
		return e.putShared(ctx, rec, now, ttl)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.entries) >= e.max {
		e.sweep(now)
		if len(e.entries) >= e.max {
			return ErrEphemeralFull
		}
	}
	e.entries[key(rec.Tenant, rec.Token)] = ephemeralEntry{rec: rec, expires: now.Add(ttl)}
	e.held.Store(int64(len(e.entries)))
	return nil
}

// putShared puts rec in the shared store. What a process puts there counts
// against its bound as if it were held here, so a shared store cannot be
// filled by one gateway's unauthenticated callers either: a deployment of n
// gateways holds at most n × max.
func (e *Ephemeral) putShared(ctx context.Context, rec Record, now time.Time, ttl time.Duration) error {
	k := key(rec.Tenant, rec.Token)
	e.mu.Lock()
	if e.shared == nil {
		e.shared = map[string]time.Time{}
	}
	if len(e.shared) >= e.max {
		for k, expires := range e.shared {
			if !now.Before(expires) {
				delete(e.shared, k)
			}
		}
		if len(e.shared) >= e.max {
			e.mu.Unlock()
			return ErrEphemeralFull
		}
	}
	e.shared[k] = now.Add(ttl)
	e.mu.Unlock()
	if err := e.Shared.PutShortLived(ctx, rec, ttl); err != nil {
		e.mu.Lock()
		delete(e.shared, k)
		e.mu.Unlock()
		return err
	}
	return nil
}

// sweep drops expired entries; the caller holds mu. A full layer sweeps
// before it refuses, and a Get of an expired card sweeps.
func (e *Ephemeral) sweep(now time.Time) {
	for k, ent := range e.entries {
		if !now.Before(ent.expires) {
			delete(e.entries, k)
		}
	}
	e.held.Store(int64(len(e.entries)))
}

// Get implements Vault: a live ephemeral record, else the vault's. Most
// gateways hold none, and then Get costs one atomic load more than the
// vault's.
func (e *Ephemeral) Get(ctx context.Context, tenant, token string) (Record, error) {
	if e.held.Load() > 0 {
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

// Delete implements Vault: an ephemeral record is forgotten at once.
func (e *Ephemeral) Delete(ctx context.Context, tenant, token string) error {
	if e.Shared != nil {
		e.mu.Lock()
		delete(e.shared, key(tenant, token))
		e.mu.Unlock()
		if err := e.Shared.DeleteShortLived(ctx, tenant, token); !errors.Is(err, ErrNotFound) {
			return err
		}
		return e.Vault.Delete(ctx, tenant, token)
	}
	e.mu.Lock()
	_, ok := e.entries[key(tenant, token)]
	delete(e.entries, key(tenant, token))
	e.held.Store(int64(len(e.entries)))
	e.mu.Unlock()
	if ok {
		return nil
	}
	return e.Vault.Delete(ctx, tenant, token)
}

// Invalidate implements Invalidator for the vault underneath.
func (e *Ephemeral) Invalidate(tenant, token string) { Invalidate(e.Vault, tenant, token) }

// BeginUnit implements Units for the vault underneath.
func (e *Ephemeral) BeginUnit(ctx context.Context) context.Context {
	if u, ok := e.Vault.(Units); ok {
		return u.BeginUnit(ctx)
	}
	return ctx
}

// FlushUnit implements Units for the vault underneath.
func (e *Ephemeral) FlushUnit(ctx context.Context) error {
	if u, ok := e.Vault.(Units); ok {
		return u.FlushUnit(ctx)
	}
	return nil
}

// Interface guards.
var (
	_ Vault       = (*Ephemeral)(nil)
	_ Invalidator = (*Ephemeral)(nil)
	_ Units       = (*Ephemeral)(nil)
)
