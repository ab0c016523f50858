package caddymodule

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/apitest"
	"github.com/tokengate/tokengate/webhooks"
)

// TestWebhookFollowsSandbox: a gateway provisions through a Basis Theory
// sandbox; the token is suspended there; the signed event reaches the
// gateway's tokengate_webhooks site, the vault records the suspension, and
// the next detokenize takes the fallback with reason suspended.
func TestWebhookFollowsSandbox(t *testing.T) {
	sandbox := apitest.BasisTheorySandbox(t, "sandbox_key")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubFile := filepath.Join(t.TempDir(), "bt-webhooks.pub.pem")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	sites := defaultSites + `
:9085 {
	tokengate_webhooks basistheory {
		public_key ` + pubFile + `
	}
}
`
	g := startGatewaySites(t, "network basistheory {\n\t\t\tbase_url "+sandbox.URL+"\n\t\t\tapi_key sandbox_key\n\t\t}", sites)
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	rec, err := g.app().tokenizer.Vault.Get(t.Context(), "tenant_a", token)
	if err != nil || rec.Network.Provider != "basistheory" {
		t.Fatalf("tokenize: %v", err)
	}

	// Suspended at the provider.
	req, _ := http.NewRequest(http.MethodPut, sandbox.URL+"/network-tokens/"+rec.Network.ID+"/suspend", nil)
	req.Header.Set("BT-API-KEY", "sandbox_key")
	if r := g.do(req); r.status != 200 {
		t.Fatalf("suspend at the sandbox: %d %s", r.status, r.body)
	}
	// The provider's signed event.
	body := `{"event":{"id":"ev-1","type":"network-token.updated","timestamp":"` + time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano) +
		`","data":{"network_token":{"id":"` + rec.Network.ID + `","status":"suspended"}}},"delivered_at":"now"}`
	stable, _ := webhooks.StableStringify([]byte(body))
	sum := sha256.Sum256(stable)
	sig, _ := rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], nil)
	send := func(signature string) reply {
		r, _ := http.NewRequest(http.MethodPost, "http://localhost:9085/", strings.NewReader(body))
		r.Header.Set("BT-SIGNATURE", signature)
		return g.do(r)
	}
	if r := send(base64.StdEncoding.EncodeToString([]byte("forged"))); r.status != http.StatusUnauthorized {
		t.Fatalf("a forged event: %d", r.status)
	}
	if r := send(base64.StdEncoding.EncodeToString(sig)); r.status != 200 || !strings.Contains(r.body, "updated") {
		t.Fatalf("the event: %d %s", r.status, r.body)
	}
	rec, _ = g.app().tokenizer.Vault.Get(t.Context(), "tenant_a", token)
	if rec.Network.Status != "SUSPENDED" {
		t.Fatalf("the vault says %s", rec.Network.Status)
	}
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	if out.header.Get(InjectedHeader) != "card.number=pan;reason=suspended" {
		t.Fatalf("detokenize after the suspension: %d %q", out.status, out.header.Get(InjectedHeader))
	}
}

// TestSandboxEmitsWebhooks: the served Basis Theory API sends its own
// signed events, so a gateway provisioning through it follows a suspension
// with no hand-made event: the two are tested against each other.
func TestSandboxEmitsWebhooks(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubFile := filepath.Join(t.TempDir(), "bt-webhooks.pub.pem")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	sender, err := webhooks.NewSender("http://localhost:9085/", key)
	if err != nil {
		t.Fatal(err)
	}
	sandbox := apitest.BasisTheorySandboxNotify(t, "sandbox_key", sender.Send)
	sites := defaultSites + `
:9085 {
	tokengate_webhooks basistheory {
		public_key ` + pubFile + `
	}
}
`
	g := startGatewaySites(t, "network basistheory {\n\t\t\tbase_url "+sandbox.URL+"\n\t\t\tapi_key sandbox_key\n\t\t}", sites)
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	rec, _ := g.app().tokenizer.Vault.Get(t.Context(), "tenant_a", token)
	req, _ := http.NewRequest(http.MethodDelete, sandbox.URL+"/network-tokens/"+rec.Network.ID, nil)
	req.Header.Set("BT-API-KEY", "sandbox_key")
	if r := g.do(req); r.status != http.StatusNoContent {
		t.Fatalf("delete at the sandbox: %d", r.status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for rec.Network.Status != "DELETED" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		rec, _ = g.app().tokenizer.Vault.Get(t.Context(), "tenant_a", token)
	}
	if rec.Network.Status != "DELETED" {
		t.Fatalf("the sandbox's event did not reach the gateway: %s", rec.Network.Status)
	}
}
