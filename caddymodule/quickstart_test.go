package caddymodule

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// TestQuickStart runs the repository's Caddyfile.example, as the README's
// quick start does, and makes the README's requests against it. Only the
// admin address (for the test harness) and the data directory change.
func TestQuickStart(t *testing.T) {
	raw, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	rulesPath, _ := filepath.Abs("../rules.example.yaml")
	cfg := strings.Replace(string(raw), "{\n", "{\n\tadmin localhost:2999\n", 1)
	cfg = strings.Replace(cfg, "rules rules.example.yaml", "rules "+rulesPath, 1)
	cfg = strings.Replace(cfg, "./tokengate-data/vault.db", filepath.Join(t.TempDir(), "vault.db"), 1)
	tc := caddytest.NewTester(t)
	tc.InitServer(cfg, "caddyfile")
	g := &gateway{t: t, tc: tc}

	in := g.post("http://localhost:8080/checkout", jsonCT, `{"card":{"number":"4111111111111111","exp_month":"03","exp_year":"2030","cvc":"123"}}`)
	if in.status != http.StatusOK || strings.Contains(in.body, visaPAN) || strings.Contains(in.body, `"123"`) {
		t.Fatalf("merchant got %d %s", in.status, in.body)
	}
	out := g.post("http://localhost:8081/payments", jsonCT, in.body, "X-Tokengate-Api-Key", "demo_merchant_key")
	psp := decode(t, out.body)
	assertNetworkToken(t, str(psp, "card.number"), visaPAN)
	if len(str(psp, "card.cryptogram")) != 28 || str(psp, "card.eci") != "07" || str(psp, "card.exp_year") == "" {
		t.Fatalf("PSP got %s", out.body)
	}

	in = g.post("http://localhost:8080/checkout", formCT, "card_number=4111111111111111&card_exp_month=03&card_exp_year=2030&card_cvc=123")
	form, _ := url.ParseQuery(in.body)
	if !strings.HasPrefix(form.Get("card_number"), "tok_") || form.Has("card_cvc") {
		t.Fatalf("merchant got form %s", in.body)
	}
	out = g.post("http://localhost:8081/payments", formCT, in.body, "X-Tokengate-Api-Key", "demo_merchant_key")
	pspForm, _ := url.ParseQuery(out.body)
	assertNetworkToken(t, pspForm.Get("card_number"), visaPAN)
	if len(pspForm.Get("card_cryptogram")) != 28 {
		t.Fatalf("PSP got form %s", out.body)
	}
}
