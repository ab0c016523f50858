package caddymodule

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/signing"
)

// A rule set's sign block holds one merchant's Cybersource key, and a rule
// set is not bound to a tenant: every API key the gateway knows may send
// through it. Tenant B's request, with no token and a body of its choosing,
// leaves signed with merchant tokengate_test's key, as that merchant.
func TestAttackSignAnyTenant(t *testing.T) {
	secret, _ := base64.StdEncoding.DecodeString(cybsTestSecret)
	const keyID = "7d1c9e52-0000-4000-8000-tokengatetest"
	g := startGatewaySites(t, "", cybersourceSites)
	body := `{"clientReferenceInformation":{"code":"B"},"paymentInformation":{"customer":{"id":"A-CUSTOMER"}},"orderInformation":{"amountDetails":{"totalAmount":"1.00","currency":"USD"}}}`
	out := g.post("http://localhost:9083/pts/v2/payments", jsonCT, body, "X-Tokengate-Api-Key", apiKeyB)
	seen := seenRequest(out.header)
	if out.status == http.StatusOK && signing.VerifyCybersource(seen, []byte(body), keyID, secret) == nil {
		t.Fatal("tenant B's request went out signed as merchant " + out.header.Get("X-Seen-Merchant"))
	}
	// The set's sign names tenant_a: B is refused before anything is read
	// or sent, and A, the key's tenant, still signs.
	if out.status != http.StatusForbidden || !strings.Contains(out.body, `"sign_tenant_mismatch"`) || out.header.Get("X-Seen-Signature") != "" {
		t.Errorf("tenant B: %d %s, want 403 sign_tenant_mismatch and nothing sent", out.status, out.body)
	}
	a := g.post("http://localhost:9083/pts/v2/payments", jsonCT, body, "X-Tokengate-Api-Key", apiKeyA)
	if a.status != http.StatusOK || signing.VerifyCybersource(seenRequest(a.header), []byte(body), keyID, secret) != nil {
		t.Errorf("tenant A: %d, want its request signed", a.status)
	}
}

// The set is chosen by the path as Caddy's matcher reads it (unescaped and
// cleaned); the request leaves with the path as the merchant wrote it, and
// is signed over that. A path that is not the set's, spelled so that it
// cleans to the set's, is signed as the merchant's key. (Case is left
// aside: Caddy's matcher ignores it, and /PTS/v2/payments names no other
// endpoint.)
func TestAttackSignPathAsSent(t *testing.T) {
	g := startGatewaySites(t, "", cybersourceSites)
	for _, p := range []string{
		"/pts/v2/credits/../payments",
		"/pts/v2/credits/%2e%2e/payments",
		"/pts/v2/credits/%2E%2E/payments",
		"//pts/v2/payments",
		"/pts/v2//payments",
		"/pts/v2/payments/",
		"/pts/v2/payments%2f..%2f..%2fcredits",
	} {
		out := g.post("http://localhost:9083"+p, jsonCT, `{"a":1}`, "X-Tokengate-Api-Key", apiKeyA)
		t.Logf("%s -> %d injected %q seen uri %q signed %v", p, out.status, out.header.Get(InjectedHeader), out.header.Get("X-Seen-Uri"), out.header.Get("X-Seen-Signature") != "")
		if uri := out.header.Get("X-Seen-Uri"); out.header.Get("X-Seen-Signature") != "" && uri != "/pts/v2/payments" {
			t.Errorf("%s: signed with the merchant's key for request-target %q", p, uri)
		}
	}
}

// A careless integrator's base URL and path join to //pts/v2/payments: the
// transport refuses to sign it (502), but only after the card was read, its
// cryptogram spent and its held CVV taken. A signed set refuses such a path
// before detokenizing, with 400, so the corrected request still has its CVV.
func TestAttackSignPathRefusedBeforeDetokenizing(t *testing.T) {
	g := startGatewaySites(t, "", cybersourceSites)
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333"))
	token := str(decode(t, in.body), "card.number")
	out := g.post("http://localhost:9083//pts/v2/payments", jsonCT, cybersourceRequest(token), "X-Tokengate-Api-Key", apiKeyA)
	if out.status != http.StatusBadRequest || out.header.Get(InjectedHeader) != "" {
		t.Errorf("non-canonical path: %d %q %s, want 400 before detokenizing", out.status, out.header.Get(InjectedHeader), out.body)
	}
	ok := g.post("http://localhost:9083/pts/v2/payments", jsonCT, cybersourceRequest(token), "X-Tokengate-Api-Key", apiKeyA)
	if ok.status != http.StatusOK || !strings.Contains(lastReceived(t, g, "http://localhost:9085/received"), `"securityCode":"`+testCVV+`"`) {
		t.Errorf("the corrected request: %d %q, want its CVV sent", ok.status, ok.header.Get(InjectedHeader))
	}
}
