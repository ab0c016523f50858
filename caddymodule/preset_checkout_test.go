package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

// checkoutSchemas loads the Checkout.com schema fragments in
// testdata/checkout_com (see its README) as one OpenAPI document's
// components.
func checkoutSchemas(t *testing.T) openapi3.Schemas {
	t.Helper()
	files, err := filepath.Glob("testdata/checkout_com/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("schema fragments: %v", err)
	}
	schemas := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var s any
		if err := yaml.Unmarshal(data, &s); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		schemas[strings.TrimSuffix(filepath.Base(f), ".yaml")] = s
	}
	return loadSchemas(t, "3.0.1", "Checkout.com payments (fragment)", "0588d54", schemas)
}

// loadSchemas loads a processor's schemas as the components of one OpenAPI
// document of that version, checked as OpenAPI, for the preset tests to
// validate what the processor receives.
func loadSchemas(t *testing.T, openapi, title, version string, schemas map[string]any) openapi3.Schemas {
	t.Helper()
	doc, err := json.Marshal(map[string]any{
		"openapi":    openapi,
		"info":       map[string]any{"title": title, "version": version},
		"paths":      map[string]any{},
		"components": map[string]any{"schemas": schemas},
	})
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := openapi3.NewLoader().LoadFromData(doc)
	if err != nil {
		t.Fatalf("loading the %s schemas: %v", title, err)
	}
	if err := loaded.Validate(context.Background()); err != nil {
		t.Fatalf("the %s schemas do not validate as OpenAPI: %v", title, err)
	}
	return loaded.Components.Schemas
}

// validCheckoutRequest reports whether body is a valid Checkout.com
// payment request: against PaymentRequest, and its source against the
// schema PaymentRequestSource's discriminator maps its type to.
func validCheckoutRequest(t *testing.T, schemas openapi3.Schemas, body string) error {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("the processor got no JSON: %v", err)
	}
	if err := schemas["PaymentRequest"].Value.VisitJSON(v); err != nil {
		return err
	}
	src, _ := v["source"].(map[string]any)
	typ, _ := src["type"].(string)
	ref, ok := schemas["PaymentRequestSource"].Value.Discriminator.Mapping[typ]
	if !ok {
		t.Fatalf("source.type %q has no schema", typ)
	}
	return schemas[path.Base(ref.Ref)].Value.VisitJSON(src)
}

