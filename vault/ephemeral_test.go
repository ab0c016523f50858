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

// The ephemeral layer keeps every promise of the Vault contract for the
// records it passes through.
func TestEphemeralConformance(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vault.Vault {
		b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return vault.NewEphemeral(b)
	})
}

func TestEphemeralRecords(t *testing.T) {
	ctx := context.Background()
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e := vault.NewEphemeral(b)
	rec := vaulttest.Sample("acme", "ctkn_1", "fp1")
	if err := e.PutEphemeral(context.Background(), rec, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Get(ctx, "acme", "ctkn_1"); err != nil || got.Token != "ctkn_1" {
		t.Fatalf("Get: %v", err)
	}
	if _, err := e.Get(ctx, "other", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("another tenant: %v", err)
	}
	if _, err := e.GetByFingerprint(ctx, "acme", "fp1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("found by fingerprint: %v", err)
	}
	if _, err := b.Get(ctx, "acme", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatal("an ephemeral record reached the store")
	}
	time.Sleep(80 * time.Millisecond)
	if _, err := e.Get(ctx, "acme", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("after its TTL: %v", err)
	}
	if err := e.PutEphemeral(context.Background(), vaulttest.Sample("acme", "ctkn_2", "fp2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.Delete(ctx, "acme", "ctkn_2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(ctx, "acme", "ctkn_2"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
}

// The layer is bounded: past its limit new cards are refused, and room
// comes back as cards expire.
func TestEphemeralLimit(t *testing.T) {
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e := vault.NewEphemeralLimit(b, 2)
	for _, tok := range []string{"a", "b"} {
		if err := e.PutEphemeral(context.Background(), vaulttest.Sample("acme", tok, "fp"), 40*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.PutEphemeral(context.Background(), vaulttest.Sample("acme", "c", "fp"), time.Minute); !errors.Is(err, vault.ErrEphemeralFull) {
		t.Fatalf("past the limit: %v", err)
	}
	if _, err := e.Get(context.Background(), "acme", "a"); err != nil {
		t.Fatal("a held card was dropped to make room")
	}
	time.Sleep(60 * time.Millisecond)
	if err := e.PutEphemeral(context.Background(), vaulttest.Sample("acme", "c", "fp"), time.Minute); err != nil {
		t.Fatalf("after the others expired: %v", err)
	}
}

// mapShortLived is a ShortLivedStore in a map (no TTL), standing for Redis.
type mapShortLived map[string]vault.Record

func (m mapShortLived) PutShortLived(_ context.Context, rec vault.Record, _ time.Duration) error {
	m[rec.Tenant+"/"+rec.Token] = rec
	return nil
}

func (m mapShortLived) GetShortLived(_ context.Context, tenant, token string) (vault.Record, error) {
	if rec, ok := m[tenant+"/"+token]; ok {
		return rec, nil
	}
	return vault.Record{}, vault.ErrNotFound
}

func (m mapShortLived) DeleteShortLived(_ context.Context, tenant, token string) error {
	if _, ok := m[tenant+"/"+token]; !ok {
		return vault.ErrNotFound
	}
	delete(m, tenant+"/"+token)
	return nil
}

// With a shared store, short-lived cards go there (where every gateway
// finds them) and never to the vault or this process's memory; vault
// records are unaffected.
func TestEphemeralShared(t *testing.T) {
	ctx := context.Background()
	b := vaulttest.OpenBolt(t)
	shared := mapShortLived{}
	issuer, payer := vault.NewEphemeral(b), vault.NewEphemeral(b)
	issuer.Shared, payer.Shared = shared, shared
	if err := issuer.PutEphemeral(ctx, vaulttest.Sample("acme", "ctkn_1", "fp1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(shared) != 1 {
		t.Fatal("the short-lived card did not reach the shared store")
	}
	if got, err := payer.Get(ctx, "acme", "ctkn_1"); err != nil || got.Token != "ctkn_1" {
		t.Fatalf("another gateway's Get: %v", err)
	}
	if _, err := payer.GetByFingerprint(ctx, "acme", "fp1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("found by fingerprint: %v", err)
	}
	if _, err := b.Get(ctx, "acme", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatal("a short-lived record reached the vault")
	}
	if _, _, err := payer.Put(ctx, vaulttest.Sample("acme", "tok_1", "fp2")); err != nil {
		t.Fatal(err)
	}
	if got, err := payer.Get(ctx, "acme", "tok_1"); err != nil || got.Token != "tok_1" {
		t.Fatalf("a vault record through the layer: %v", err)
	}
	if err := payer.Delete(ctx, "acme", "ctkn_1"); err != nil || len(shared) != 0 {
		t.Fatalf("delete: %v, %d left", err, len(shared))
	}
	if err := payer.Delete(ctx, "acme", "tok_1"); err != nil {
		t.Fatalf("deleting a vault record: %v", err)
	}
	if err := payer.Delete(ctx, "acme", "nothing"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("deleting nothing: %v", err)
	}
}

// What a gateway puts in the shared store counts against its bound: its
// unauthenticated callers cannot fill Redis for every gateway.
func TestEphemeralSharedIsBounded(t *testing.T) {
	ctx := context.Background()
	b := vaulttest.OpenBolt(t)
	shared := mapShortLived{}
	e := vault.NewEphemeralLimit(b, 2)
	e.Shared = shared
	for _, tok := range []string{"a", "b"} {
		if err := e.PutEphemeral(ctx, vaulttest.Sample("acme", tok, "fp"), 40*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.PutEphemeral(ctx, vaulttest.Sample("acme", "c", "fp"), time.Minute); !errors.Is(err, vault.ErrEphemeralFull) {
		t.Fatalf("a third card over a bound of two: %v", err)
	}
	if err := e.Delete(ctx, "acme", "a"); err != nil {
		t.Fatal(err)
	}
	if err := e.PutEphemeral(ctx, vaulttest.Sample("acme", "c", "fp"), time.Minute); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	time.Sleep(60 * time.Millisecond) // "b" expires
	if err := e.PutEphemeral(ctx, vaulttest.Sample("acme", "d", "fp"), time.Minute); err != nil {
		t.Fatalf("after an expiry: %v", err)
	}
}
