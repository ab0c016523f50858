package pgvault

import (
	"context"
	"fmt"

	"github.com/tokengate/tokengate/vault"
)

// A unit of work (vault.Unit) holds the builtin network token service's
// entries for a KV of this database after CreateHeld created them without
// waiting for the disk. The card's record write, a durable commit later in
// the write-ahead log, makes them durable too: PutInUnit and UpdateInUnit
// then take them from the unit with nothing more to write. Held entries
// that no record write took are saved durably by the unit's Commit
// (SaveAll), so they never depend on a write that did not happen.
//
// The builtin service asks for more (KV is a network.RecordCreator): in a
// unit it holds its entries without writing them (HoldNew), and PutInUnit
// creates them in the record's INSERT itself, one statement in the
// record's group commit: a new card makes two round trips (the lookup and
// this), not three, and a card not stored leaves nothing.

// pendingFor returns unit's held writes for KVs of this database.
func (v *Vault) pendingFor(unit *vault.Unit) []*vault.Held {
	if unit == nil {
		return nil
	}
	return unit.Pending(func(s vault.Saver) bool {
		switch kv := s.(type) {
		case *KV:
			return kv.v == v
		case WatchedKV:
			return kv.KV.v == v
		}
		return false
	})
}

// PutInUnit implements vault.UnitWriter: Put; a record it creates was
// committed durably after the unit's held entries (CreateHeld), which are
// durable with it and leave the unit. Entries held to be created
// (HoldNew, what CreatesWithRecord asks for) are created by the record's
// own statement, in its round trip.
func (v *Vault) PutInUnit(ctx context.Context, unit *vault.Unit, rec vault.Record) (vault.Record, bool, error) {
	held := v.pendingFor(unit) // before the record's commit: only what preceded it
	// The entries of one KV are created with the record (a card's are all
	// the builtin service's); any of another are created first, as
	// UpdateInUnit does.
	var create, other []*vault.Held
	for _, h := range held {
		switch {
		case !h.Create:
		case len(create) == 0 || kvOf(h.Store).name == kvOf(create[0].Store).name:
			create = append(create, h)
		default:
			other = append(other, h)
		}
	}
	if err := v.createFirst(ctx, unit, other); err != nil {
		return vault.Record{}, false, err
	}
	stored, created, err := v.put(ctx, rec, create)
	if err == nil && created {
		unit.Taken(held)
	}
	return stored, created, err
}

// UpdateInUnit implements vault.UnitWriter: Update, after which the
// unit's held entries are durable as with PutInUnit. Entries held to be
// created are created first (CreateHeld: an existing one refuses the
// update with vault.ErrStateTaken).
func (v *Vault) UpdateInUnit(ctx context.Context, unit *vault.Unit, rec vault.Record) (vault.Record, error) {
	held := v.pendingFor(unit)
	if err := v.createFirst(ctx, unit, held); err != nil {
		return vault.Record{}, err
	}
	stored, err := v.Update(ctx, rec)
	if err == nil {
		unit.Taken(held)
	}
	return stored, err
}

// createFirst creates the entries of held that are to be created
// (CreateHeld: durable with the record write that follows), ahead of it.
func (v *Vault) createFirst(ctx context.Context, unit *vault.Unit, held []*vault.Held) error {
	for _, h := range held {
		if !h.Create {
			continue
		}
		created, err := kvOf(h.Store).CreateHeld(ctx, h.Entries)
		if err != nil {
			return err
		}
		if !created {
			return fmt.Errorf("pgvault: %w", vault.ErrStateTaken)
		}
		unit.Created([]*vault.Held{h})
	}
	return nil
}

// kvOf returns the KV behind a store pendingFor accepted.
func kvOf(s vault.Saver) *KV {
	if w, ok := s.(WatchedKV); ok {
		return w.KV
	}
	return s.(*KV)
}

// kvColumns returns the name, ids and data of held entries of one KV, as
// insertRecordCreating takes them.
func kvColumns(name string, held []*vault.Held) []any {
	var ids []string
	var data [][]byte
	for _, h := range held {
		for id, d := range h.Entries {
			ids, data = append(ids, id), append(data, d)
		}
	}
	return []any{name, ids, data}
}

// CreatesWithRecord implements network.RecordCreator: a unit's entries
// held to be created are created by the card's record write (PutInUnit).
func (kv *KV) CreatesWithRecord() {}

// Interface guard.
var _ vault.UnitWriter = (*Vault)(nil)
