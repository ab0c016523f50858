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

// A record too large for an entry is not cached, and a smaller older copy
// is not served in its place.
func TestCacheRecordTooLargeForAnEntry(t *testing.T) {
	ctx := context.Background()
	c, under := newCounted(t, time.Minute, 100)
	stored, _, err := c.Put(ctx, vaulttest.Sample("t", "tok_1", "fp1"))
	if err != nil {
		t.Fatal(err)
	}
	stored.Metadata = map[string]string{"note": strings.Repeat("x", 70_000)}
	if _, err := c.Update(ctx, stored); err != nil {
		t.Fatal(err)
	}
	rec, err := c.Get(ctx, "t", "tok_1")
	if err != nil || len(rec.Metadata["note"]) != 70_000 || under.reads != 1 {
		t.Fatalf("after a large update: %d bytes of note, err %v, %d store reads; want the large record from the store",
			len(rec.Metadata["note"]), err, under.reads)
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

// The cache's memory is bounded: far more records than fit do not all
// stay (fastcache drops a bucket's oldest entries when it is full; its
// least is 32 MiB, some 30,000 of these records, and its count lags).
func TestCacheSizeBound(t *testing.T) {
	ctx := context.Background()
	c := vault.NewCache(genVault{}, time.Minute, 100)
	const n = 100_000
	for i := range n {
		if _, err := c.Get(ctx, "t", fmt.Sprintf("tok_%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Len(); got >= n/2 || got < 1000 {
		t.Fatalf("%d of %d records held, want the 32 MiB bound's 30,000 or so", got, n)
	}
}
