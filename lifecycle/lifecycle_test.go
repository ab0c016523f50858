package lifecycle_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

func setup(t *testing.T) (*lifecycle.Manager, *network.Builtin, vault.Vault) {
	t.Helper()
	v, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	b, err := network.NewBuiltin(network.BuiltinConfig{Key: bytes.Repeat([]byte{3}, 32)}, network.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	m := &lifecycle.Manager{Vault: v, Keys: vaulttest.Keys(t), Networks: network.Registry{"builtin": b}, Provisioner: "builtin"}
	return m, b, v
}

// storeCard provisions a token for a card and stores a record holding it.
func storeCard(t *testing.T, m *lifecycle.Manager, v vault.Vault) vault.Record {
	t.Helper()
	nt, dpan := m.Provision(context.Background(), network.ProvisionRequest{Tenant: "acme", IdempotencyKey: "k1",
		PAN: "4111111111111111", ExpMonth: "12", ExpYear: "2035"})
	if dpan == "" || nt.ID == "" {
		t.Fatalf("Provision: %+v", nt)
	}
	rec := vaulttest.Sample("acme", "tok_1", "fp1")
	rec.Network = nt
	stored, _, err := v.Put(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

// RecordStatus writes over a change another writer made meanwhile (reading
// the record again), and never over a record whose token was replaced.
func TestRecordStatusAfterConflict(t *testing.T) {
	ctx := context.Background()
	m, _, v := setup(t)
	rec := storeCard(t, m, v)
	other := rec
	other.ExpYear = "2036" // another gateway refreshed the expiry
	if _, err := v.Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	m.RecordStatus(ctx, rec, network.StatusSuspended) // from the stale copy
	got, _ := v.Get(ctx, "acme", "tok_1")
	if got.Network.Status != network.StatusSuspended || got.ExpYear != "2036" {
		t.Fatalf("after a conflict: status %s, exp year %s; want SUSPENDED and the other writer's 2036", got.Network.Status, got.ExpYear)
	}

	replaced := got
	replaced.Network.ID = "another-token"
	replaced.Network.Status = network.StatusActive
	if _, err := v.Update(ctx, replaced); err != nil {
		t.Fatal(err)
	}
	m.RecordStatus(ctx, rec, network.StatusDeleted) // about the old token
	if got, _ := v.Get(ctx, "acme", "tok_1"); got.Network.Status != network.StatusActive {
		t.Fatalf("a status about the old token was written over the new one: %s", got.Network.Status)
	}
}

// Cryptogram asks the service that issued the token; without it the card
// takes the fallback with provider_unavailable, and a suspension the
// service reports is recorded.
func TestCryptogramRouting(t *testing.T) {
	ctx := context.Background()
	m, b, v := setup(t)
	rec := storeCard(t, m, v)
	if c, reason := m.Cryptogram(ctx, rec, network.CryptogramRequest{}); reason != "" || c.Value == "" {
		t.Fatalf("cryptogram: reason %q, value empty %v", reason, c.Value == "")
	}
	moved := rec
	moved.Network.Provider = "juspay"
	if _, reason := m.Cryptogram(ctx, moved, network.CryptogramRequest{}); reason != lifecycle.ReasonProviderUnavailable {
		t.Fatalf("a token of an unconfigured provider: reason %q, want %q", reason, lifecycle.ReasonProviderUnavailable)
	}
	if err := b.SetStatus(ctx, rec.Network.ID, network.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if _, reason := m.Cryptogram(ctx, rec, network.CryptogramRequest{}); reason != lifecycle.ReasonSuspended {
		t.Fatalf("suspended token: reason %q", reason)
	}
	if got, _ := v.Get(ctx, "acme", "tok_1"); got.Network.Status != network.StatusSuspended {
		t.Fatalf("the suspension was not recorded: %s", got.Network.Status)
	}
}

// Discard deletes the token at the service that issued it; a provisioning
// retried with the same idempotency key gets the same token back.
func TestDiscardAndIdempotentRetry(t *testing.T) {
	ctx := context.Background()
	m, b, _ := setup(t)
	req := network.ProvisionRequest{Tenant: "acme", IdempotencyKey: lifecycle.IdempotencyKey("acme", "fp", ""), PAN: "5555555555554444", ExpMonth: "12", ExpYear: "2035"}
	first, _ := m.Provision(ctx, req)
	again, _ := m.Provision(ctx, req)
	if first.ID == "" || again.ID != first.ID {
		t.Fatalf("a retried provisioning got %q after %q", again.ID, first.ID)
	}
	m.Discard(ctx, first)
	if tok, err := b.Get(ctx, first.ID); err != nil || tok.Status != network.StatusDeleted {
		t.Fatalf("after Discard: %s %v", tok.Status, err)
	}
	m.Provisioner = ""
	if nt, _ := m.Provision(ctx, req); nt.Error != lifecycle.ReasonNoTokenService {
		t.Fatalf("no provisioner: %+v", nt)
	}
}
