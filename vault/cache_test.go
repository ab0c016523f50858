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
	rec, _, err = c.Put(ctx, rec)
	if err != nil {
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
	if _, err := c.Update(ctx, rec); err != nil {
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

// A change made behind the cache's back (another gateway, a webhook) is seen
// after Invalidate, and a stale cached copy makes Update conflict, not win.
func TestCacheInvalidate(t *testing.T) {
	ctx := context.Background()
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := vault.NewCache(b, time.Minute, 100)
	stored, _, err := c.Put(ctx, vaulttest.Sample("t", "tok_1", "fp1"))
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := stored
	elsewhere.Network.Status = "SUSPENDED"
	if _, err := b.Update(ctx, elsewhere); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Get(ctx, "t", "tok_1"); got.Network.Status != "ACTIVE" {
		t.Fatal("the test needs the cache to hold the stale copy")
	}
	stale, _ := c.Get(ctx, "t", "tok_1")
	if _, err := c.Update(ctx, stale); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("Update from a stale cached copy: err = %v, want ErrConflict", err)
	}
	// The conflict dropped the stale copy; so does Invalidate.
	if got, _ := c.Get(ctx, "t", "tok_1"); got.Network.Status != "SUSPENDED" {
		t.Fatalf("after a conflict the cache still serves %s", got.Network.Status)
	}
	again := elsewhere
	again.Version++
	again.Network.Status = "ACTIVE"
	if _, err := b.Update(ctx, again); err != nil {
		t.Fatal(err)
	}
	vault.Invalidate(c, "t", "tok_1")
	if got, _ := c.GetByFingerprint(ctx, "t", "fp1"); got.Network.Status != "ACTIVE" {
		t.Fatalf("after Invalidate the cache still serves %s", got.Network.Status)
	}
}

// hookedVault runs during a read, to interleave something with it.
type hookedVault struct {
	countingVault
	during func()
}

func (h *hookedVault) Get(ctx context.Context, tenant, token string) (vault.Record, error) {
	rec, err := h.countingVault.Get(ctx, tenant, token)
	if h.during != nil {
		h.during()
	}
	return rec, err
}

// A change announced while a read was in flight wins over the older record
// the read returned; a paused cache answers nothing from memory; Resume
// starts from empty.
func TestCacheInvalidationRacesAndPause(t *testing.T) {
	ctx := context.Background()
	b := vaulttest.OpenBolt(t)
	under := &hookedVault{countingVault: countingVault{Vault: b}}
	c := vault.NewCache(under, time.Minute, 100)
	if _, _, err := b.Put(ctx, vaulttest.Sample("t", "tok_1", "fp1")); err != nil {
		t.Fatal(err)
	}

	under.during = func() { c.Invalidate("t", "tok_1") } // announced mid-read
	c.Get(ctx, "t", "tok_1")
	under.during = nil
	c.Get(ctx, "t", "tok_1")
	if under.reads != 2 {
		t.Fatalf("a read that raced an invalidation was cached: %d store reads, want 2", under.reads)
	}
	c.Get(ctx, "t", "tok_1")
	if under.reads != 2 {
		t.Fatalf("a quiet read was not cached: %d store reads", under.reads)
	}

	c.Pause()
	c.Get(ctx, "t", "tok_1")
	c.GetByFingerprint(ctx, "t", "fp1")
	c.Get(ctx, "t", "tok_1")
	if under.reads != 5 {
		t.Fatalf("a paused cache answered from memory: %d store reads, want 5", under.reads)
	}
	c.Resume()
	c.Get(ctx, "t", "tok_1")
	c.Get(ctx, "t", "tok_1")
	if under.reads != 6 {
		t.Fatalf("after Resume: %d store reads, want 6", under.reads)
	}
	c.InvalidateAll()
	c.Get(ctx, "t", "tok_1")
	if under.reads != 7 {
		t.Fatalf("after InvalidateAll: %d store reads, want 7", under.reads)
	}
}
