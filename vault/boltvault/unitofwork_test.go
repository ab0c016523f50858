package boltvault_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestUnitOfWork: KV writes held in a unit are invisible until the card's
// Put commits them with the record; they are not written when the card was
// not created (and stay held, for a retry or Rollback); Commit saves what
// no record write took, and releases claims only after that.
func TestUnitOfWork(t *testing.T) {
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv := b.KV("network_tokens")
	ctx := context.Background()
	load := func(id string) string {
		t.Helper()
		got, err := kv.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}

	unit := vault.NewUnit()
	if err := unit.Hold(kv, map[string][]byte{"nt1": []byte("state")}); err != nil {
		t.Fatal(err)
	}
	if load("nt1") != "" {
		t.Fatal("a held write was visible before the card was stored")
	}
	// A token taken: nothing written, the write stays held for the retry.
	if _, _, err := b.Put(ctx, vaulttest.Sample("t", "tok_1", "fp1")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := vault.Put(ctx, b, unit, vaulttest.Sample("t", "tok_1", "fp_other")); err != vault.ErrTokenTaken {
		t.Fatalf("Put with a taken token: %v", err)
	}
	if load("nt1") != "" {
		t.Fatal("a held write was committed by a Put that stored nothing")
	}
	unit.Rollback()
	if load("nt1") != "" {
		t.Fatal("Rollback wrote the held write")
	}

	unit = vault.NewUnit()
	_ = unit.Hold(kv, map[string][]byte{"nt2": []byte("state")})
	released := false
	_ = unit.OnEnd(func(committed bool) { released = committed && load("nt2") == "state" })
	if _, created, err := vault.Put(ctx, b, unit, vaulttest.Sample("t", "tok_2", "fp2")); err != nil || !created {
		t.Fatalf("Put: %v %v", created, err)
	}
	if load("nt2") != "state" {
		t.Fatal("the held write was not committed with the card")
	}
	if err := unit.Commit(ctx); err != nil || !released {
		t.Fatalf("Commit: %v, released after the write: %v", err, released)
	}

	// The same card again: not created, so its token state is not saved.
	unit = vault.NewUnit()
	_ = unit.Hold(kv, map[string][]byte{"nt3": []byte("orphan")})
	if _, created, err := vault.Put(ctx, b, unit, vaulttest.Sample("t", "tok_3", "fp2")); err != nil || created {
		t.Fatalf("Put of a known card: %v %v", created, err)
	}
	unit.Rollback()
	if load("nt3") != "" {
		t.Fatal("the token state of a card that was not stored was written")
	}

	// Update commits held writes too, through the read cache.
	cache := vault.NewCache(b, time.Minute, 100)
	rec, _ := b.Get(ctx, "t", "tok_2")
	unit = vault.NewUnit()
	_ = unit.Hold(kv, map[string][]byte{"nt4": []byte("updated")})
	rec.ExpYear = "2031"
	if _, err := vault.Update(ctx, cache, unit, rec); err != nil {
		t.Fatal(err)
	}
	if load("nt4") != "updated" {
		t.Fatal("Update did not commit the held write")
	}
	_ = unit.Commit(ctx)

	// Commit saves writes no record took.
	unit = vault.NewUnit()
	_ = unit.Hold(kv, map[string][]byte{"nt5": []byte("kept")})
	if err := unit.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if load("nt5") != "kept" {
		t.Fatal("Commit did not save the held write")
	}
}
