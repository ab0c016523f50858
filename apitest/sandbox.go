package apitest

import (
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/btapi"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// BasisTheorySandbox starts a second tokengate serving Basis Theory's API
// over real HTTP on loopback, with its own vault and builtin network token
// service, answering apiKey with every permission: the counterpart the
// Basis Theory provider is tested against. It stops with the test.
func BasisTheorySandbox(t testing.TB, apiKey string) *httptest.Server {
	t.Helper()
	v, err := boltvault.Open(filepath.Join(t.TempDir(), "sandbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	ks := vaulttest.Keys(t)
	b, err := network.NewBuiltin(network.BuiltinConfig{Key: ks.DeriveKey("sandbox")}, v.KV("network_tokens"))
	if err != nil {
		t.Fatal(err)
	}
	cvvs := cvvmem.New(time.Minute)
	t.Cleanup(func() { cvvs.Close() })
	eph := vault.NewEphemeral(v)
	lc := &lifecycle.Manager{Vault: eph, Keys: ks, Networks: network.Registry{"builtin": b}, Provisioner: "builtin", ProvisionTimeout: 2 * time.Second}
	all := map[btapi.Permission]bool{}
	for _, p := range btapi.Permissions {
		all[p] = true
	}
	s := &btapi.Server{
		Tokenizer: &tokenize.Tokenizer{Vault: eph, Ephemeral: eph, Keys: ks, Lifecycle: lc, CVVs: cvvs},
		Vault:     eph, Keys: ks, Lifecycle: lc,
		Authenticate: func(k string) (btapi.Principal, bool) {
			return btapi.Principal{Tenant: "sandbox", Permissions: all}, k == apiKey
		},
		Idempotency: btapi.NewIdempotency(1000, 24*time.Hour),
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}
