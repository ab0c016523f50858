package vault_test

import (
	"context"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// sameMap reports whether a and b are one map, not two equal ones.
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// Cached records whose Metadata is only the last-used day share one map
// per day, whether they were written through the cache or read from the
// store (each read decodes a map of its own), so the cache holds no map per
// card (issue 20). Records with other Metadata keep theirs, unchanged.
func TestCacheSharesLastUsedMaps(t *testing.T) {
	ctx := context.Background()
	bv := vaulttest.OpenBolt(t)
	c := vault.NewCache(bv, time.Minute, 100)
	day := func(d string) map[string]string { return map[string]string{vault.LastUsedKey: d} }
	put := func(token string, meta map[string]string) {
		rec := vaulttest.Sample("t", token, "fp_"+token)
		rec.Metadata = meta
		if _, _, err := bv.Put(ctx, rec); err != nil { // the store only: read through the cache below
			t.Fatal(err)
		}
	}
	put("tok_1", day("2026-06-15"))
	put("tok_2", day("2026-06-15"))
	put("tok_3", day("2026-06-14"))
	other := map[string]string{vault.LastUsedKey: "2026-06-15", "juspay.customer:c1": ""}
	put("tok_4", other)
	rec5 := vaulttest.Sample("t", "tok_5", "fp_tok_5")
	rec5.Metadata = day("2026-06-15")
	if _, _, err := c.Put(ctx, rec5); err != nil {
		t.Fatal(err)
	}

	get := func(token string) vault.Record {
		t.Helper()
		if _, err := c.Get(ctx, "t", token); err != nil { // the miss, cached
			t.Fatal(err)
		}
		rec, err := c.Get(ctx, "t", token) // the hit
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	r1, r2, r3, r4, r5 := get("tok_1"), get("tok_2"), get("tok_3"), get("tok_4"), get("tok_5")
	if !sameMap(r1.Metadata, r2.Metadata) || !sameMap(r1.Metadata, r5.Metadata) {
		t.Fatal("cached records of one day hold maps of their own")
	}
	if sameMap(r1.Metadata, r3.Metadata) || !maps.Equal(r3.Metadata, day("2026-06-14")) || !maps.Equal(r1.Metadata, day("2026-06-15")) {
		t.Fatalf("the shared maps mix days: %v %v", r1.Metadata, r3.Metadata)
	}
	if sameMap(r1.Metadata, r4.Metadata) || !maps.Equal(r4.Metadata, other) {
		t.Fatalf("a record with more Metadata than the day: %v", r4.Metadata)
	}
	if r, err := c.GetByFingerprint(ctx, "t", "fp_tok_2"); err != nil || !sameMap(r.Metadata, r1.Metadata) {
		t.Fatalf("by fingerprint: %v %v", r.Metadata, err)
	}
}

// The Touching vault stamps new cards without Metadata with one map per day.
func TestStampSharesTheDaysMap(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, time.June, 15, 12, 0, 0, 0, time.UTC)
	tv := &vault.Touching{Vault: vaulttest.OpenBolt(t), Now: func() time.Time { return now }}
	a, _, err := tv.Put(ctx, vaulttest.Sample("t", "tok_1", "fp1"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := tv.Put(ctx, vaulttest.Sample("t", "tok_2", "fp2"))
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(a.Metadata, map[string]string{"juspay.customer:cth_1": "", "note": "no card data here", vault.LastUsedKey: "2026-06-15"}) {
		t.Fatalf("a stamped record with Metadata: %v", a.Metadata)
	}
	r1, r2 := vaulttest.Sample("t", "tok_3", "fp3"), vaulttest.Sample("t", "tok_4", "fp4")
	r1.Metadata, r2.Metadata = nil, nil
	if a, _, err = tv.Put(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if b, _, err = tv.Put(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if !sameMap(a.Metadata, b.Metadata) || !maps.Equal(a.Metadata, map[string]string{vault.LastUsedKey: "2026-06-15"}) {
		t.Fatalf("new records of one day: %v %v", a.Metadata, b.Metadata)
	}
	if got, err := tv.Get(ctx, "t", "tok_3"); err != nil || !maps.Equal(got.Metadata, a.Metadata) || got.Version != 1 {
		t.Fatalf("stored: %v v%d %v", got.Metadata, got.Version, err)
	}
}
