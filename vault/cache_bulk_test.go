package vault_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// Under WithoutCaching nothing read or written is added to the cache, what
// it already holds is still served, and an update drops the cached copy
// rather than leaving it stale.
func TestCacheWithoutCaching(t *testing.T) {
	ctx, bulk := context.Background(), vault.WithoutCaching(context.Background())
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	under := &countingVault{Vault: b}
	c := vault.NewCache(under, time.Minute, 100)

	rec, _, err := c.Put(bulk, vaulttest.Sample("t", "tok_1", "fp1"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 0 {
		t.Fatalf("a bulk write was cached: %d entries", c.Len())
	}
	if _, err := c.GetByFingerprint(bulk, "t", "fp1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(bulk, "t", "tok_1"); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 0 {
		t.Fatalf("a bulk read was cached: %d entries", c.Len())
	}

	// Cached by an ordinary read, then served to a bulk one.
	if _, err := c.Get(ctx, "t", "tok_1"); err != nil {
		t.Fatal(err)
	}
	reads := under.reads
	if _, err := c.GetByFingerprint(bulk, "t", "fp1"); err != nil || under.reads != reads {
		t.Fatalf("a cached record was not served to a bulk read: %v, %d store reads", err, under.reads-reads)
	}

	rec.Network.Status = "SUSPENDED"
	if _, err := c.Update(bulk, rec); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Get(ctx, "t", "tok_1"); got.Network.Status != "SUSPENDED" {
		t.Fatal("a bulk update left the cached copy stale")
	}
}
