package network

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/keys/macpool"
	"github.com/tokengate/tokengate/vault"
)

// BuiltinConfig configures the builtin emulator. Map keys are brand names
// (card.Brand strings); a brand present in a map overrides its default, a
// brand absent keeps it.
type BuiltinConfig struct {
	// TokenBINs lists each brand's token BIN ranges (six or eight digits).
	// Each must give numbers of the same brand at every length the brand
	// issues. An empty list makes the brand's cards "card_not_eligible".
	TokenBINs map[string][]string
	// TokenExpiryMonths sets each brand's token lifetime in months after
	// provisioning; 0 means the token expires with the card. Defaults:
	// mastercard 36, every other brand 0.
	TokenExpiryMonths map[string]int
	// ECI sets the two-digit ECI returned with each brand's cryptograms
	// (default "07", as Basis Theory returns).
	ECI map[string]string
	// Key is the 32-byte HMAC key every DPAN, PAR and cryptogram derives
	// from. It is required, and must stay the same for tokens to keep their
	// DPANs: the caller derives it from its keyset.
	Key []byte
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Random supplies token ids and cryptogram nonces; crypto/rand when nil.
	// Any other reader is used under a lock, so it need not be concurrency-safe.
	Random io.Reader
}

// Builtin is the embedded network token service: an in-process emulator of a
// card network's token service (Visa VTS, Mastercard MDES behind a TSP) that
// issues Luhn-valid DPANs from network-token BINs, stable PARs and fresh
// cryptograms. Its state lives in a StateStore; it is safe for concurrent use.
type Builtin struct {
	macs   *macpool.Pool // HMAC-SHA256 under the configured Key (derive.go)
	kid    string
	cfg    resolvedConfig
	now    func() time.Time
	random io.Reader
	store  StateStore

	cache     cache
	counter   atomic.Uint64
	provision sync.Mutex               // guards reserved and pending, so two provisions never claim the same id or DPAN
	reserved  map[string]struct{}      // ids and DPAN index keys claimed but not yet saved
	pending   map[string]*pendingToken // tokens of units not ended yet, by id (see pending.go)
	write     sync.Mutex               // serializes SetStatus's read-modify-write

	idempotency [idempotencyStripes]sync.Mutex // see lockIdempotency
	idempotent  *expirable.LRU[string, idempotencyEntry]
}

// NewBuiltin checks cfg, fills its defaults and returns an emulator keeping
// its state in store.
func NewBuiltin(cfg BuiltinConfig, store StateStore) (*Builtin, error) {
	if store == nil {
		return nil, errors.New("builtin network token service: a state store is required")
	}
	if len(cfg.Key) != sha256.Size {
		return nil, fmt.Errorf("builtin network token service: key must be %d bytes, got %d", sha256.Size, len(cfg.Key))
	}
	rc, err := resolve(cfg)
	if err != nil {
		return nil, fmt.Errorf("builtin network token service: %w", err)
	}
	b := &Builtin{
		reserved: map[string]struct{}{},
		pending:  map[string]*pendingToken{},
		macs:     macpool.New(cfg.Key),
		cfg:      rc,
		now:      cfg.Now,
		random:   cfg.Random,
		store:    store,
		cache:    cache{m: map[string]*cached{}},

		idempotent: newIdempotencyCache(),
	}
	b.kid = keyID(b.macs)
	if b.now == nil {
		b.now = time.Now
	}
	if b.random == nil {
		b.random = rand.Reader
	} else {
		b.random = &lockedReader{r: b.random}
	}
	return b, nil
}

// SupportsBrand reports whether the brand has token BINs here.
func (b *Builtin) SupportsBrand(brand string) bool { return len(b.cfg.bins[card.Brand(brand)]) > 0 }

// Name returns "builtin".
func (b *Builtin) Name() string { return "builtin" }

// maxProvisionAttempts bounds the retries when a fresh id or DPAN is taken.
const maxProvisionAttempts = 8

