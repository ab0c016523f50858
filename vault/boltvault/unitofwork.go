package boltvault

import (
	"context"

	"github.com/tokengate/tokengate/vault"
	bolt "go.etcd.io/bbolt"
)

// A unit of work (vault.Unit) lets the writes a request makes to a KV of
// this file (the embedded network token service's state) be committed in
// the same transaction as the card record the request then stores: a new
// card waits for one durable commit instead of two, and a card that is
// never stored leaves no token state behind on disk. Writes for other
// stores, or that no record write takes, are saved by the unit's Commit.

// pendingFor returns unit's held writes for KVs of this file (none without
// a unit). They stay held until taken: the committer may replay the
// transaction, and a rolled-back one must not lose them.
func (b *Bolt) pendingFor(unit *vault.Unit) []*vault.Held {
	if unit == nil {
		return nil
	}
	return unit.Pending(func(s vault.Saver) bool {
		kv, ok := s.(*KV)
		return ok && kv.db == b.db
	})
}

// writeHeld puts held writes into tx. Their values are not copied: the
// unit made its own copies when it took them (vault.Unit.Hold) and never
// changes them.
func writeHeld(tx *bolt.Tx, held []*vault.Held) error {
	for _, h := range held {
		if err := h.Store.(*KV).putAll(tx, h.Entries, false); err != nil {
			return err
		}
	}
	return nil
}

// PutInUnit implements vault.UnitWriter: Put, committing unit's writes for
// this file with the record when it is created.
func (b *Bolt) PutInUnit(ctx context.Context, unit *vault.Unit, rec vault.Record) (vault.Record, bool, error) {
	return b.put(ctx, unit, rec)
}

// UpdateInUnit implements vault.UnitWriter: Update, committing unit's
// writes for this file with the record.
func (b *Bolt) UpdateInUnit(ctx context.Context, unit *vault.Unit, rec vault.Record) (vault.Record, error) {
	return b.update(ctx, unit, rec)
}

// Interface guard.
var _ vault.UnitWriter = (*Bolt)(nil)
