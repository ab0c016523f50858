package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tokengate/tokengate/card"
)

// StateStore persists the builtin emulator's token state, one JSON document
// per token id. The embedded deployment passes a bbolt-backed store, so tokens
// outlive restarts and config reloads; NewMemoryStore serves tests and
// throwaway setups. Implementations must be safe for concurrent use.
type StateStore interface {
	// Load returns the data saved under id, or nil and a nil error when
	// there is none.
	Load(ctx context.Context, id string) ([]byte, error)
	// Save stores data under id, replacing what was there. The store may
	// keep data after Save returns: callers never modify it afterwards.
	Save(ctx context.Context, id string, data []byte) error
	// SaveAll stores every entry in one atomic, durable write: provisioning
	// writes a token and its number's reservation together, and one commit
	// instead of two halves the time a new card waits for the disk.
	SaveAll(ctx context.Context, entries map[string][]byte) error
}

// Creator is implemented by a StateStore several processes share (several
// gateways on one PostgreSQL database). A process's own claims and
// existence checks cannot see the tokens the others are issuing at the same
// moment, so such a store refuses a clash itself.
type Creator interface {
	// Create stores every entry in one atomic, durable write if none of
	// the ids holds data yet; otherwise it stores nothing and returns false.
	Create(ctx context.Context, entries map[string][]byte) (bool, error)
}

// HeldCreator is a Creator that can also create entries a unit of work
// holds (vault.Unit): CreateHeld is Create whose durability may wait for
// the store's next durable write, which the unit guarantees: the card's
// record write (PutInUnit, UpdateInUnit) is one, and a Commit that no
// record write preceded saves the held entries durably itself. A new card
// then waits for one durable commit instead of two.
type HeldCreator interface {
	Creator
	CreateHeld(ctx context.Context, entries map[string][]byte) (bool, error)
}

// RecordCreator is a HeldCreator whose vault creates a unit's held entries
// (vault.Unit.HoldNew) in the transaction of the card's record, in the same
// round trip: provisioning in a unit then writes nothing itself, and the
// clash check is the record write's (vault.ErrStateTaken, on which the
// caller provisions again). A new card waits for one round trip to the
// store instead of two, and a card not stored leaves no state behind.
type RecordCreator interface {
	StateStore
	HeldCreator
	CreatesWithRecord()
}

// NewMemoryStore returns a StateStore that keeps everything in process
// memory, lost when the process exits.
func NewMemoryStore() StateStore { return &memoryStore{m: map[string][]byte{}} }

type memoryStore struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func (s *memoryStore) Load(ctx context.Context, id string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.m[id]
	if !ok {
		return nil, nil
	}
	return append([]byte(nil), d...), nil
}

func (s *memoryStore) Save(ctx context.Context, id string, data []byte) error {
	return s.SaveAll(ctx, map[string][]byte{id: data})
}

