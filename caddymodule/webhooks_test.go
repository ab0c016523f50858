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
	rec, err := g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token)
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
	rec, _ = g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token)
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
	g := &gateway{t: t}
	sender, err := webhooks.NewSender(g.addr("http://localhost:9085/"), key)
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
	g.start("network basistheory {\n\t\t\tbase_url "+sandbox.URL+"\n\t\t\tapi_key sandbox_key\n\t\t}", sites)
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	rec, _ := g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token)
	req, _ := http.NewRequest(http.MethodDelete, sandbox.URL+"/network-tokens/"+rec.Network.ID, nil)
	req.Header.Set("BT-API-KEY", "sandbox_key")
	if r := g.do(req); r.status != http.StatusNoContent {
		t.Fatalf("delete at the sandbox: %d", r.status)
	}
	deadline := time.Now().Add(30 * time.Second) // generous: it comes in milliseconds
	for rec.Network.Status != "DELETED" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		rec, _ = g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token)
	}
	if rec.Network.Status != "DELETED" {
		t.Fatalf("the sandbox's event did not reach the gateway: %s", rec.Network.Status)
	}
}

// TestWebhookOrderingThroughCaddy is issue 15 item 10 through a real Caddy:
// a suspension delivered late, then the activation that followed it one
// second later, must leave the token active (the receiver compared event
// times with the record's updated_at and answered the activation "stale");
// and a deletion timed before an unrelated write of the record (the same
// card entered again with a later expiry) must still delete it (it was
// answered "stale" and the deleted token kept paying).
func TestWebhookOrderingThroughCaddy(t *testing.T) {
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
	rec, err := g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token)
	if err != nil || rec.Network.Provider != "basistheory" {
		t.Fatalf("tokenize: %v", err)
	}
	event := func(typ, status string, at time.Time) string {
		body := `{"event":{"id":"ev-` + status + `","type":"` + typ + `","timestamp":"` + at.UTC().Format(time.RFC3339Nano) +
			`","data":{"network_token":{"id":"` + rec.Network.ID + `","status":"` + status + `"}}},"delivered_at":"now"}`
		stable, _ := webhooks.StableStringify([]byte(body))
		sum := sha256.Sum256(stable)
		sig, _ := rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], nil)
		r, _ := http.NewRequest(http.MethodPost, "http://localhost:9085/", strings.NewReader(body))
		r.Header.Set("BT-SIGNATURE", base64.StdEncoding.EncodeToString(sig))
		out := g.do(r)
		if out.status != 200 {
			t.Fatalf("%s %s: %d %s", typ, status, out.status, out.body)
		}
		return out.body
	}
	// The sandbox's state follows the network's, as the events report it.
	atSandbox := func(method, path string) {
		req, _ := http.NewRequest(method, sandbox.URL+"/network-tokens/"+rec.Network.ID+path, nil)
		req.Header.Set("BT-API-KEY", "sandbox_key")
		if r := g.do(req); r.status >= 300 {
			t.Fatalf("%s %s at the sandbox: %d", method, path, r.status)
		}
	}
	pay := func() string {
		return g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA).header.Get(InjectedHeader)
	}

	t1 := time.Now().Add(-time.Minute) // before the card was stored
	atSandbox(http.MethodPut, "/suspend")
	if out := event("network-token.updated", "suspended", t1); !strings.Contains(out, `"updated"`) {
		t.Fatalf("the late suspension: %s", out)
	}
	if got := pay(); got != "card.number=pan;reason=suspended" {
		t.Fatalf("pay while suspended: %q", got)
	}
	atSandbox(http.MethodPut, "/resume")
	if out := event("network-token.updated", "active", t1.Add(time.Second)); !strings.Contains(out, `"updated"`) {
		t.Fatalf("the activation one second after the suspension: %s (the token stays suspended)", out)
	}
	if got := pay(); got != "card.number=network_token" {
		t.Fatalf("pay after the activation: %q", got)
	}

	deletedAt := time.Now()
	later := strings.Replace(checkoutJSON(visaPAN), `"exp_year":"2030"`, `"exp_year":"2031"`, 1)
	if again := g.post(inboundURL+"/checkout", jsonCT, later); str(decode(t, again.body), "card.number") != token {
		t.Fatalf("the same card entered again: %d %s", again.status, again.body)
	}
	if rec, _ = g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token); rec.ExpYear != "2031" || !rec.UpdatedAt.After(deletedAt) {
		t.Fatalf("the unrelated write did not happen after the deletion's time (exp %s)", rec.ExpYear)
	}
	atSandbox(http.MethodDelete, "")
	if out := event("network-token.deleted", "inactive", deletedAt); !strings.Contains(out, `"updated"`) {
		t.Fatalf("the deletion after an unrelated write: %s (the deleted token keeps paying)", out)
	}
	if got := pay(); strings.Contains(got, "network_token") {
		t.Fatalf("pay after the deletion: %q, the deleted network token still pays", got)
	}
	deletedID := rec.Network.ID
	if rec, _ = g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token); rec.Network.ID == deletedID && rec.Network.Status != "DELETED" {
		t.Fatalf("status %s after the deletion", rec.Network.Status)
	}
}
