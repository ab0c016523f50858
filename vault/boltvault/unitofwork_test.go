package boltvault_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestUnitOfWork: KV writes made in a unit of work are invisible until the
// card's Put commits them with the record; they are not written when the
// card was not created; Flush saves what no record write took.
func TestUnitOfWork(t *testing.T) {
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv := b.KV("network_tokens")
	ctx := context.Background()

	unit := boltvault.WithUnitOfWork(ctx)
	if err := kv.SaveAll(unit, map[string][]byte{"nt1": []byte("state")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := kv.Load(ctx, "nt1"); got != nil {
		t.Fatal("a held write was visible before the card was stored")
	}
	if _, created, err := b.Put(unit, vaulttest.Sample("t", "tok_1", "fp1")); err != nil || !created {
		t.Fatalf("Put: %v %v", created, err)
	}
	if got, _ := kv.Load(ctx, "nt1"); string(got) != "state" {
		t.Fatal("the held write was not committed with the card")
	}
	if err := boltvault.Flush(unit); err != nil {
		t.Fatal(err)
	}

	// The same card again: not created, so its network token is not saved.
	unit = boltvault.WithUnitOfWork(ctx)
	_ = kv.SaveAll(unit, map[string][]byte{"nt2": []byte("orphan")})
	if _, created, err := b.Put(unit, vaulttest.Sample("t", "tok_2", "fp1")); err != nil || created {
		t.Fatalf("Put of a known card: %v %v", created, err)
	}
	if got, _ := kv.Load(ctx, "nt2"); got != nil {
		t.Fatal("the network token of a card that was not stored was written")
	}

	// Flush saves writes no record took.
	unit = boltvault.WithUnitOfWork(ctx)
	_ = kv.SaveAll(unit, map[string][]byte{"nt3": []byte("kept")})
	if err := boltvault.Flush(unit); err != nil {
		t.Fatal(err)
	}
	if got, _ := kv.Load(ctx, "nt3"); string(got) != "kept" {
		t.Fatal("Flush did not save the held write")
	}
}
