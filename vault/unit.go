package vault

import (
	"context"
	"errors"
	"sync"
)

// Unit is a unit of work: the writes one card causes in other components'
// stores (the built-in network token service's token state and its DPAN
// reservation), held so that they become durable together with the card's
// record, and the claims those components made in memory so that no one
// else takes the same key meanwhile (a token id, a DPAN). It is passed
// explicitly to every call that joins it (network.ProvisionRequest.Unit,
// Put and Update below); nothing finds it in a context.
//
// A claim cannot end before its write is durable. The built-in service
// checks that a new DPAN is free by asking its store (Load) and its own
// claims; a held write is in neither the store nor, once released, the
// claims. If the claim on DPAN X ended when the write was merely held,
// another card provisioned in that window would find X free everywhere and
// be issued X too: two cards, one network token number. So claims are
// released only by Commit, after the writes are on disk (where Load sees
// them), or by Rollback, after they are dropped (when X is truly free
// again). Every claim registered with OnEnd follows that rule, whatever the
// store.
//
// A vault that keeps other components' state in the same durable file (the
// bbolt one) writes a unit's held writes in the transaction of the record
// that Put or Update (with the unit) commits: one fsync per new card
// instead of two, and no token state on disk for a card never stored. Its
// transaction may be replayed (group commit retries a failed group write by
// write), so the writes stay held until the transaction is durable (Taken).
//
// A Unit is safe for concurrent use; it ends once (Commit or Rollback), and
// ending it again does nothing.
type Unit struct {
	mu    sync.Mutex
	held  []*Held
	onEnd []func(committed bool)
	ended bool
}

// Saver is a key-value store whose writes a Unit can hold: SaveAll stores
// every entry in one atomic, durable write (network.StateStore is one).
type Saver interface {
	SaveAll(ctx context.Context, entries map[string][]byte) error
}

// Held is one held write: entries for Store. With Create, none of the
// entries has been written yet and none may exist: the write creates them
// and refuses a clash (HoldNew).
type Held struct {
	Store   Saver
	Entries map[string][]byte
	Create  bool
}

// Creator is a Saver several processes share, whose held writes are
// created rather than saved over (HoldNew): Create stores every entry in
// one atomic, durable write if none of the ids holds data yet, otherwise
// nothing, and returns false (network.Creator is one).
type Creator interface {
	Saver
	Create(ctx context.Context, entries map[string][]byte) (bool, error)
}

// ErrStateTaken means a held write's entry, held to be created (HoldNew),
// exists already in its store: another process created it meanwhile. The
// write and whatever was to be stored with it were not made; the caller
// gives up the unit and draws its entries anew.
var ErrStateTaken = errors.New("vault: a held entry exists already in its store")

// ErrUnitEnded answers Hold and OnEnd on a unit already committed or
// rolled back: the write would never be made durable, or the claim never
// released.
var ErrUnitEnded = errors.New("vault: the unit of work has ended")

// NewUnit starts a unit of work. The caller ends it with Commit or
// Rollback (a deferred Rollback after Commit does nothing).
func NewUnit() *Unit { return &Unit{} }

// Hold keeps entries for store until a record write takes them or Commit
// saves them. The entries are copied: the caller may reuse its buffers.
func (u *Unit) Hold(store Saver, entries map[string][]byte) error {
	return u.hold(&Held{Store: store, Entries: entries})
}

// HoldNew is Hold for entries not yet in store that must not be there: a
// backend that can (a UnitWriter over store) creates them in the
// transaction of the card's record, in the same round trip, and that
// record is not stored if one exists (ErrStateTaken); otherwise Commit
// creates them. Nothing is written before then: a unit rolled back leaves
// nothing in store.
func (u *Unit) HoldNew(store Creator, entries map[string][]byte) error {
	return u.hold(&Held{Store: store, Entries: entries, Create: true})
}

func (u *Unit) hold(h *Held) error {
	entries := h.Entries
	copied := make(map[string][]byte, len(entries))
	for id, data := range entries {
		copied[id] = append([]byte(nil), data...)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ended {
		return ErrUnitEnded
	}
	h.Entries = copied
	u.held = append(u.held, h)
	return nil
}

// OnEnd registers f to run when the unit ends: after its writes are durable
// (committed true) or dropped (false). Components release their claims in
// it.
func (u *Unit) OnEnd(f func(committed bool)) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ended {
		return ErrUnitEnded
	}
	u.onEnd = append(u.onEnd, f)
	return nil
}

