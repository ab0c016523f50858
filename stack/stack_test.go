package stack_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/stack"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// countingVault counts the reads that reach the backend.
type countingVault struct {
	vault.Vault
	gets atomic.Int64
}

func (c *countingVault) Get(ctx context.Context, tenant, token string) (vault.Record, error) {
	c.gets.Add(1)
	return c.Vault.Get(ctx, tenant, token)
}

func newStack(t *testing.T) (*stack.Stack, *countingVault) {
	t.Helper()
	ks := vaulttest.Keys(t)
	b := vaulttest.OpenBolt(t)
	builtin, err := network.NewBuiltin(network.BuiltinConfig{Key: ks.DeriveKey("test")}, b.KV("network_tokens"))
	if err != nil {
		t.Fatal(err)
	}
	cvvs := cvvmem.New(time.Minute)
	t.Cleanup(func() { cvvs.Close() })
	backend := &countingVault{Vault: b}
	return stack.New(stack.Config{Vault: backend, Keys: ks, CVVs: cvvs,
		Networks: network.Registry{"builtin": builtin}, Provisioner: "builtin", ProvisionTimeout: 2 * time.Second}), backend
}

// Every part works on the one Records object, the served APIs and the
// webhooks included: what one direction writes is what the other reads.
func TestEveryPartSharesRecords(t *testing.T) {
	s, _ := newStack(t)
	for name, v := range map[string]vault.Vault{
		"tokenizer":   s.Tokenizer.Vault,
		"detokenizer": s.Detokenizer.Vault,
		"lifecycle":   s.Lifecycle.Vault,
		"basistheory": s.BasisTheoryAPI().Vault,
		"juspay":      s.JuspayAPI().Vault,
		"webhooks":    s.Webhooks().Vault,
	} {
		if v != vault.Vault(s.Records) {
			t.Errorf("%s works on %T, not the stack's Records", name, v)
		}
	}
	for name, l := range map[string]any{"tokenizer": s.Tokenizer.Lifecycle, "detokenizer": s.Detokenizer.Lifecycle,
		"basistheory": s.BasisTheoryAPI().Lifecycle, "juspay": s.JuspayAPI().Lifecycle, "webhooks": s.Webhooks().Lifecycle} {
		if l != s.Lifecycle {
			t.Errorf("%s has its own lifecycle manager", name)
		}
	}
}

// The read cache is in the chain: a card stored once and read many times
// reaches the backend at most once, as in the app (apitest once built a
// stack without it).
func TestReadsGoThroughTheCache(t *testing.T) {
	s, backend := newStack(t)
	rec, created, err := s.Tokenizer.Store(t.Context(), "t1", rules.FormatPrefixed, "tok_",
		tokenize.Card{Number: str("number", "4111111111111111"), ExpMonth: str("exp_month", "12"), ExpYear: str("exp_year", "2030")})
	if err != nil || !created {
		t.Fatalf("store: %v (created %v)", err, created)
	}
	before := backend.gets.Load()
	for range 5 {
		if _, err := s.Records.Get(t.Context(), "t1", rec.Token); err != nil {
			t.Fatal(err)
		}
	}
	if n := backend.gets.Load() - before; n > 1 {
		t.Errorf("5 reads of a stored card reached the backend %d times; the read cache is not in the stack", n)
	}
}

func str(path, v string) *body.Value { return &body.Value{Path: path, Raw: v, IsString: true} }
