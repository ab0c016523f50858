package boltvault

import (
	"context"
	"sync"

	"github.com/tokengate/tokengate/vault"
	bolt "go.etcd.io/bbolt"
)

// A unit of work lets the writes a request makes to a KV (the embedded
// network token service's state) be committed in the same transaction as the
// card record the request then stores. A new card then waits for one durable
// commit instead of two, and a card that is never stored leaves no network
// token behind on disk. Writes that no record write of the same file takes
// are saved by Flush, so nothing is lost when the vault is another store.
type unitOfWork struct {
	mu      sync.Mutex
	pending []pendingWrite
}

type pendingWrite struct {
	kv      *KV
	entries map[string][]byte
}

type unitKey struct{}

// WithUnitOfWork returns a context in which KV writes are held until a
// Put or Update with that context commits them with its record, or Flush
// saves them. Discarding the context drops them.
func WithUnitOfWork(ctx context.Context) context.Context {
	return context.WithValue(ctx, unitKey{}, &unitOfWork{})
}

func unitFrom(ctx context.Context) *unitOfWork {
	u, _ := ctx.Value(unitKey{}).(*unitOfWork)
	return u
}

func (u *unitOfWork) hold(kv *KV, entries map[string][]byte) {
	copied := make(map[string][]byte, len(entries))
	for id, data := range entries {
		copied[id] = append([]byte(nil), data...)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pending = append(u.pending, pendingWrite{kv: kv, entries: copied})
}

// writeInto puts the held writes for db into tx. They stay held: the committer may
// replay tx, and a rolled-back transaction must not lose them. The caller
// calls committed once the transaction is durable.
func (u *unitOfWork) writeInto(tx *bolt.Tx, db *bolt.DB) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range u.pending {
		if p.kv.db != db {
			continue
		}
		if err := p.kv.putAll(tx, p.entries); err != nil {
			return err
		}
	}
	return nil
}

// committed forgets the writes for db, now on disk.
func (u *unitOfWork) committed(db *bolt.DB) {
	u.mu.Lock()
	defer u.mu.Unlock()
	kept := u.pending[:0]
	for _, p := range u.pending {
		if p.kv.db != db {
			kept = append(kept, p)
		}
	}
	u.pending = kept
}

// Flush durably saves whatever writes of ctx's unit of work no record write
// has committed yet; without a unit of work it does nothing.
func Flush(ctx context.Context) error {
	u := unitFrom(ctx)
	if u == nil {
		return nil
	}
	u.mu.Lock()
	pending := u.pending
	u.pending = nil
	u.mu.Unlock()
	for _, p := range pending {
		if err := p.kv.saveNow(context.WithoutCancel(ctx), p.entries); err != nil {
			return err
		}
	}
	return nil
}

// BeginUnit implements vault.Units.
func (b *Bolt) BeginUnit(ctx context.Context) context.Context { return WithUnitOfWork(ctx) }

// FlushUnit implements vault.Units.
func (b *Bolt) FlushUnit(ctx context.Context) error { return Flush(ctx) }

// Interface guard.
var _ vault.Units = (*Bolt)(nil)