// TestCheckoutPresetSchema: the checkout_com preset ("cko_preset" in
// testdata/rules.yaml) through a real Caddy. What the processor receives is
// valid against Checkout.com's own schema: a network_token source for Visa
// and Mastercard, a card source with the PAN for Amex (no token_type: the
// fallback) and for a card without a network token.
func TestCheckoutPresetSchema(t *testing.T) {
	schemas := checkoutSchemas(t)
	// The schemas catch what the preset must not send.
	if err := validCheckoutRequest(t, schemas, `{"currency":"EUR","source":{"type":"network_token","token":"4111","expiry_month":"12","expiry_year":2030,"token_type":"vts","cryptogram":"x","eci":"05"}}`); err == nil {
		t.Fatal("a string expiry_month validates")
	}
	if err := validCheckoutRequest(t, schemas, `{"currency":"EUR","source":{"type":"network_token","token":"4111","expiry_month":12,"expiry_year":2030,"token_type":"amex","cryptogram":"x","eci":"05"}}`); err == nil {
		t.Fatal("token_type amex validates")
	}
	g := startGatewaySites(t, "", demoPSPSites)
	for _, tc := range []struct {
		name, pan, cvv, what, typ string
	}{
		{"visa network token", visaPAN, "123", "source.number=network_token", "network_token"},
		{"mastercard network token", "5555555555554444", "123", "source.number=network_token", "network_token"},
		{"amex takes the fallback", "378282246310005", "1234", "source.number=pan;reason=brand_not_supported", "card"},
		{"no network token", "4539097887163333", "123", "source.number=pan;reason=card_not_eligible", "card"},
		{"mastercard, no network token", "5325191087030619", "123", "source.number=pan;reason=card_not_eligible", "card"},
		{"amex, no network token", "373555735376156", "1234", "source.number=pan;reason=card_not_eligible", "card"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := g.post(inboundURL+"/checkout", jsonCT, strings.Replace(checkoutJSON(tc.pan), `"cvc":"`+testCVV+`"`, `"cvc":"`+tc.cvv+`"`, 1))
			token := str(decode(t, in.body), "card.number")
			if in.status != http.StatusOK || !strings.HasPrefix(token, "tok_") {
				t.Fatalf("checkout: %d %s", in.status, in.body)
			}
			// Checkout.com's ordinary card request, the token where the
			// card number goes.
			req := `{"amount":1000,"currency":"EUR","reference":"ORD-1","source":{"type":"card","number":"` + token + `","expiry_month":12,"expiry_year":2030}}`
			out := g.post(outboundURL+"/cko-preset/payments", jsonCT, req, "X-Tokengate-Api-Key", apiKeyA)
			if h := out.header.Get(InjectedHeader); out.status != http.StatusOK || h != tc.what {
				t.Fatalf("payment: %d %q %s", out.status, h, out.body)
			}
			got := lastReceived(t, g, "http://localhost:9082/received")
			if err := validCheckoutRequest(t, schemas, got); err != nil {
				t.Errorf("not valid against Checkout.com's schema: %v", err)
			}
			var v struct {
				Source map[string]any `json:"source"`
			}
			if err := json.Unmarshal([]byte(got), &v); err != nil || v.Source["type"] != tc.typ {
				t.Fatalf("source.type %v (%v)", v.Source["type"], err)
			}
			// The schema allows more than the preset sends: no card number
			// and no CVV in a network_token source, and the token nowhere.
			if _, has := v.Source["number"]; tc.typ == "network_token" && has {
				t.Error("source.number sent with the network token")
			}
			if _, has := v.Source["cvv"]; tc.typ == "network_token" && has {
				t.Error("source.cvv sent with the network token")
			}
			if strings.Contains(got, token) {
				t.Error("the processor got the merchant's token")
			}
		})
	}
}

// checkoutPresetRules is the README's "Connecting your processor:
// Checkout.com" rules file.
const checkoutPresetRules = `outbound:
  checkout:
    preset: checkout_com
    destinations: ["api.checkout.com:443"]
    fallback: pan
`

// TestRulesCommandsOnPreset: rules lint passes the README's preset set and
// rules explain shows both Checkout.com sources, as the README says.
func TestRulesCommandsOnPreset(t *testing.T) {
	p := writeRulesFile(t, checkoutPresetRules)
	if out, err := runTokengateIn(t, "", "rules", "lint", "--rules", p); err != nil || out != "" {
		t.Errorf("lint: err %v\n%s", err, out)
	}
	const req = `{"amount":1000,"currency":"EUR","source":{"type":"card","number":"tok_3kTz9Qv2mXw8LpR4nB7cYd1e","expiry_month":3,"expiry_year":2034}}`
	out, err := runTokengateIn(t, req, "rules", "explain", "--rules", p, "--set", "checkout", "--brand", "mastercard")
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Tokengate-Injected: source.number=network_token\n",
		`  ~ source.type = "network_token"`, `  + source.token = "<network_token>"`, `  + source.token_type = "mdes"`,
		`  + source.cryptogram = "<cryptogram>"`, "  - source.number (removed)",
		"Tokengate-Injected: source.number=pan;reason=no_network_token\n", `  ~ source.number = "<pan>"`, `  + source.cvv = "<cvv>"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	out, err = runTokengateIn(t, req, "rules", "explain", "--rules", p, "--set", "checkout", "--brand", "amex")
	if err != nil || strings.Count(out, `"type": "card"`) != 2 || !strings.Contains(out, "source.number=pan;reason=brand_not_supported") {
		t.Errorf("amex: err %v\n%s", err, out)
	}
	// A user field contradicting the preset is a lint error, with its line.
	p = writeRulesFile(t, checkoutPresetRules+"    fields:\n      - {kind: cvv, json: source.cvv}\n")
	if out, err := runTokengateIn(t, "", "rules", "lint", "--rules", p); err == nil || !strings.Contains(out, "rules.yaml:7: error:") || !strings.Contains(out, "second cvv field") {
		t.Errorf("contradicting override: err %v\n%s", err, out)
	}
}
