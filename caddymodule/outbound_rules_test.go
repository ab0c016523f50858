package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/rules"
)

// lyingRules is the rule set of issue 15, item 8: the token is read from
// JSON and forms, the number and cryptogram are written in forms only.
const lyingRules = `outbound:
  psp:
    destinations: ["localhost:9082"]
    fields:
      - {kind: token, json: payment_method.card.number, form: card_number}
      - {kind: number, form: card_number}
      - {kind: cryptogram, form: card_cryptogram}
`

// TestRulesThatWouldLieDoNotLoad: `caddy validate` and a config load refuse
// the rule set, naming the rules file and line.
func TestRulesThatWouldLieDoNotLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte(lyingRules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `{
	tokengate {
		rules ` + path + `
		vault bolt ` + filepath.Join(dir, "vault.db") + `
		api_key k t
	}
}
:9081 {
	detokenize psp
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}`
	want := path + `:6: outbound "psp": field 2: number has form but no json`
	if err := validate(t, cfg); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("caddy validate: %v, want %q", err, want)
	}
	// The admin API answers the error JSON-encoded: match up to the quotes.
	assertLoadError(t, cfg, path+":6: outbound")
}

// TestTokenNotReplacedIsNeverForwarded: with a rule set that Load would
// refuse (put in place behind the loader's back, as a rule set built in
// code could be), a JSON payment whose token cannot be replaced is answered
// 500 and reaches no processor, with a log line naming the rule set and
// the field and no value; Tokengate-Injected is only sent for a body that
// holds what it says, and never carries a value.
func TestTokenNotReplacedIsNeverForwarded(t *testing.T) {
	g := startGatewaySites(t, "", demoPSPSites)
	set, ok := g.app().rules.OutboundSet("strict")
	if !ok {
		t.Fatal("no strict set")
	}
	// The rule set, as Load would have built it before the check.
	set.Fields = []rules.Field{
		{Kind: rules.KindToken, JSON: "payment_method.card.number", Form: "card_number"},
		{Kind: rules.KindNumber, Form: "card_number"},
		{Kind: rules.KindCryptogram, Form: "card_cryptogram"},
	}

	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	if !strings.HasPrefix(token, "tok_") {
		t.Fatalf("checkout: %d %s", in.status, in.body)
	}
	out := g.post(outboundURL+"/strict/payments", jsonCT, `{"payment_method":{"card":{"number":"`+token+`"}}}`, "X-Tokengate-Api-Key", apiKeyA)
	e := decode(t, out.body)
	if out.status != http.StatusInternalServerError || str(e, "error_code") != "token_not_replaced" || str(e, "error_info.fields.0.field_name") != "payment_method.card.number" {
		t.Fatalf("JSON payment: %d %s", out.status, out.body)
	}
	if h := out.header.Get(InjectedHeader); h != "" {
		t.Errorf("%s = %q on a payment that was not sent", InjectedHeader, h)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://localhost:9082/received", nil)
	if got := strings.TrimSpace(g.do(req).body); got != "null" && got != "[]" {
		t.Fatalf("the processor received %s", got)
	}
	logged := g.log()
	var line string
	for _, l := range strings.Split(logged, "\n") {
		if strings.Contains(l, "request not forwarded (fix the rule set)") {
			line = l
		}
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(line), &entry); err != nil || entry["level"] != "error" || entry["rule_set"] != "strict" || entry["field"] != "payment_method.card.number" {
		t.Errorf("log line %q", line)
	}
	if strings.Contains(logged, token) || strings.Contains(logged, visaPAN) {
		t.Error("the log holds the token or the PAN")
	}

	// The same set in a form body writes the number: the header says so,
	// and the processor has the network token there.
	form := url.Values{"card_number": {token}}.Encode()
	out = g.post(outboundURL+"/strict/payments", formCT, form, "X-Tokengate-Api-Key", apiKeyA)
	if out.status != http.StatusOK || out.header.Get(InjectedHeader) != "card_number=network_token" {
		t.Fatalf("form payment: %d %q %s", out.status, out.header.Get(InjectedHeader), out.body)
	}
	psp, _ := url.ParseQuery(lastReceived(t, g, "http://localhost:9082/received"))
	assertNetworkToken(t, psp.Get("card_number"), visaPAN)
	if len(psp.Get("card_cryptogram")) != 28 {
		t.Errorf("the processor got no cryptogram")
	}
	noValue(t, out.header.Get(InjectedHeader), token, visaPAN, psp.Get("card_number"), psp.Get("card_cryptogram"))
}

// TestInjectedHeaderCarriesNoValue: whatever a token became (network token,
// PAN with its CVV, absent, in arrays), Tokengate-Injected names fields and
// outcomes only.
func TestInjectedHeaderCarriesNoValue(t *testing.T) {
	g := startGatewaySites(t, "", demoPSPSites)
	for _, tc := range []struct{ name, pan, want string }{
		{"network token", visaPAN, "card.number=network_token"},
		{"PAN fallback", "4539097887163333", "card.number=pan;reason=card_not_eligible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(tc.pan))
			token := str(decode(t, in.body), "card.number")
			out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
			h := out.header.Get(InjectedHeader)
			if out.status != http.StatusOK || h != tc.want {
				t.Fatalf("%d %q", out.status, h)
			}
			psp := decode(t, lastReceived(t, g, "http://localhost:9082/received"))
			noValue(t, h, token, tc.pan, testCVV, str(psp, "card.number"), str(psp, "card.cryptogram"), str(psp, "card.exp_month")+"/"+str(psp, "card.exp_year"))
		})
	}
	out := g.post(outboundURL+"/payments", jsonCT, `{"amount":1}`, "X-Tokengate-Api-Key", apiKeyA)
	if h := out.header.Get(InjectedHeader); h != "card.number=none;reason=absent" {
		t.Errorf("no token: %q", h)
	}
}

// noValue fails when the header value holds any of the values.
func noValue(t *testing.T, header string, values ...string) {
	t.Helper()
	for _, v := range values {
		if v != "" && strings.Contains(header, v) {
			t.Errorf("%s %q holds a value", InjectedHeader, header)
		}
	}
}

// TestInjectedHeaderText: what goes into Tokengate-Injected is reduced to
// paths and codes, whatever a network token service put in a reason.
func TestInjectedHeaderText(t *testing.T) {
	got := injectedHeader([]detokenize.Injection{
		{Field: "cards.0.token", What: detokenize.InjectedNetworkToken},
		{Field: "card_number#1", What: detokenize.InjectedPAN, Reason: "invalid card 4111 1111 1111 1111;x=1,\r\nSet-Cookie: a"},
		{Field: "a\\.b", What: detokenize.InjectedNone, Reason: "absent"},
	})
	want := "cards.0.token=network_token, card_number#1=pan;reason=invalid card XXXX XXXX XXXX XXXX_x_1___Set-Cookie: a, a\\.b=none;reason=absent"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
