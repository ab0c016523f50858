package vault_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// newCounted is a cache over a counting bbolt vault.
func newCounted(t *testing.T, ttl time.Duration, max int) (*vault.Cache, *countingVault) {
	under := &countingVault{Vault: vaulttest.OpenBolt(t)}
	return vault.NewCache(under, ttl, max), under
}

// A record is served from memory only within the TTL.
func TestCacheTTL(t *testing.T) {
	ctx := context.Background()
	c, under := newCounted(t, 50*time.Millisecond, 100)
	if _, _, err := c.Put(ctx, vaulttest.Sample("t", "tok_1", "fp1")); err != nil {
		t.Fatal(err)
	}
	for _, get := range []func() error{
		func() error { _, err := c.Get(ctx, "t", "tok_1"); return err },
		func() error { _, err := c.GetByFingerprint(ctx, "t", "fp1"); return err },
	} {
		if err := get(); err != nil || under.reads != 0 {
			t.Fatalf("within the TTL: err %v, %d store reads, want 0", err, under.reads)
		}
	}
	// Each read from the store caches the record anew, for another TTL.
	time.Sleep(60 * time.Millisecond)
	if _, err := c.GetByFingerprint(ctx, "t", "fp1"); err != nil || under.reads != 1 {
		t.Fatalf("after the TTL by fingerprint: err %v, %d store reads, want 1", err, under.reads)
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := c.Get(ctx, "t", "tok_1"); err != nil || under.reads != 2 {
		t.Fatalf("after the TTL: err %v, %d store reads, want 2", err, under.reads)
	}
}

// Keys are a pair: tenant "a" with token "bc" is not tenant "ab" with "c".
func TestCacheTenantScoping(t *testing.T) {
	ctx := context.Background()
	c, _ := newCounted(t, time.Minute, 100)
	if _, _, err := c.Put(ctx, vaulttest.Sample("a", "bc", "fp")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "ab", "c"); err == nil {
		t.Fatal("tenant ab read tenant a's record")
	}
	if _, err := c.GetByFingerprint(ctx, "b", "fp"); err == nil {
		t.Fatal("tenant b read tenant a's record by fingerprint")
	}
	if rec, err := c.Get(ctx, "a", "bc"); err != nil || rec.Tenant != "a" || rec.Token != "bc" {
		t.Fatalf("own record: %+v %v", rec, err)
	}
}

// A record grown large (metadata) is served as it is now, never an older
// smaller copy (a cache with a bound on entry size must drop that copy).
func TestCacheLargeRecord(t *testing.T) {
	ctx := context.Background()
	c, _ := newCounted(t, time.Minute, 100)
	stored, _, err := c.Put(ctx, vaulttest.Sample("t", "tok_1", "fp1"))
	if err != nil {
		t.Fatal(err)
	}
	stored.Metadata = map[string]string{"note": strings.Repeat("x", 70_000)}
	if _, err := c.Update(ctx, stored); err != nil {
		t.Fatal(err)
	}
	rec, err := c.Get(ctx, "t", "tok_1")
	if err != nil || len(rec.Metadata["note"]) != 70_000 {
		t.Fatalf("after a large update: %d bytes of note, err %v; want the large record",
			len(rec.Metadata["note"]), err)
	}
}

// genVault answers every read with a record of 1 KB of sealed data, so
// the cache can be filled without a store.
type genVault struct{ vault.Vault }

func (genVault) Get(_ context.Context, tenant, token string) (vault.Record, error) {
	rec := vaulttest.Sample(tenant, token, "fp_"+token)
	rec.Sealed = make([]byte, 1000)
	return rec, nil
}

// The cache is bounded: far more records read than max do not all stay,
// and the last one read does.
func TestCacheSizeBound(t *testing.T) {
	ctx := context.Background()
	const max, n = 100, 10_000
	c := vault.NewCache(genVault{}, time.Minute, max)
	for i := range n {
		if _, err := c.Get(ctx, "t", fmt.Sprintf("tok_%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Len(); got > max {
		t.Fatalf("%d of %d records held, want at most %d", got, n, max)
	}
}
