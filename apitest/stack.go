package apitest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// Stack is what a served API works on, as the tokengate app wires it: a
// bbolt vault with the short-lived layer over it, the test keyset, the
// builtin network token service, a memory CVV store, the lifecycle manager
// and the tokenizer. It is closed with the test.
type Stack struct {
	Vault     *vault.ShortLived // over Bolt
	Bolt      *boltvault.Bolt
	Keys      *keys.Keys
	Builtin   *network.Builtin
	CVVs      *cvvmem.Store
	Lifecycle *lifecycle.Manager
	Tokenizer *tokenize.Tokenizer
}

// NewStack builds a fresh stack in the test's temporary directory.
func NewStack(t testing.TB) *Stack {
	t.Helper()
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ks := vaulttest.Keys(t)
	builtin, err := network.NewBuiltin(network.BuiltinConfig{Key: ks.DeriveKey("test")}, b.KV("network_tokens"))
	if err != nil {
		t.Fatal(err)
	}
	cvvs := cvvmem.New(time.Minute)
	t.Cleanup(func() { cvvs.Close() })
	shortLived := vault.NewShortLived(b)
	lc := &lifecycle.Manager{Vault: shortLived, Keys: ks, Networks: network.Registry{"builtin": builtin}, Provisioner: "builtin", ProvisionTimeout: 2 * time.Second}
	return &Stack{Vault: shortLived, Bolt: b, Keys: ks, Builtin: builtin, CVVs: cvvs, Lifecycle: lc,
		Tokenizer: &tokenize.Tokenizer{Vault: shortLived, ShortLived: shortLived, Keys: ks, Lifecycle: lc, CVVs: cvvs}}
}