func (s *memoryStore) SaveAll(ctx context.Context, entries map[string][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, data := range entries {
		s.m[id] = append([]byte(nil), data...)
	}
	return nil
}

// tokenState is everything the emulator knows about a token: enough to
// re-derive the DPAN (token BIN, length, and the id as HMAC input), but never
// the DPAN, the PAN or the CVV themselves. V versions the layout.
type tokenState struct {
	V        int       `json:"v"`
	ID       string    `json:"id"`
	Brand    string    `json:"brand"`
	TokenBIN string    `json:"token_bin"`
	Length   int       `json:"length"`
	KeyID    string    `json:"key_id"`
	ExpMonth string    `json:"exp_month"`
	ExpYear  string    `json:"exp_year"`
	PAR      string    `json:"par"`
	Status   string    `json:"status"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// dpanReservation is what the store holds under a DPAN's index key.
type dpanReservation struct {
	ID string `json:"id"`
}

// cacheTTL bounds how long a token's state is served from memory. Within a
// process SetStatus updates the cache at once; the TTL only bounds how long
// another instance over the same store (the old config during a reload, or
// another node of a shared store) may still see the previous status.
const cacheTTL = 5 * time.Second

// maxCacheEntries caps the cache; past it, expired entries are swept and, if
// that is not enough, the cache starts over.
const maxCacheEntries = 100_000

// minSweepAt is the smallest size at which the cache sweeps its expired
// entries. Above it, the cache sweeps whenever it has doubled since the last
// sweep left it, so it holds about twice what a TTL's worth of new tokens
// adds (rate x cacheTTL), not maxCacheEntries: an expired entry is only
// garbage the collector must mark at every cycle. Each sweep's cost is paid
// for by the puts that doubled the map, so a put stays O(1) on average.
const minSweepAt = 1024

// cached is a token's state with its derived DPAN ("" once deleted).
type cached struct {
	st      tokenState
	dpan    string
	expires time.Time
}

// cache holds token states read from the store. epoch counts status
// changes: a lookup that read the store while SetStatus was changing it must
// not put the older state back over the newer one, so it caches its result
// only if no change happened meanwhile.
type cache struct {
	mu    sync.RWMutex
	m     map[string]*cached
	epoch uint64
	// sweepAt is the size at which putLocked next sweeps expired entries
	// (0 means minSweepAt).
	sweepAt int
}

func (c *cache) get(id string, now time.Time) *cached {
	c.mu.RLock()
	e := c.m[id]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expires) {
		return nil
	}
	return e
}

// snapshot returns the current epoch, to pass to putIfUnchanged.
func (c *cache) snapshot() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// putIfUnchanged caches e unless a status changed since snapshot returned epoch.
func (c *cache) putIfUnchanged(e *cached, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch == epoch {
		c.putLocked(e)
	}
}

// put caches a newly provisioned token, which no lookup can be racing with.
func (c *cache) put(e *cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(e)
}

// update caches e as the newest state of its token (SetStatus).
func (c *cache) update(e *cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.putLocked(e)
}

// forget drops a token's state ("" drops every one), so the next lookup
// reads the store; a lookup racing with it does not put its older read back.
func (c *cache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if id == "" {
		clear(c.m)
		return
	}
	delete(c.m, id)
}

func (c *cache) putLocked(e *cached) {
	if n := len(c.m); n >= maxCacheEntries || n >= max(c.sweepAt, minSweepAt) {
		now := e.expires.Add(-cacheTTL)
		for id, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, id)
			}
		}
		if len(c.m) >= maxCacheEntries {
			clear(c.m)
		}
		c.sweepAt = 2 * len(c.m)
	}
	c.m[e.st.ID] = e
}

// lookup returns the token's state, from the cache when fresh, else from the
// store (and caches it).
func (b *Builtin) lookup(ctx context.Context, id string) (*cached, error) {
	now := b.now()
	if e := b.cache.get(id, now); e != nil {
		return e, nil
	}
	epoch := b.cache.snapshot()
	st, err := b.load(ctx, id)
	if err != nil {
		return nil, err
	}
	e := b.entry(st, now)
	b.cache.putIfUnchanged(e, epoch)
	return e, nil
}

// load reads and checks a token's state from the store.
func (b *Builtin) load(ctx context.Context, id string) (tokenState, error) {
	var st tokenState
	if !isTokenID(id) {
		return st, wrap(ErrNotFound)
	}
	data, err := b.store.Load(ctx, id)
	if err != nil {
		return st, wrap(fmt.Errorf("loading token state: %w", err))
	}
	if data == nil {
		return st, wrap(ErrNotFound)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, wrap(fmt.Errorf("decoding token state: %w", err))
	}
	switch {
	case st.ID != id:
		return st, wrap(errors.New("token state is stored under another id"))
	case st.KeyID != b.kid:
		return st, wrap(errors.New("token was issued under another key: its number cannot be derived"))
	case len(st.TokenBIN) < 6 || st.Length > card.MaxLength || st.Length-len(st.TokenBIN) < 2:
		return st, wrap(errors.New("token state has an impossible token number layout"))
	case st.Status != StatusActive && st.Status != StatusSuspended && st.Status != StatusDeleted:
		return st, wrap(errors.New("token state has an unknown status"))
	}
	return st, nil
}

// entry builds a cache entry, deriving the DPAN unless the token is deleted.
func (b *Builtin) entry(st tokenState, now time.Time) *cached {
	e := &cached{st: st, expires: now.Add(cacheTTL)}
	if st.Status != StatusDeleted {
		e.dpan = deriveDPAN(b.macs, st.ID, st.TokenBIN, st.Length)
	}
	return e
}

func (e *cached) token() Token {
	return Token{
		ID:       e.st.ID,
		DPAN:     e.dpan,
		ExpMonth: e.st.ExpMonth,
		ExpYear:  e.st.ExpYear,
		PAR:      e.st.PAR,
		Status:   e.st.Status,
		Brand:    e.st.Brand,
	}
}
