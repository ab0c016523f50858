package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/tokengate/tokengate/apitest"
)

// TestBasisTheoryProvider: a gateway whose network is basistheory gets its
// network tokens from a second tokengate serving Basis Theory's API over
// real HTTP; inbound and outbound work unchanged on top of it, and a test
// card's refusal reads the same as with the builtin service.
func TestBasisTheoryProvider(t *testing.T) {
	sandbox := apitest.BasisTheorySandbox(t, "sandbox_key")
	g := startGateway(t, "network basistheory {\n\t\t\tbase_url "+sandbox.URL+"\n\t\t\tapi_key sandbox_key\n\t\t}")

	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	rec, err := g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token)
	if in.status != http.StatusOK || err != nil || rec.Network.Provider != "basistheory" || rec.Network.Status != "ACTIVE" {
		t.Fatalf("tokenize through Basis Theory: %d %s (%+v)", in.status, in.body, rec.Network.Error)
	}
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	psp := decode(t, out.body)
	if out.status != http.StatusOK || out.header.Get(InjectedHeader) != "card.number=network_token" {
		t.Fatalf("detokenize through Basis Theory: %d %s %q", out.status, out.body, out.header.Get(InjectedHeader))
	}
	if n := str(psp, "card.number"); len(n) != 16 || n == visaPAN || len(str(psp, "card.cryptogram")) == 0 {
		t.Fatalf("the PSP did not get Basis Theory's network token and cryptogram: %d digits", len(n))
	}

	refused := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333"))
	rec, _ = g.app().stack.Load().Records.Get(t.Context(), "tenant_a", str(decode(t, refused.body), "card.number"))
	if rec.Network.Error != "card_not_eligible" || rec.Network.ID != "" {
		t.Fatalf("a test card through Basis Theory: %+v", rec.Network.Error)
	}
	if strings.Contains(g.log(), visaPAN) || strings.Contains(g.log(), "4539097887163333") {
		t.Fatal("a card number reached the log")
	}
}

// Rule sets choose their network token service: with builtin and
// basistheory configured, a set naming basistheory provisions through it and
// another through the first configured; a set naming an unconfigured one
// fails the config load, naming the file and line.
func TestRuleSetChoosesNetwork(t *testing.T) {
	sandbox := apitest.BasisTheorySandbox(t, "sandbox_key")
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(`
inbound:
  via_bt:
    tenant: t1
    network: basistheory
    match: {paths: ["/bt"]}
    fields: [{kind: pan, json: card.number}, {kind: exp_month, json: card.exp_month}, {kind: exp_year, json: card.exp_year}]
  default:
    tenant: t1
    fields: [{kind: pan, json: card.number}, {kind: exp_month, json: card.exp_month}, {kind: exp_year, json: card.exp_year}]
outbound: {}
`), 0o600)
	cfg := func(networks string) string {
		return "{\n\ttokengate {\n\t\trules " + rules + "\n\t\tvault bolt " + filepath.Join(dir, "v.db") + "\n" + networks + "\n\t}\n}\n:9080 {\n\ttokenize\n\trespond \"{http.request.body}\"\n}\n"
	}
	g := &gateway{t: t, dir: dir}
	g.load(cfg("\t\tnetwork builtin\n\t\tnetwork basistheory {\n\t\t\tbase_url " + sandbox.URL + "\n\t\t\tapi_key sandbox_key\n\t\t}"))
	for _, tc := range []struct{ path, pan, provider string }{{"/bt", visaPAN, "basistheory"}, {"/other", "4242424242424242", "builtin"}} {
		in := g.post(inboundURL+tc.path, jsonCT, `{"card":{"number":"`+tc.pan+`","exp_month":"03","exp_year":"2030"}}`)
		rec, err := g.app().stack.Load().Records.Get(t.Context(), "t1", str(decode(t, in.body), "card.number"))
		if err != nil || rec.Network.Provider != tc.provider {
			t.Errorf("%s: provisioned by %q (%v), want %s", tc.path, rec.Network.Provider, err, tc.provider)
		}
	}

	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg("\t\tnetwork builtin")), nil)
	if err != nil {
		t.Fatal(err)
	}
	var c caddy.Config
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&c); err == nil || !strings.Contains(err.Error(), `names network "basistheory", which is not configured`) || !strings.Contains(err.Error(), "rules.yaml:") {
		t.Fatalf("a rule set naming an unconfigured network: %v", err)
	}
}

// The provider down: the checkout still goes through with a vault-only
// token and the reason, the card is kept (and retried when it comes back),
// and nothing holds the card number.
func TestProviderDown(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	g := startGateway(t, "provision_timeout 500ms\n\t\tnetwork basistheory {\n\t\t\tbase_url "+url+"\n\t\t\tapi_key k\n\t\t}")
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	rec, err := g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token)
	if in.status != http.StatusOK || err != nil || rec.Network.ID != "" || rec.Network.Error != "provider_error" {
		t.Fatalf("checkout with the provider down: %d (%v, %q)", in.status, err, rec.Network.Error)
	}
	if strings.Contains(in.body, visaPAN) || strings.Contains(g.log(), visaPAN) {
		t.Fatal("the card number leaked")
	}
}
