package apitest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/stack"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// Stack is what a served API works on, built by stack.New as the tokengate
// app builds it: a bbolt vault under the read cache and the short-lived
// layer, the test keyset, the builtin network token service, a memory CVV
// store, the lifecycle manager and the tokenizer. It is closed with the test.
type Stack struct {
	*stack.Stack
	Vault   *vault.ShortLived // the stack's Records: what the served APIs use
	Bolt    *boltvault.Bolt   // the backend under it
	Builtin *network.Builtin
	CVVs    *cvvmem.Store
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
	builtin, err := network.NewBuiltin(network.BuiltinConfig{Key: ks.DeriveKey("test")}, b.KV("network_tokens").KeepInMemory(network.DPANReservationPrefix))
	if err != nil {
		t.Fatal(err)
	}
	cvvs := cvvmem.New(time.Minute)
	t.Cleanup(func() { cvvs.Close() })
	s := stack.New(stack.Config{Vault: b, Keys: ks, CVVs: cvvs,
		Networks: network.Registry{"builtin": builtin}, Provisioner: "builtin", ProvisionTimeout: 2 * time.Second})
	return &Stack{Stack: s, Vault: s.Records, Bolt: b, Builtin: builtin, CVVs: cvvs}
}
