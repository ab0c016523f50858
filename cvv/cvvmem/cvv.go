// Package cvvmem is the embedded CVV store: CVVs held in process memory only.
package cvvmem

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/cvv"
)

// DefaultMaxHeld is how many CVVs a Store holds at most unless told
// otherwise. At about 50 bytes of Go heap per held CVV (BenchmarkHeldBytes:
// 49 B) it is some 5 MB when full: 100,000 CVVs is 111 new cards a second,
// every second, for a 15-minute TTL, far more than a payment gateway sees,
// yet small enough that a flood of new cards cannot take the process's
// memory.
const DefaultMaxHeld = 100_000

// MaxCVVLength is the longest value held: a card verification value is 3
// digits, or 4 for American Express (card.CVVLength).
const MaxCVVLength = 4

// Store is the embedded cvv.Store: a map in process memory with a janitor
// that wipes expired entries, so a CVV does not outlive its TTL even if nobody
// asks for it again. It holds at most max CVVs, and at most perTenant of any
// one tenant's (share.go); past either new ones are refused (cvv.ErrFull)
// and counted, and none held is ever dropped for them.
//
// Each entry is small and fixed: each tenant's map goes from a 128-bit hash
// of tenant and token to a slot of a slab shared by all, and the slot holds
// the CVV's digits and its expiry. A map per tenant makes the tenant's count
// its map's length, kept right by the same inserts and deletes that hold and
// wipe CVVs, with nothing added to each entry. The digits live only in the slab, wiped in place when taken
// or expired, and the slab, when it grows, is copied and the old one wiped,
// so the map's own growth never leaves a CVV behind in freed memory.
type Store struct {
	mu        sync.Mutex
	tenants   map[string]tenantIndex // each tenant's held CVVs
	n         int                    // CVVs held, all tenants
	slab      []heldCVV
	free      []uint32 // slots of slab[:len] not in use
	max       int
	perTenant int       // a tenant's share; 0 is no share (max)
	swept     time.Time // when a full store last swept on a put
	refused   atomic.Uint64
	held      atomic.Int64 // n, read without the lock
	now       func() time.Time
	stop      chan struct{}
	once      sync.Once
}

// tenantIndex is one tenant's held CVVs: entry key to slot in slab.
type tenantIndex map[entryKey]uint32

// entryKey is SHA-256(len(tenant) ‖ tenant ‖ token) cut to 128 bits: a fixed
// 16 bytes in place of a string of some 40, and no two tokens meet in it by
// chance (tokens are random; 2^-128 per pair).
type entryKey [16]byte

// heldCVV is one CVV: its digits, how many, and its expiry (Unix nanoseconds).
type heldCVV struct {
	expires int64
	value   [MaxCVVLength]byte
	n       uint8
}

// New starts a Store holding up to DefaultMaxHeld CVVs whose janitor runs
// every sweep interval; call Close to stop it.
func New(sweep time.Duration) *Store { return NewLimit(sweep, DefaultMaxHeld) }

// NewLimit is New holding up to limit CVVs (at least 1).
func NewLimit(sweep time.Duration, limit int) *Store {
	m := &Store{tenants: make(map[string]tenantIndex), now: time.Now, stop: make(chan struct{}), max: max(limit, 1)}
	go m.janitor(sweep)
	return m
}

// SetMax changes how many CVVs the store holds at most (at least 1). CVVs
// held beyond a lowered bound stay until taken or expired; new ones wait
// for room.
func (m *Store) SetMax(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.max = max(n, 1)
}

// Cap is how many CVVs the store holds at most.
func (m *Store) Cap() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.max
}

// Refused counts the CVVs refused because the store was full, since it
// started.
func (m *Store) Refused() uint64 { return m.refused.Load() }

func cvvKey(tenant, token string) entryKey {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(tenant)))])
	h.Write([]byte(tenant))
	h.Write([]byte(token))
	var sum [sha256.Size]byte
	var k entryKey
	copy(k[:], h.Sum(sum[:0]))
	return k
}