// Provision validates the card (card.Validate, expiry, CVV when given),
// refuses brands without token BINs and the Basis Theory test cards with their
// documented outcome, then issues a new ACTIVE token. A request whose
// IdempotencyKey an earlier one used gets that request's token back while it
// is not deleted (keys are remembered for a day, in memory). Refusals are
// *Error; invalid card data is a wrapped *card.Error. Neither holds card
// data.
func (b *Builtin) Provision(ctx context.Context, req ProvisionRequest) (Token, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, err
	}
	now := b.now()
	pan := card.Normalize(req.PAN)
	brand, err := card.Validate(pan)
	if err != nil {
		return Token{}, wrap(err)
	}
	if req.Brand != "" && req.Brand != string(brand) {
		return Token{}, &Error{Code: CodeBrandMismatch, Message: "Card Brand Does Not Match Card Number"}
	}
	if err := card.ValidateExpiry(req.ExpMonth, req.ExpYear, now.UTC()); err != nil {
		return Token{}, wrap(err)
	}
	if req.CVV != "" {
		if err := card.ValidateCVV(req.CVV, brand); err != nil {
			return Token{}, wrap(err)
		}
	}
	bins := b.cfg.bins[brand]
	if len(bins) == 0 {
		return Token{}, errNotEligible()
	}
	if e := testCardOutcome(pan); e != nil {
		return Token{}, e
	}
	idemKey := b.idempotencyKey(req)
	if idemKey != "" {
		defer b.lockIdempotency(idemKey)()
		if tok, ok, err := b.replay(ctx, idemKey, pan, req.Unit); err != nil || ok {
			return tok, err
		}
	}

	expMonth, expYear := tokenExpiry(req.ExpMonth, req.ExpYear, b.cfg.months[brand], now)
	st := tokenState{
		V:        1,
		Brand:    string(brand),
		Length:   len(pan),
		KeyID:    b.kid,
		ExpMonth: expMonth,
		ExpYear:  expYear,
		PAR:      derivePAR(b.macs, parPrefixes[brand], pan),
		Status:   StatusActive,
		Created:  now.UTC(),
		Updated:  now.UTC(),
	}
	dpan, err := b.save(ctx, &st, bins, pan, req.Unit)
	if err != nil {
		return Token{}, err
	}
	e := &cached{st: st, dpan: dpan, expires: now.Add(cacheTTL)}
	b.cache.put(e)
	if idemKey != "" {
		b.remember(idemKey, st.ID, pan)
	}
	return e.token(), nil
}

// save gives st a fresh id and token BIN and saves it with its DPAN's
// reservation, returning the DPAN. The id and DPAN are claimed under a lock
// but written outside it: the write waits for the disk, and holding the lock
// through it would let only one new card per fsync through the whole
// process. A store shared with other processes (a Creator) refuses a clash
// itself, and a refused write draws again.
//
// Given a unit, the entries are held in it (for a Creator, created at once:
// the Create is the clash check) and the claims last until the unit ends,
// since only a durable write makes the DPAN taken for the next allocate
// (see vault.Unit). Without one they end once the write returned.
func (b *Builtin) save(ctx context.Context, st *tokenState, bins []string, pan string, unit *vault.Unit) (string, error) {
	creator, shared := b.store.(Creator) // nil when not shared
	for range maxProvisionAttempts {
		dpan, idx, err := b.allocate(ctx, st, bins, pan, !shared)
		if err != nil {
			return "", err
		}
		entries, created, err := b.writeState(ctx, st, idx, unit, creator)
		if err == nil && created && unit != nil {
			if _, held := creator.(HeldCreator); shared && !held {
				entries = nil // durable already: nothing for another unit to hold
			}
			_, create := b.store.(RecordCreator)
			err = b.holdUntilEnd(unit, pendingToken{idx: idx, entries: entries, create: create, tok: (&cached{st: *st, dpan: dpan}).token()})
			if err == nil {
				return dpan, nil
			}
		}
		b.release(st.ID, idx)
		if err != nil {
			return "", err
		}
		if created {
			return dpan, nil
		}
	}
	return "", wrap(errors.New("could not allocate an unused token number"))
}

// writeState stores (or, in a unit, holds) st and its DPAN's reservation under
// idx, and returns what it wrote; created is false when a shared store
// (creator) refused a clash.
func (b *Builtin) writeState(ctx context.Context, st *tokenState, idx string, unit *vault.Unit, creator Creator) (entries map[string][]byte, created bool, err error) {
	data, err := encodeState(st)
	if err != nil {
		return nil, false, wrap(err)
	}
	entries = map[string][]byte{st.ID: data, idx: encodeReservation(st.ID)}
	held, _ := creator.(HeldCreator)
	withRecord, _ := b.store.(RecordCreator)
	switch {
	case withRecord != nil && unit != nil:
		// Created by the card's record write (or the unit's Commit),
		// which refuses a clash: nothing to write now.
		created, err = true, unit.HoldNew(withRecord, entries)
	case held != nil && unit != nil:
		// Created now (the clash check) but made durable by the unit: held
		// in it too, so its Commit saves them if no record write did.
		if created, err = held.CreateHeld(ctx, entries); err == nil && created {
			err = unit.Hold(b.store, entries)
		}
	case creator != nil:
		created, err = creator.Create(ctx, entries)
	case unit != nil:
		created, err = true, unit.Hold(b.store, entries)
	default:
		created, err = true, b.store.SaveAll(ctx, entries)
	}
	if err != nil {
		return nil, false, wrap(fmt.Errorf("saving token state: %w", err))
	}
	return entries, created, nil
}

