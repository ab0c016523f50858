package vault_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// The cache must keep every promise of the Vault contract.
func TestCacheConformance(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vault.Vault {
		b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return vault.NewCache(b, time.Minute, 3)
	})
}

// countingVault counts reads, to show which ones the cache answers.
type countingVault struct {
	vault.Vault
	reads int
}

func (c *countingVault) Get(ctx context.Context, tenant, token string) (vault.Record, error) {
	c.reads++
	return c.Vault.Get(ctx, tenant, token)
}

func (c *countingVault) GetByFingerprint(ctx context.Context, tenant, fp string) (vault.Record, error) {
	c.reads++
	return c.Vault.GetByFingerprint(ctx, tenant, fp)
}

func TestCacheServesRepeatReadsAndSeesOwnWrites(t *testing.T) {
	ctx := context.Background()
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	under := &countingVault{Vault: b}
	c := vault.NewCache(under, time.Minute, 100)

	if _, err := c.GetByFingerprint(ctx, "t", "fp1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("miss: %v", err)
	}
	rec := vaulttest.Sample("t", "tok_1", "fp1")
	if _, _, err := c.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	reads := under.reads
	for range 3 {
		if got, err := c.GetByFingerprint(ctx, "t", "fp1"); err != nil || got.Token != "tok_1" {
			t.Fatalf("GetByFingerprint = %v %v", got.Token, err)
		}
		if _, err := c.Get(ctx, "t", "tok_1"); err != nil {
			t.Fatal(err)
		}
	}
	if under.reads != reads {
		t.Fatalf("repeat reads went to the store %d times", under.reads-reads)
	}

	rec.Network.Status = "SUSPENDED"
	if err := c.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Get(ctx, "t", "tok_1"); got.Network.Status != "SUSPENDED" {
		t.Fatal("an update was not seen by the next read")
	}
	if err := c.Delete(ctx, "t", "tok_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetByFingerprint(ctx, "t", "fp1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("a deleted record was served: %v", err)
	}
}
