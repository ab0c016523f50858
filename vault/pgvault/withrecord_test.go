package pgvault_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

var _ network.RecordCreator = (*pgvault.KV)(nil)

// Entries held to be created (HoldNew) reach the database with the card's
// record and only with it: nothing before the put, nothing when the card
// was stored already, neither the record nor the entries when one exists.
func TestPutInUnitCreatesHeld(t *testing.T) {
	ctx := context.Background()
	v, err := pgvault.Open(ctx, freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	kv := v.KV("network_tokens")
	absent := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if got, err := kv.Load(ctx, id); err != nil || got != nil {
				t.Fatalf("%s: %q, %v; want nothing", id, got, err)
			}
		}
	}
	put := func(tok, fp string, entries map[string][]byte) (*vault.Unit, vault.Record, bool, error) {
		unit := vault.NewUnit()
		if err := unit.HoldNew(kv, entries); err != nil {
			t.Fatal(err)
		}
		stored, created, err := vault.Put(ctx, v, unit, vaulttest.Sample("acme", tok, fp))
		return unit, stored, created, err
	}

	// A new card: its record and the entries, in one write.
	unit := vault.NewUnit()
	if err := unit.HoldNew(kv, map[string][]byte{"id1": []byte("s1"), "idx1": []byte("r1")}); err != nil {
		t.Fatal(err)
	}
	absent("id1", "idx1") // held, not sent
	if _, created, err := vault.Put(ctx, v, unit, vaulttest.Sample("acme", "tok_1", "fp_1")); err != nil || !created {
		t.Fatalf("put: %v %v", created, err)
	}
	if p := unit.Pending(func(vault.Saver) bool { return true }); len(p) != 0 {
		t.Fatalf("the record write left %d held writes in the unit", len(p))
	}
	if err := unit.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"id1": "s1", "idx1": "r1"} {
		if got, _ := kv.Load(ctx, id); string(got) != want {
			t.Fatalf("%s: %q, want %q", id, got, want)
		}
	}

	// Entries of two KVs in one unit: both created with the record.
	other := v.KV("other")
	unit = vault.NewUnit()
	_ = unit.HoldNew(kv, map[string][]byte{"k1": []byte("a")})
	_ = unit.HoldNew(other, map[string][]byte{"k1": []byte("b")})
	if _, created, err := vault.Put(ctx, v, unit, vaulttest.Sample("acme", "tok_7", "fp_7")); err != nil || !created {
		t.Fatalf("put with two KVs: %v %v", created, err)
	}
	if err := unit.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ := kv.Load(ctx, "k1"); string(a) != "a" {
		t.Fatalf("k1 in %q: %q", "network_tokens", a)
	}
	if b, _ := other.Load(ctx, "k1"); string(b) != "b" {
		t.Fatalf("k1 in %q: %q", "other", b)
	}

	// An entry there already (another gateway's DPAN): nothing is stored.
	unit, _, created, err := put("tok_2", "fp_2", map[string][]byte{"id2": []byte("s2"), "idx1": []byte("r2")})
	if !errors.Is(err, vault.ErrStateTaken) || created {
		t.Fatalf("a clashing entry: %v %v, want ErrStateTaken", created, err)
	}
	unit.Rollback()
	absent("id2")
	if _, err := v.Get(ctx, "acme", "tok_2"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the record of a clashing put: %v", err)
	}
	if got, _ := kv.Load(ctx, "idx1"); string(got) != "r1" {
		t.Fatalf("the existing entry became %q", got)
	}

	// The card stored already: its record back, no entries written.
	unit, stored, created, err := put("tok_3", "fp_1", map[string][]byte{"id3": []byte("s3"), "idx3": []byte("r3")})
	if err != nil || created || stored.Token != "tok_1" {
		t.Fatalf("the same card again: %q %v %v", stored.Token, created, err)
	}
	unit.Rollback()
	absent("id3", "idx3")

	// A unit committed without a record write creates them itself, and
	// refuses a clash.
	unit = vault.NewUnit()
	_ = unit.HoldNew(kv, map[string][]byte{"id4": []byte("s4")})
	if err := unit.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	unit = vault.NewUnit()
	_ = unit.HoldNew(kv, map[string][]byte{"id4": []byte("other"), "id5": []byte("s5")})
	if err := unit.Commit(ctx); !errors.Is(err, vault.ErrStateTaken) {
		t.Fatalf("commit of a clashing entry: %v", err)
	}
	absent("id5")
	if got, _ := kv.Load(ctx, "id4"); string(got) != "s4" {
		t.Fatalf("id4 became %q", got)
	}

	// An update creates them before it writes, and a clash stops it.
	rec, err := v.Get(ctx, "acme", "tok_1")
	if err != nil {
		t.Fatal(err)
	}
	unit = vault.NewUnit()
	_ = unit.HoldNew(kv, map[string][]byte{"id4": []byte("other")})
	rec.ExpYear = "2031"
	if _, err := vault.Update(ctx, v, unit, rec); !errors.Is(err, vault.ErrStateTaken) {
		t.Fatalf("update with a clashing entry: %v", err)
	}
	unit.Rollback()
	if got, _ := v.Get(ctx, "acme", "tok_1"); got.Version != rec.Version {
		t.Fatalf("the clashing update was written: version %d, was %d", got.Version, rec.Version)
	}
	unit = vault.NewUnit()
	_ = unit.HoldNew(kv, map[string][]byte{"id6": []byte("s6")})
	if _, err := vault.Update(ctx, v, unit, rec); err != nil {
		t.Fatal(err)
	}
	if err := unit.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := kv.Load(ctx, "id6"); string(got) != "s6" {
		t.Fatalf("id6: %q", got)
	}
}

// One card's clash fails only that card: the others of its group commit
// are stored with their entries.
func TestPutInUnitClashInGroup(t *testing.T) {
	ctx := context.Background()
	v, err := pgvault.Open(ctx, freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	kv := v.KV("network_tokens")
	if ok, err := kv.Create(ctx, map[string][]byte{"taken": []byte("x")}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idx := fmt.Sprintf("idx%d", i)
			if i == n/2 {
				idx = "taken"
			}
			unit := vault.NewUnit()
			defer unit.Rollback()
			_ = unit.HoldNew(kv, map[string][]byte{fmt.Sprintf("id%d", i): []byte("s"), idx: []byte("r")})
			_, created, err := vault.Put(ctx, v, unit, vaulttest.Sample("acme", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i)))
			if err == nil && !created {
				err = errors.New("not created")
			}
			if err == nil {
				err = unit.Commit(ctx)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i == n/2 {
			if !errors.Is(err, vault.ErrStateTaken) {
				t.Fatalf("the clashing card: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("card %d: %v", i, err)
		}
		if got, _ := kv.Load(ctx, fmt.Sprintf("idx%d", i)); string(got) != "r" {
			t.Fatalf("card %d's entry: %q", i, got)
		}
	}
	if n, _ := v.CountRecords(ctx); n != 39 {
		t.Fatalf("%d records, want 39", n)
	}
}