// allocate picks a fresh id and token BIN for st and claims the id and the
// resulting DPAN in memory until the caller has saved them (release). A clash
// (an id already used, or a DPAN already issued: a 16-digit DPAN has nine
// derived digits, so clashes become likely after some tens of thousands of
// tokens per BIN) just draws a new id. check says whether to look in the
// store for a clash (not needed when the store refuses clashes itself).
//
// Only the in-memory claim is made under the lock: the derivations and the
// store lookup run beside other provisions (a claim made first keeps any
// other from taking the same id or DPAN meanwhile).
func (b *Builtin) allocate(ctx context.Context, st *tokenState, bins []string, pan string, check bool) (dpan, idx string, err error) {
	for range maxProvisionAttempts {
		id, raw, err := newUUID(b.random, b.now())
		if err != nil {
			return "", "", wrap(err)
		}
		bin := pickBIN(bins, pan, raw[15])
		if bin == "" {
			return "", "", errNotEligible()
		}
		dpan := deriveDPAN(b.macs, id, bin, len(pan))
		idx := dpanIndexKey(b.macs, dpan)
		if !b.claim(id, idx) {
			continue
		}
		if check {
			taken, err := b.exists(ctx, id, idx)
			if err != nil || taken {
				b.release(id, idx)
				if err != nil {
					return "", "", err
				}
				continue
			}
		}
		st.ID, st.TokenBIN = id, bin
		return dpan, idx, nil
	}
	return "", "", wrap(errors.New("could not allocate an unused token number"))
}

// claim claims keys (an id and a DPAN index key) unless one is claimed already.
func (b *Builtin) claim(keys ...string) bool {
	b.provision.Lock()
	defer b.provision.Unlock()
	for _, k := range keys {
		if _, ok := b.reserved[k]; ok {
			return false
		}
	}
	for _, k := range keys {
		b.reserved[k] = struct{}{}
	}
	return true
}

// release forgets claims once they are saved (or failed to be).
func (b *Builtin) release(keys ...string) {
	b.provision.Lock()
	defer b.provision.Unlock()
	for _, k := range keys {
		delete(b.reserved, k)
	}
}

// Exister is a StateStore that tells whether any of several ids holds data
// in one read (one read transaction instead of one per id).
type Exister interface {
	Exists(ctx context.Context, ids ...string) (bool, error)
}

// exists reports whether any of the store keys holds data.
func (b *Builtin) exists(ctx context.Context, keys ...string) (bool, error) {
	if e, ok := b.store.(Exister); ok {
		taken, err := e.Exists(ctx, keys...)
		if err != nil {
			return false, wrap(fmt.Errorf("loading token state: %w", err))
		}
		return taken, nil
	}
	for _, k := range keys {
		d, err := b.store.Load(ctx, k)
		if err != nil {
			return false, wrap(fmt.Errorf("loading token state: %w", err))
		}
		if d != nil {
			return true, nil
		}
	}
	return false, nil
}

// Get returns the token's details and status. A SUSPENDED token keeps its
// DPAN (it comes back); a DELETED one is returned without DPAN, since it must
// never be used again. An unknown id gives a wrapped ErrNotFound.
func (b *Builtin) Get(ctx context.Context, id string) (Token, error) {
	e, err := b.lookup(ctx, id)
	if err != nil {
		return Token{}, err
	}
	return e.token(), nil
}

// SetStatus moves a token through its lifecycle: ACTIVE and SUSPENDED into
// each other, anything into DELETED. DELETED is final: leaving it returns a
// wrapped ErrDeleted (deleting again is a no-op). An unknown status is an
// *Error with CodeInvalidStatus. The change is saved to the store and takes
// effect in this process immediately.
func (b *Builtin) SetStatus(ctx context.Context, id, status string) error {
	switch status {
	case StatusActive, StatusSuspended, StatusDeleted:
	default:
		return &Error{Code: CodeInvalidStatus, Message: "Invalid Token Status"}
	}
	b.write.Lock()
	defer b.write.Unlock()
	st, err := b.load(ctx, id) // from the store: the cache may be stale
	if err != nil {
		return err
	}
	now := b.now()
	if st.Status == status || st.Status == StatusDeleted {
		b.cache.update(b.entry(st, now)) // what the store says is news to a stale cache
		if st.Status == status {
			return nil
		}
		return fmt.Errorf("builtin network token service: cannot change status: %w", ErrDeleted)
	}
	st.Status, st.Updated = status, now.UTC()
	data, err := json.Marshal(st)
	if err != nil {
		return wrap(err)
	}
	if err := b.store.Save(ctx, id, data); err != nil {
		return wrap(fmt.Errorf("saving token state: %w", err))
	}
	b.cache.update(b.entry(st, now))
	return nil
}

// Forget drops what this process remembers of a token's state, so its next
// use reads the store: for a change another process sharing the store made
// (another gateway on the same database). Forget("") drops every state.
func (b *Builtin) Forget(id string) { b.cache.forget(id) }

func wrap(err error) error { return fmt.Errorf("builtin network token service: %w", err) }

// lockedReader serializes reads from a reader that may not be safe for
// concurrent use (a test's deterministic source, say).
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// Interface guard.
var _ Service = (*Builtin)(nil)