// PutCVV implements cvv.Store. A CVV for a token already held replaces the
// old one and always fits (it is counted once); a new one fits while fewer
// than max are held and fewer than the tenant's share are the tenant's
// (expired ones are swept first, at most once a second), else it is
// refused with cvv.ErrFull.
func (m *Store) PutCVV(_ context.Context, tenant, token, value string, ttl time.Duration) error {
	if len(value) > MaxCVVLength {
		return fmt.Errorf("cvv store memory: a CVV of %d characters; at most %d are held", len(value), MaxCVVLength)
	}
	key := cvvKey(tenant, token)
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	slot, ok := m.tenants[tenant][key]
	if !ok {
		if m.fullFor(tenant) && now.Sub(m.swept) >= time.Second {
			m.swept = now
			m.sweepLocked(now)
		}
		if err := m.refuseLocked(tenant); err != nil {
			return err
		}
		idx := m.tenants[tenant]
		if idx == nil {
			idx = make(tenantIndex)
			m.tenants[tenant] = idx
		}
		slot = m.alloc()
		idx[key] = slot
		m.n++
		m.held.Store(int64(m.n))
	}
	e := &m.slab[slot]
	*e = heldCVV{expires: now.Add(ttl).UnixNano(), n: uint8(len(value))}
	copy(e.value[:], value)
	return nil
}

// alloc returns a free slot of the slab, growing it if none is; the caller
// holds mu.
func (m *Store) alloc() uint32 {
	if n := len(m.free); n > 0 {
		slot := m.free[n-1]
		m.free = m.free[:n-1]
		return slot
	}
	if len(m.slab) == cap(m.slab) {
		grown := make([]heldCVV, len(m.slab), max(2*cap(m.slab), 64))
		copy(grown, m.slab)
		clear(m.slab) // no CVV stays behind in the old slab
		m.slab = grown
	}
	m.slab = m.slab[:len(m.slab)+1]
	return uint32(len(m.slab) - 1)
}

// release wipes a slot and frees it, out of its tenant's count; the
// caller holds mu.
func (m *Store) release(idx tenantIndex, key entryKey, slot uint32) {
	m.slab[slot] = heldCVV{}
	delete(idx, key)
	m.free = append(m.free, slot)
	m.n--
	m.held.Store(int64(m.n))
}

// TakeCVV implements cvv.Store.
func (m *Store) TakeCVV(_ context.Context, tenant, token string) (string, bool, error) {
	key := cvvKey(tenant, token)
	now := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := m.tenants[tenant]
	slot, ok := idx[key]
	if !ok {
		return "", false, nil
	}
	e := m.slab[slot]
	m.release(idx, key, slot)
	if now >= e.expires {
		return "", false, nil
	}
	return string(e.value[:e.n]), true, nil
}

// Len reports how many CVVs are held, expired or not; for tests and metrics.
func (m *Store) Len() int { return int(m.held.Load()) }

// Sweep wipes every expired CVV now.
func (m *Store) Sweep() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
}

func (m *Store) sweepLocked(now time.Time) {
	t := now.UnixNano()
	for tenant, idx := range m.tenants {
		for key, slot := range idx {
			if t >= m.slab[slot].expires {
				m.release(idx, key, slot)
			}
		}
		if len(idx) == 0 { // a Go map never shrinks: a tenant's flood leaves with it
			delete(m.tenants, tenant)
		}
	}
	m.compact()
}

// compact gives memory back once the store has emptied after a flood: an
// empty store starts over with no slab (each tenant's emptied map went in
// the sweep).
func (m *Store) compact() {
	if m.n == 0 && cap(m.slab) > 1024 {
		clear(m.slab)
		m.slab, m.free = nil, nil
	}
}

func (m *Store) janitor(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.Sweep()
		case <-m.stop:
			return
		}
	}
}

// Close stops the janitor and wipes every held CVV.
func (m *Store) Close() error {
	m.once.Do(func() { close(m.stop) })
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.slab)
	m.slab, m.free = nil, nil
	clear(m.tenants)
	m.n = 0
	m.held.Store(0)
	return nil
}

// Interface guard.
var _ cvv.Store = (*Store)(nil)
