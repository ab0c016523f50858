package apitest

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/btapi"
	"github.com/tokengate/tokengate/juspayapi"
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
	st := NewStack(t)
	all := map[btapi.Permission]bool{}
	for _, p := range btapi.Permissions {
		all[p] = true
	}
	s := &btapi.Server{
		Tokenizer: st.Tokenizer, Vault: st.Vault, Keys: st.Keys, Lifecycle: st.Lifecycle,
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
	st := NewStack(t)
	m := juspayapi.Merchant{ID: merchantID, Tenant: "sandbox", Keys: map[string]*rsa.PublicKey{"merchant-key": &juspayMer.PublicKey}}
	s := &juspayapi.Server{
		Tokenizer: st.Tokenizer, Vault: st.Vault, Keys: st.Keys, Lifecycle: st.Lifecycle,
		Authenticate:   func(k string) (juspayapi.Merchant, bool) { return m, k == apiKey },
		MerchantByID:   func(id string) (juspayapi.Merchant, bool) { return m, id == merchantID },
		DecryptionKeys: map[string]*rsa.PrivateKey{"sandbox-kid": juspayServer},
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &JuspaySandbox{URL: srv.URL, ServerKey: &juspayServer.PublicKey, ServerKID: "sandbox-kid", MerchantKey: juspayMer, MerchantKID: "merchant-key"}
}
