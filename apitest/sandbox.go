package apitest

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/btapi"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/juspayapi"
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
	return BasisTheorySandboxNotify(t, apiKey, nil)
}

// BasisTheorySandboxNotify is BasisTheorySandbox whose state changes are
// told to notify (a webhooks.Sender's Send, say).
func BasisTheorySandboxNotify(t testing.TB, apiKey string, notify func(tenantID, eventType string, networkToken any)) *httptest.Server {
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
		Notify:      notify,
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// JuspaySandbox is a second tokengate serving Juspay's APIs over real HTTP
// on loopback, for the Juspay provider's tests: one merchant (id and API key
// as given), its own vault and builtin network token service, and fresh
// RSA-2048 keys.
type JuspaySandbox struct {
	URL string
	// ServerKey is the sandbox's public key the card data is encrypted to,
	// named by ServerKID.
	ServerKey *rsa.PublicKey
	ServerKID string
	// MerchantKey is the merchant's private key answers are encrypted to,
	// named by MerchantKID.
	MerchantKey *rsa.PrivateKey
	MerchantKID string
}

var (
	juspayKeysOnce          sync.Once
	juspayServer, juspayMer *rsa.PrivateKey
)

// NewJuspaySandbox starts the sandbox; it stops with the test.
func NewJuspaySandbox(t testing.TB, merchantID, apiKey string) *JuspaySandbox {
	t.Helper()
	juspayKeysOnce.Do(func() {
		var err error
		if juspayServer, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
			juspayMer, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			panic(err)
		}
	})
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
	m := juspayapi.Merchant{ID: merchantID, Tenant: "sandbox", Keys: map[string]*rsa.PublicKey{"merchant-key": &juspayMer.PublicKey}}
	s := &juspayapi.Server{
		Tokenizer: &tokenize.Tokenizer{Vault: eph, Ephemeral: eph, Keys: ks, Lifecycle: lc, CVVs: cvvs},
		Vault:     eph, Keys: ks, Lifecycle: lc,
		Authenticate:   func(k string) (juspayapi.Merchant, bool) { return m, k == apiKey },
		MerchantByID:   func(id string) (juspayapi.Merchant, bool) { return m, id == merchantID },
		DecryptionKeys: map[string]*rsa.PrivateKey{"sandbox-kid": juspayServer},
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &JuspaySandbox{URL: srv.URL, ServerKey: &juspayServer.PublicKey, ServerKID: "sandbox-kid", MerchantKey: juspayMer, MerchantKID: "merchant-key"}
}
