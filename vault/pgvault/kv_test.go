package pgvault_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/network/networktest"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

func openKV(t *testing.T, dsn string) *pgvault.KV {
	v, err := pgvault.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v.KV("network_tokens")
}

// Create writes all its entries or, when any id holds data, none.
func TestKVCreateIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	kv := openKV(t, freshDatabase(t))
	if ok, err := kv.Create(ctx, map[string][]byte{"a": []byte("1"), "b": []byte("2")}); err != nil || !ok {
		t.Fatalf("first create: %v %v", ok, err)
	}
	if ok, err := kv.Create(ctx, map[string][]byte{"b": []byte("x"), "c": []byte("3")}); err != nil || ok {
		t.Fatalf("a create over an existing id: %v %v", ok, err)
	}
	if c, _ := kv.Load(ctx, "c"); c != nil {
		t.Fatal("a refused create wrote part of its entries")
	}
	if b, _ := kv.Load(ctx, "b"); string(b) != "2" {
		t.Fatalf("a refused create changed an entry: %q", b)
	}
}

// The builtin network token service keeps every promise of its contract
// with its state in PostgreSQL, as several gateways run it.
func TestBuiltinConformanceOnPostgres(t *testing.T) {
	networktest.Run(t, func(t *testing.T) network.Service {
		b, err := network.NewBuiltin(network.BuiltinConfig{Key: bytes.Repeat([]byte{0x42}, 32)}, openKV(t, freshDatabase(t)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// Creates and Puts committed in one group answer each for itself: a create
// that clashes fails alone (its group is retried write by write), and the
// others are written.
func TestGroupCommitAnswersEachWrite(t *testing.T) {
	ctx := context.Background()
	v, err := pgvault.Open(ctx, freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	kv := v.KV("network_tokens")
	if ok, err := kv.Create(ctx, map[string][]byte{"taken": []byte("1")}); err != nil || !ok {
		t.Fatalf("first create: %v %v", ok, err)
	}
	const n = 64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			id := fmt.Sprintf("id%d", i)
			entries := map[string][]byte{id: []byte("s"), "idx" + id: []byte("r")}
			clash := i%8 == 0
			if clash {
				entries["taken"] = []byte("x")
			}
			ok, err := kv.Create(ctx, entries)
			if err != nil || ok == clash {
				t.Errorf("create %d (clash %v): %v %v", i, clash, ok, err)
			}
			if d, _ := kv.Load(ctx, id); (d != nil) == clash {
				t.Errorf("create %d (clash %v): entry written %v", i, clash, d != nil)
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			rec := vaulttest.Sample("acme", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i%(n/2)))
			stored, created, err := v.Put(ctx, rec)
			if err != nil || stored.Fingerprint != rec.Fingerprint || (created && stored.Token != rec.Token) {
				t.Errorf("put %d: %v %v %+v", i, created, err, stored.Token)
			}
		}()
	}
	close(start)
	wg.Wait()
	if d, _ := kv.Load(ctx, "taken"); string(d) != "1" {
		t.Fatalf("a refused create changed an entry: %q", d)
	}
	for i := range n / 2 {
		if _, err := v.GetByFingerprint(ctx, "acme", fmt.Sprintf("fp_%d", i)); err != nil {
			t.Fatalf("card %d: %v", i, err)
		}
	}
}

// Entries CreateHeld created and a unit holds leave it with the card's
// record write (PutInUnit), which makes them durable; a unit committed with
// no record write saves them itself.
func TestCreateHeldInUnit(t *testing.T) {
	ctx := context.Background()
	v, err := pgvault.Open(ctx, freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	kv := v.KV("network_tokens")
	for i, withRecord := range []bool{true, false} {
		unit := vault.NewUnit()
		entries := map[string][]byte{fmt.Sprintf("id%d", i): []byte("s"), fmt.Sprintf("idx%d", i): []byte("r")}
		if ok, err := kv.CreateHeld(ctx, entries); err != nil || !ok {
			t.Fatalf("create held: %v %v", ok, err)
		}
		if ok, err := kv.CreateHeld(ctx, entries); err != nil || ok {
			t.Fatalf("a second create of the same ids: %v %v", ok, err)
		}
		if err := unit.Hold(kv, entries); err != nil {
			t.Fatal(err)
		}
		if withRecord {
			if _, created, err := vault.Put(ctx, v, unit, vaulttest.Sample("acme", "tok_1", "fp_1")); err != nil || !created {
				t.Fatalf("put in unit: %v %v", created, err)
			}
			if p := unit.Pending(func(vault.Saver) bool { return true }); len(p) != 0 {
				t.Fatalf("the record write left %d held writes in the unit", len(p))
			}
		}
		if err := unit.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		for id, want := range entries {
			if got, _ := kv.Load(ctx, id); string(got) != string(want) {
				t.Fatalf("%s: %q, want %q", id, got, want)
			}
		}
	}
}
