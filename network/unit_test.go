package network

import (
	"errors"
	"testing"

	"github.com/tokengate/tokengate/vault"
)

// claims reports how many ids and DPAN index keys b has claimed.
func (b *Builtin) claims() int {
	b.provision.Lock()
	defer b.provision.Unlock()
	return len(b.reserved)
}

// TestProvisionInUnit: given a unit, the token's state is held in it and
// its id and DPAN stay claimed until the unit ends: after Commit the state
// is in the store, after Rollback the token is forgotten (a retry with the
// same idempotency key gets a new one) and nothing was written.
func TestProvisionInUnit(t *testing.T) {
	store := NewMemoryStore()
	b := newTestBuiltin(t, store)
	req := provisionReq("4111111111111111")
	req.IdempotencyKey = "k1"

	u := vault.NewUnit()
	req.Unit = u
	tok, err := b.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := store.Load(ctx, tok.ID); d != nil {
		t.Fatal("the state was saved before the unit committed")
	}
	if n := b.claims(); n != 2 {
		t.Fatalf("%d claims while the unit is open, want the id and the DPAN", n)
	}
	u.Rollback()
	if n := b.claims(); n != 0 {
		t.Fatalf("%d claims after Rollback", n)
	}
	if _, err := b.Get(ctx, tok.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a rolled back token is still known: %v", err)
	}

	u = vault.NewUnit()
	req.Unit = u
	again, err := b.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == tok.ID {
		t.Fatal("the idempotency key replayed a token that was never saved")
	}
	if err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := store.Load(ctx, again.ID); d == nil {
		t.Fatal("Commit did not save the state")
	}
	if n := b.claims(); n != 0 {
		t.Fatalf("%d claims after Commit", n)
	}
	b.Forget("")
	if got, err := b.Get(ctx, again.ID); err != nil || got.DPAN != again.DPAN {
		t.Fatalf("the committed token: %v", err)
	}
}

// TestProvisionJoinsPendingToken: a request replaying an idempotency key
// whose token is still in another unit shares it; the claims last until
// both units end, and the one that stores its card saves the state.
func TestProvisionJoinsPendingToken(t *testing.T) {
	store := NewMemoryStore()
	b := newTestBuiltin(t, store)
	req := provisionReq("4111111111111111")
	req.IdempotencyKey = "k1"

	first, second := vault.NewUnit(), vault.NewUnit()
	req.Unit = first
	tok, err := b.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	req.Unit = second
	joined, err := b.Provision(ctx, req)
	if err != nil || joined.ID != tok.ID {
		t.Fatalf("the retry got %v, %v; want the pending token", joined.ID, err)
	}
	first.Rollback() // the first request's card was not stored
	if n := b.claims(); n != 2 {
		t.Fatalf("%d claims with one unit still holding the token", n)
	}
	if err := second.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := store.Load(ctx, tok.ID); d == nil || b.claims() != 0 {
		t.Fatal("the second unit did not save the shared token, or left its claims")
	}

	// Without a unit, a pending token is not shared: it may be dropped.
	req.IdempotencyKey = "k2"
	pending := vault.NewUnit()
	req.Unit = pending
	tok, _ = b.Provision(ctx, req)
	req.Unit = nil
	other, err := b.Provision(ctx, req)
	if err != nil || other.ID == tok.ID {
		t.Fatalf("a request without a unit got the pending token (%v)", err)
	}
	pending.Rollback()
}
