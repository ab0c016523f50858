package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestRouteChecksRefuseConfigs: configs in which a detokenized request could
// reach a reverse_proxy that would not deliver it to a named destination fail
// to load, and `caddy validate` says so too.
func TestRouteChecksRefuseConfigs(t *testing.T) {
	tests := []struct{ name, sites, want string }{
		{"no tokengate transport", `
:9081 {
	detokenize psp
	reverse_proxy localhost:9082
}`, "must use `transport tokengate`"},
		{"a route reached through invoke", `
&(elsewhere) {
	reverse_proxy localhost:9083 {
		transport tokengate
	}
}
:9081 {
	detokenize psp
	invoke elsewhere
}`, "sends to localhost:9083, which outbound rule set"},
		{"handle_response routes", `
:9081 {
	detokenize psp
	reverse_proxy localhost:9082 {
		transport tokengate
		@err status 5xx
		handle_response @err {
			reverse_proxy localhost:9083
		}
	}
}`, "must use `transport tokengate`"},
		{"intercept routes", `
:9081 {
	detokenize psp
	intercept {
		handle_response {
			reverse_proxy localhost:9083 {
				transport tokengate
			}
		}
	}
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}`, "sends to localhost:9083"},
		{"network_proxy", `
:9081 {
	detokenize psp
	reverse_proxy localhost:9082 {
		transport tokengate {
			network_proxy url http://localhost:9083
		}
	}
}`, "network_proxy is not allowed"},
		{"unverified TLS", `
:9081 {
	detokenize psp
	reverse_proxy localhost:9082 {
		transport tokengate {
			tls_insecure_skip_verify
		}
	}
}`, "tls_insecure_skip_verify is not allowed"},
		{"an unknown rule set", `
:9081 {
	detokenize nope
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}`, `no outbound rule set`},
		// A refused request still holds the card data it was refused for:
		// handle_errors must not proxy it (to the merchant's error pages,
		// say) in a server that takes card data.
		{"handle_errors proxies after tokenize", `
:9080 {
	tokenize checkout
	reverse_proxy localhost:9082
	handle_errors {
		rewrite * /error
		reverse_proxy localhost:9082
	}
}`, "handle_errors proxies"},
		{"handle_errors proxies after a served API", `
:9080 {
	basistheory_api {
		api_key bt_key tenant_a network-token:create
	}
	handle_errors {
		php_fastcgi localhost:9000
	}
}`, "handle_errors proxies"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &gateway{t: t, dir: t.TempDir()}
			g.logFile = filepath.Join(g.dir, "caddy.log")
			cfg := g.config("", tc.sites)
			assertLoadError(t, cfg, tc.want)
			if err := validate(t, cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("caddy validate: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestPlaintextDestinationsNeedTLS: a destination off this machine needs a
// transport with TLS unless the rule set allows plaintext.
func TestPlaintextDestinationsNeedTLS(t *testing.T) {
	dir := t.TempDir()
	rules := func(extra string) string {
		p := filepath.Join(dir, "rules"+fmt.Sprint(len(extra))+".yaml")
		os.WriteFile(p, []byte(`outbound:
  remote:
    destinations: ["psp.example.com:80"]
`+extra+`    fields:
      - {kind: token, json: card.number}
`), 0o600)
		return p
	}
	cfg := func(rulesPath string) string {
		return fmt.Sprintf(`{
	admin off
	tokengate {
		rules %s
		vault bolt %s
		api_key k t
	}
}
:9081 {
	detokenize remote
	reverse_proxy psp.example.com:80 {
		transport tokengate
	}
}`, rulesPath, filepath.Join(dir, "vault.db"))
	}
	if err := validate(t, cfg(rules(""))); err == nil || !strings.Contains(err.Error(), "without TLS") {
		t.Errorf("plaintext to a remote destination: %v", err)
	}
	if err := validate(t, cfg(rules("    allow_plaintext: true\n"))); err != nil {
		t.Errorf("with allow_plaintext: %v", err)
	}
}

// validate runs what `caddy validate` runs on a Caddyfile.
func validate(t *testing.T, caddyfile string) error {
	t.Helper()
	js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return err
	}
	var cfg *caddy.Config
	if err := caddy.StrictUnmarshalJSON(js, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(cfg)
}

// TestDetokenizedDataOnlyLeavesTowardDestinations: whatever the config does
// with a detokenized request, card data exists only in the request the
// tokengate transport sends to a destination.
func TestDetokenizedDataOnlyLeavesTowardDestinations(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	accessLog := filepath.Join(g.dir, "access.log")
	g.load(g.config("", `
:9080 {
	tokenize
	respond "{http.request.body}"
}
:9081 {
	log {
		output file `+accessLog+`
	}
	log_append body {http.request.body}
	@echo header X-Mode echo
	handle @echo {
		detokenize psp
		respond "{http.request.body}"
	}
	@dynamic header X-Mode dynamic
	handle @dynamic {
		detokenize psp
		reverse_proxy {http.request.header.X-Upstream} {
			transport tokengate
		}
	}
	handle {
		detokenize psp
		reverse_proxy localhost:9082 {
			transport tokengate
		}
	}
}
:9082 {
	@evil host evil.test
	respond @evil "evil site got {http.request.body}"
	demo_psp
}
:9083 {
	demo_psp
}`))

	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	pay := func(headers ...string) reply {
		return g.post(outboundURL+"/payments", jsonCT, in.body, append([]string{"X-Tokengate-Api-Key", apiKeyA}, headers...)...)
	}

	// The normal path delivers, and tells us the DPAN and cryptogram.
	if r := pay(); r.status != http.StatusOK {
		t.Fatalf("payment: %d %s", r.status, r.body)
	}
	var received []struct{ Body, Host string }
	req, _ := http.NewRequest(http.MethodGet, "http://localhost:9082/received", nil)
	json.Unmarshal([]byte(g.do(req).body), &received)
	if len(received) != 1 || received[0].Host != g.addr("localhost:9082") {
		t.Fatalf("PSP received %d requests", len(received))
	}
	psp := decode(t, received[0].Body)
	dpan, crypt := str(psp, "card.number"), str(psp, "card.cryptogram")
	assertNetworkToken(t, dpan, visaPAN)

	// respond after detokenize answers with the tokens.
	if r := pay("X-Mode", "echo"); r.body != in.body {
		t.Errorf("respond after detokenize answered %q, want the tokenized body", r.body)
	}
	// A merchant-chosen Host does not steer the request to another site on
	// the destination.
	if r := pay("Host", "evil.test"); strings.HasPrefix(r.body, "evil site") || r.status != http.StatusOK {
		t.Errorf("Host: evil.test reached the other site: %d", r.status)
	}
	// An upstream chosen per request is checked per request.
	if r := pay("X-Mode", "dynamic", "X-Upstream", g.addr("localhost:9083")); r.status != http.StatusBadGateway {
		t.Errorf("dynamic upstream off the list: %d, want 502", r.status)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://localhost:9083/received", nil)
	if got := g.do(req).body; strings.TrimSpace(got) != "null" {
		t.Errorf("a server that is no destination received %s", got)
	}
	if r := pay("X-Mode", "dynamic", "X-Upstream", g.addr("localhost:9082")); r.status != http.StatusOK {
		t.Errorf("dynamic upstream on the list: %d", r.status)
	}
	if !strings.Contains(g.log(), "does not list it in destinations") {
		t.Error("the refused delivery was not logged")
	}
	wantRequestIDLogged(t, g, `"msg":"detokenized request not sent"`) // tokengate's line, not Caddy's error log

	logged, _ := os.ReadFile(accessLog)
	if !strings.Contains(string(logged), token) {
		t.Fatal("the access log did not record the body at all; the test proves nothing")
	}
	for where, text := range map[string]string{"access log": string(logged), "error log": g.log()} {
		for _, secret := range []string{dpan, crypt, visaPAN} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds detokenized data", where)
			}
		}
	}
}

// TestResponseGuard: what the processor echoes reaches the merchant with the
// network token, PAN and CVV replaced, and other card numbers masked.
func TestResponseGuard(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	g.load(g.config("", `
:9080 {
	tokenize
	respond "{http.request.body}"
}
:9081 {
	detokenize
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}
:9082 {
	header X-Psp-Echo "{http.request.body}"
	header X-Other-Card "5555 5555 5555 4444"
	demo_psp
}`))

	for _, tc := range []struct{ name, pan, want string }{
		{"network token", visaPAN, "card.number=network_token"},
		{"PAN fallback", "4539097887163333", "card.number=pan;reason=card_not_eligible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(tc.pan))
			token := str(decode(t, in.body), "card.number")
			out := g.post(outboundURL+"/guarded/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
			if out.status != http.StatusOK || out.header.Get(InjectedHeader) != tc.want {
				t.Fatalf("%d %q %s", out.status, out.header.Get(InjectedHeader), out.body)
			}
			echo := decode(t, out.body)
			received := lastReceived(t, g, "http://localhost:9082/received")
			psp := decode(t, received)
			// Every card number comes back masked alike, the one sent too:
			// its token would tell it apart (issue 15 item 1).
			if str(echo, "card.number") != masked(str(psp, "card.number")) || strings.Contains(out.body, token) {
				t.Errorf("card.number came back as something else than the number sent, masked")
			}
			if c := str(echo, "card.cryptogram"); c != "" && c != "***" {
				t.Errorf("cryptogram came back unmasked")
			}
			if c := str(echo, "card.cvc"); c != "" && c != "***" {
				t.Errorf("CVV came back unmasked")
			}
			if h := out.header.Get("X-Psp-Echo"); !strings.Contains(h, masked(str(psp, "card.number"))) {
				t.Errorf("echo header was not masked: %q", h)
			}
			if h := out.header.Get("X-Other-Card"); h != "5555 55** **** 4444" {
				t.Errorf("other card in a header: %q", h)
			}
			for _, secret := range []string{tc.pan, str(psp, "card.number"), str(psp, "card.cryptogram"), `"` + str(psp, "card.cvc") + `"`} {
				if secret != "" && secret != `""` && (strings.Contains(out.body, secret) || strings.Contains(fmt.Sprint(out.header), secret)) {
					t.Errorf("the merchant got back a value the PSP received")
				}
			}
		})
	}
}

// TestHandlersWithoutTheApp: a Caddyfile with tokenize but no tokengate
// option is refused when adapted; a JSON config that has the handler but not
// the app loads, and the handler fails closed.
func TestHandlersWithoutTheApp(t *testing.T) {
	assertLoadError(t, `{
}
:9080 {
	tokenize
	respond "{http.request.body}"
}`, "tokenize needs the tokengate global option")

	g := &gateway{t: t}
	g.loadJSON(`{
  "apps": {"http": {"servers": {"in": {"listen": [":9080"], "routes": [{"handle": [
    {"handler": "tokenize"},
    {"handler": "static_response", "body": "{http.request.body}"}]}]}}}}
}`)
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); r.status != http.StatusInternalServerError || strings.Contains(r.body, visaPAN) {
		t.Fatalf("tokenize without the app: %d %s", r.status, r.body)
	}
}
