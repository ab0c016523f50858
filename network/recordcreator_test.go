package network

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/tokengate/tokengate/vault"
)

// recordCreatorStore is a shared store whose vault creates a unit's held
// states with the card's record (RecordCreator); it counts the creates
// made outside that record write.
type recordCreatorStore struct {
	creatorStore
	creates atomic.Int32
}

func (r *recordCreatorStore) Create(ctx context.Context, entries map[string][]byte) (bool, error) {
	r.creates.Add(1)
	return r.creatorStore.Create(ctx, entries)
}

func (r *recordCreatorStore) CreateHeld(ctx context.Context, entries map[string][]byte) (bool, error) {
	return r.Create(ctx, entries)
}

func (*recordCreatorStore) CreatesWithRecord() {}

// Provisioning in a unit over a RecordCreator writes nothing: the state is
// held to be created (Held.Create), by the record write or else by Commit,
// which refuses a clash; a request replaying the idempotency key holds it
// the same way.
func TestProvisionInUnitWithRecordCreator(t *testing.T) {
	store := &recordCreatorStore{creatorStore: creatorStore{StateStore: NewMemoryStore()}}
	b := newTestBuiltin(t, store)
	req := provisionReq("4111111111111111")
	req.IdempotencyKey = "k1"
	u := vault.NewUnit()
	req.Unit = u
	tok, err := b.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := store.creates.Load(); n != 0 {
		t.Fatalf("%d creates while provisioning in a unit", n)
	}
	if d, _ := store.Load(ctx, tok.ID); d != nil {
		t.Fatal("the state was written before the record")
	}
	held := u.Pending(func(vault.Saver) bool { return true })
	if len(held) != 1 || !held[0].Create || len(held[0].Entries) != 2 {
		t.Fatalf("held: %+v, want the state and the reservation, to be created", held)
	}

	// The same key, while the first unit is open: the same token, held to
	// be created in the second unit too.
	u2 := vault.NewUnit()
	req.Unit = u2
	again, err := b.Provision(ctx, req)
	if err != nil || again.ID != tok.ID {
		t.Fatalf("replay: %v, %v", again.ID == tok.ID, err)
	}
	if h := u2.Pending(func(vault.Saver) bool { return true }); len(h) != 1 || !h[0].Create {
		t.Fatalf("the joining unit holds %+v", h)
	}
	u2.Rollback()

	// Another process took one of the ids meanwhile: Commit refuses.
	for id := range held[0].Entries {
		if ok, err := store.creatorStore.Create(ctx, map[string][]byte{id: []byte("theirs")}); err != nil || !ok {
			t.Fatal(ok, err)
		}
		break
	}
	if err := u.Commit(ctx); !errors.Is(err, vault.ErrStateTaken) {
		t.Fatalf("commit over a taken id: %v", err)
	}
	if n := b.claims(); n != 0 {
		t.Fatalf("%d claims after the unit ended", n)
	}
	if _, err := b.Get(ctx, tok.ID); err == nil {
		// Its id may be the one taken (then it is another's state), but
		// this process must not serve it as its own token.
		if d, _ := store.Load(ctx, tok.ID); string(d) != "theirs" {
			t.Fatal("a token whose unit failed is still served")
		}
	}

	// Committed with no clash: created then.
	u = vault.NewUnit()
	req.Unit, req.IdempotencyKey = u, "k2"
	tok, err = b.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := store.Load(ctx, tok.ID); d == nil || store.creates.Load() != 2 {
		t.Fatalf("after Commit: state %v, %d creates", d != nil, store.creates.Load())
	}
}