// Pending returns the held writes whose store mine accepts, for a backend
// to write into a record's transaction. They stay held (a replayed
// transaction writes them again) until the backend calls Taken with them,
// once that transaction is durable.
func (u *Unit) Pending(mine func(Saver) bool) []*Held {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []*Held
	for _, h := range u.held {
		if mine(h.Store) {
			out = append(out, h)
		}
	}
	return out
}

// Taken forgets writes a backend has made durable (from Pending).
func (u *Unit) Taken(done []*Held) {
	if len(done) == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	kept := u.held[:0]
	for _, h := range u.held {
		taken := false
		for _, d := range done {
			taken = taken || h == d
		}
		if !taken {
			kept = append(kept, h)
		}
	}
	clear(u.held[len(kept):])
	u.held = kept
}

// Commit durably saves, through each store's own SaveAll (Create for
// entries held with HoldNew), whatever no record write took, and only then
// releases the claims. If a save fails (or a create finds an entry there:
// ErrStateTaken) the rest is dropped, the claims are released as
// abandoned, and the error is returned: the caller must not hand out what
// the unit was for.
func (u *Unit) Commit(ctx context.Context) error {
	held, ok := u.end()
	if !ok {
		return nil
	}
	ctx = context.WithoutCancel(ctx) // a half-saved unit helps no one
	var err error
	for _, h := range held {
		if err = save(ctx, h); err != nil {
			break
		}
	}
	u.release(err == nil)
	return err
}

func save(ctx context.Context, h *Held) error {
	if !h.Create {
		return h.Store.SaveAll(ctx, h.Entries)
	}
	c, ok := h.Store.(Creator)
	if !ok {
		return errors.New("vault: a held entry to create has a store that cannot create")
	}
	created, err := c.Create(ctx, h.Entries)
	if err == nil && !created {
		err = ErrStateTaken
	}
	return err
}

// Created marks held writes to create (HoldNew) as created: a backend
// wrote them ahead of the record write that would have (see
// UpdateInUnit), and they are to be taken, or saved, like Hold's.
func (u *Unit) Created(done []*Held) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, h := range done {
		h.Create = false
	}
}

// Rollback drops the held writes and releases the claims.
func (u *Unit) Rollback() {
	if _, ok := u.end(); ok {
		u.release(false)
	}
}

// end marks the unit ended and takes its held writes; ok is false if it
// had ended already.
func (u *Unit) end() (held []*Held, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ended {
		return nil, false
	}
	u.ended = true
	held, u.held = u.held, nil
	return held, true
}

func (u *Unit) release(committed bool) {
	u.mu.Lock()
	fns := u.onEnd
	u.onEnd = nil
	u.mu.Unlock()
	for _, f := range fns {
		f(committed)
	}
}

// UnitWriter is implemented by a vault that can make a unit's held writes
// durable in the same transaction as a record (see Unit). Cache and
// ShortLived forward it to the vault underneath.
type UnitWriter interface {
	// PutInUnit is Put that also commits the unit's writes for this
	// vault's stores when it creates the record (never when the card was
	// there already, or on an error: they stay held). A write to create
	// (HoldNew) that finds its entry there fails the put with
	// ErrStateTaken, and the record is not stored.
	PutInUnit(ctx context.Context, unit *Unit, rec Record) (Record, bool, error)
	// UpdateInUnit is Update that also commits the unit's writes for this
	// vault's stores when the update succeeds.
	UpdateInUnit(ctx context.Context, unit *Unit, rec Record) (Record, error)
}

// Put stores rec in v, with unit's held writes if v can commit them
// together (UnitWriter); otherwise, or with a nil unit, it is v.Put and the
// writes stay held for Commit.
func Put(ctx context.Context, v Vault, unit *Unit, rec Record) (Record, bool, error) {
	if uw, ok := v.(UnitWriter); ok && unit != nil {
		return uw.PutInUnit(ctx, unit, rec)
	}
	return v.Put(ctx, rec)
}

// Update is Put's counterpart for v.Update.
func Update(ctx context.Context, v Vault, unit *Unit, rec Record) (Record, error) {
	if uw, ok := v.(UnitWriter); ok && unit != nil {
		return uw.UpdateInUnit(ctx, unit, rec)
	}
	return v.Update(ctx, rec)
}
