package pgvault

import (
	"context"

	"github.com/tokengate/tokengate/vault"
)

// A unit of work (vault.Unit) holds the builtin network token service's
// entries for a KV of this database after CreateHeld created them without
// waiting for the disk. The card's record write, a durable commit later in
// the write-ahead log, makes them durable too: PutInUnit and UpdateInUnit
// then take them from the unit with nothing more to write. Held entries
// that no record write took are saved durably by the unit's Commit
// (SaveAll), so they never depend on a write that did not happen.

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
// durable with it and leave the unit.
func (v *Vault) PutInUnit(ctx context.Context, unit *vault.Unit, rec vault.Record) (vault.Record, bool, error) {
	held := v.pendingFor(unit) // before the record's commit: only what preceded it
	stored, created, err := v.Put(ctx, rec)
	if err == nil && created {
		unit.Taken(held)
	}
	return stored, created, err
}

// UpdateInUnit implements vault.UnitWriter: Update, after which the
// unit's held entries are durable as with PutInUnit.
func (v *Vault) UpdateInUnit(ctx context.Context, unit *vault.Unit, rec vault.Record) (vault.Record, error) {
	held := v.pendingFor(unit)
	stored, err := v.Update(ctx, rec)
	if err == nil {
		unit.Taken(held)
	}
	return stored, err
}

// Interface guard.
var _ vault.UnitWriter = (*Vault)(nil)
