package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tokengate/tokengate/signing"
)

// cybsTestSecret is the shared secret of testdata/rules.yaml's
// cybersource_preset (from TG_TEST_CYBS_SECRET), made up for the tests.
const cybsTestSecret = "dG9rZW5nYXRlIHRlc3Qgc2hhcmVkIHNlY3JldCAzMmI="

// Every test of the package loads testdata/rules.yaml, whose
// cybersource_preset names its secret by environment variable: the load
// refuses a missing one.
func init() { os.Setenv("TG_TEST_CYBS_SECRET", cybsTestSecret) }

// cybersourceSchemas loads testdata/cybersource/schemas.json (see its
// README): the payment request's models, as one OpenAPI document.
func cybersourceSchemas(t *testing.T) openapi3.Schemas {
	t.Helper()
	data, err := os.ReadFile("testdata/cybersource/schemas.json")
	if err != nil {
		t.Fatal(err)
	}
	var schemas map[string]any
	if err := json.Unmarshal(data, &schemas); err != nil {
		t.Fatalf("schemas.json: %v", err)
	}
	return loadSchemas(t, "3.0.3", "CyberSource Merged Spec (POST /pts/v2/payments models)", "0.0.1", schemas)
}

// validCybersourceRequest validates body against CreatePaymentRequest.
func validCybersourceRequest(t *testing.T, schemas openapi3.Schemas, body string) error {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("the processor got no JSON: %v", err)
	}
	return schemas["CreatePaymentRequest"].Value.VisitJSON(v, openapi3.VisitAsRequest())
}

// cybersourceRequest is Cybersource's ordinary card payment request with
// number where the card number goes (the shape of the REST samples'
// simple authorization).
func cybersourceRequest(number string) string {
	return `{"clientReferenceInformation":{"code":"ORD-1"},"processingInformation":{"commerceIndicator":"internet"},` +
		`"paymentInformation":{"card":{"number":"` + number + `","expirationMonth":"12","expirationYear":"2031"}},` +
		`"orderInformation":{"amountDetails":{"totalAmount":"102.21","currency":"USD"},"billTo":{"firstName":"Ada","lastName":"Lovelace","address1":"1 Market St","locality":"San Francisco","administrativeArea":"CA","postalCode":"94105","country":"US","email":"ada@example.com"}}}`
}

// cybersourceSites adds, to the demo sites, a gateway site for the
// cybersource_preset set and the processor it sends to: the demo PSP,
// which keeps the body it received, with the headers Cybersource checks
// shown in its response.
const cybersourceSites = demoPSPSites + `
:9083 {
	detokenize cybersource_preset
	reverse_proxy localhost:9085 {
		transport tokengate
	}
}
:9085 {
	header X-Seen-Signature "{http.request.header.Signature}"
	header X-Seen-Digest "{http.request.header.Digest}"
	header X-Seen-Date "{http.request.header.Date}"
	header X-Seen-Merchant "{http.request.header.v-c-merchant-id}"
	header X-Seen-Host "{http.request.hostport}"
	header X-Seen-Uri "{http.request.uri}"
	header X-Seen-Authorization "{http.request.header.Authorization}"
	demo_psp
}`

// seenRequest rebuilds, from the processor's report, the request as it
// arrived, for signing.VerifyCybersource.
func seenRequest(h http.Header) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://processor"+h.Get("X-Seen-Uri"), nil)
	r.Host = h.Get("X-Seen-Host")
	for _, k := range []struct{ from, to string }{{"X-Seen-Signature", "Signature"}, {"X-Seen-Digest", "Digest"}, {"X-Seen-Date", "Date"}, {"X-Seen-Merchant", "v-c-merchant-id"}} {
		if v := h.Get(k.from); v != "" {
			r.Header.Set(k.to, v)
		}
	}
	return r
}

// TestCybersourcePresetSchema: the cybersource preset through a real
// Caddy. What the processor receives is valid against the payment
// request's models (tokenizedCard with the cryptogram for Visa,
// Mastercard and Amex network tokens, card with the PAN and CVV for a card
// without one), and carries a signature the processor verifies as
// Cybersource does, over the body it received, while the merchant's own
// signature, over the body with its token, would not verify.
func TestCybersourcePresetSchema(t *testing.T) {
	schemas := cybersourceSchemas(t)
	card := cybersourceRequest("4111111111111111")
	for _, tc := range []struct{ name, bad, want string }{
		{"an integer expirationMonth", strings.Replace(card, `"expirationMonth":"12"`, `"expirationMonth":12`, 1), `/card/expirationMonth": value must be a string`},
		{"a one-digit month", strings.Replace(card, `"expirationMonth":"12"`, `"expirationMonth":"3"`, 1), `/card/expirationMonth": string doesn't match`},
		{"a two-digit year", strings.Replace(card, `"expirationYear":"2031"`, `"expirationYear":"31"`, 1), `/card/expirationYear": string doesn't match`},
		{"a member the card lacks", strings.Replace(card, `"number"`, `"cryptogram"`, 1), `"cryptogram" is unsupported`},
		{"a card type by name", strings.Replace(card, `"expirationYear"`, `"type":"visa","expirationYear"`, 1), `/card/type": string doesn't match`},
	} {
		if err := validCybersourceRequest(t, schemas, tc.bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: error %.300v, want it to name %s", tc.name, err, tc.want)
		}
	}
	if err := validCybersourceRequest(t, schemas, card); err != nil {
		t.Fatalf("the card request itself is not valid: %v", err)
	}
	secret, _ := base64.StdEncoding.DecodeString(cybsTestSecret)
	const keyID = "7d1c9e52-0000-4000-8000-tokengatetest"
	g := startGatewaySites(t, "", cybersourceSites)
	for _, tc := range []struct {
		name, pan, cvv, what, code string
		nt                         bool
	}{
		{"visa network token", visaPAN, "123", "paymentInformation.card.number=network_token", "001", true},
		{"mastercard network token", "5555555555554444", "123", "paymentInformation.card.number=network_token", "002", true},
		{"amex network token", "378282246310005", "1234", "paymentInformation.card.number=network_token", "003", true},
		{"no network token", "4539097887163333", "123", "paymentInformation.card.number=pan;reason=card_not_eligible", "001", false},
		{"mastercard, no network token", "5325191087030619", "123", "paymentInformation.card.number=pan;reason=card_not_eligible", "002", false},
		{"amex, no network token", "373555735376156", "1234", "paymentInformation.card.number=pan;reason=card_not_eligible", "003", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := g.post(inboundURL+"/checkout", jsonCT, strings.Replace(checkoutJSON(tc.pan), `"cvc":"`+testCVV+`"`, `"cvc":"`+tc.cvv+`"`, 1))
			token := str(decode(t, in.body), "card.number")
			if in.status != http.StatusOK || !strings.HasPrefix(token, "tok_") {
				t.Fatalf("checkout: %d %s", in.status, in.body)
			}
			// The merchant signs its request as its Cybersource client would,
			// with the same key: over the body with the token.
			body := cybersourceRequest(token)
			mr := httptest.NewRequest(http.MethodPost, "http://localhost:9085/pts/v2/payments", nil)
			signing.SignCybersource(mr, []byte(body), signing.CybersourceKey{MerchantID: "tokengate_test", KeyID: keyID, Secret: secret}, time.Now())
			out := g.post("http://localhost:9083/pts/v2/payments", jsonCT, body, "X-Tokengate-Api-Key", apiKeyA,
				"Signature", mr.Header.Get("Signature"), "Digest", mr.Header.Get("Digest"), "Date", mr.Header.Get("Date"),
				"v-c-merchant-id", "tokengate_test", "Authorization", "Bearer merchant-jwt")
			if h := out.header.Get(InjectedHeader); out.status != http.StatusOK || h != tc.what {
				t.Fatalf("payment: %d %q %s", out.status, h, out.body)
			}
			got := lastReceived(t, g, "http://localhost:9085/received")
			if err := validCybersourceRequest(t, schemas, got); err != nil {
				t.Errorf("not valid against Cybersource's models: %v", err)
			}
			var v struct {
				PaymentInformation struct {
					Card          map[string]any `json:"card"`
					TokenizedCard map[string]any `json:"tokenizedCard"`
				} `json:"paymentInformation"`
				ConsumerAuthenticationInformation map[string]any `json:"consumerAuthenticationInformation"`
			}
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Fatal(err)
			}
			pi := v.PaymentInformation
			if tc.nt {
				tk := pi.TokenizedCard
				if pi.Card != nil || tk["number"] == nil || tk["cryptogram"] == nil || tk["transactionType"] != "3" || tk["type"] != tc.code ||
					tk["expirationMonth"] == nil || tk["expirationYear"] == nil || v.ConsumerAuthenticationInformation["eciRaw"] == nil {
					t.Errorf("network token request: %s", got)
				}
			} else if pi.TokenizedCard != nil || pi.Card["number"] != tc.pan || pi.Card["securityCode"] != tc.cvv || pi.Card["type"] != tc.code || v.ConsumerAuthenticationInformation != nil {
				t.Errorf("card request: %s", got)
			}
			if strings.Contains(got, token) {
				t.Error("the processor got the merchant's token")
			}
			// The processor verifies tokengate's signature over what it got.
			seen := seenRequest(out.header)
			if err := signing.VerifyCybersource(seen, []byte(got), keyID, secret); err != nil {
				t.Errorf("the processor refuses the signature: %v (headers %v)", err, seen.Header)
			}
			if out.header.Get("X-Seen-Authorization") != "" || seen.Header.Get("Signature") == mr.Header.Get("Signature") {
				t.Error("the merchant's Authorization or Signature went on")
			}
			// The merchant's signature, had it gone on, would be refused: it
			// covers the body with the token.
			stale := seenRequest(out.header)
			stale.Header.Set("Signature", mr.Header.Get("Signature"))
			stale.Header.Set("Digest", mr.Header.Get("Digest"))
			if err := signing.VerifyCybersource(stale, []byte(got), keyID, secret); err == nil || !strings.Contains(err.Error(), "digest") {
				t.Errorf("the merchant's stale signature: %v, want a digest mismatch", err)
			}
		})
	}
}

// TestRulesCommandsOnCybersourcePreset: rules lint passes
// examples/cybersource/rules.yaml, with no secret in the environment (lint
// and explain read none), and rules explain on its request.json shows
// tokenizedCard with each brand's card type, the card on the PAN fallback,
// and that tokengate signs both, as the README says.
func TestRulesCommandsOnCybersourcePreset(t *testing.T) {
	const p = "../examples/cybersource/rules.yaml"
	t.Setenv("CYBS_SECRET", "")
	if out, err := runTokengateIn(t, "", "rules", "lint", "--rules", p); err != nil || out != "" {
		t.Errorf("lint: err %v\n%s", err, out)
	}
	req, err := os.ReadFile("../examples/cybersource/request.json")
	if err != nil {
		t.Fatal(err)
	}
	for brand, code := range map[string]string{"visa": "001", "mastercard": "002", "amex": "003"} {
		out, err := runTokengateIn(t, string(req), "rules", "explain", "--rules", p, "--set", "cybersource", "--brand", brand)
		if err != nil {
			t.Fatalf("explain %s: %v\n%s", brand, err, out)
		}
		for _, want := range []string{
			"Tokengate-Injected: paymentInformation.card.number=network_token\n",
			`  + paymentInformation.tokenizedCard.number = "<network_token>"`, `  + paymentInformation.tokenizedCard.cryptogram = "<cryptogram>"`,
			`  + paymentInformation.tokenizedCard.transactionType = "3"`, `  + paymentInformation.tokenizedCard.type = "` + code + `"`,
			`  + consumerAuthenticationInformation.eciRaw = "`, "  - paymentInformation.card.number (removed)",
			"Tokengate-Injected: paymentInformation.card.number=pan;reason=no_network_token\n",
			`  ~ paymentInformation.card.number = "<pan>"`, `  + paymentInformation.card.securityCode = "<cvv>"`, `  + paymentInformation.card.type = "` + code + `"`,
			"note: signed by tokengate over this body (cybersource_http_signature, merchant_id your_merchant_id, key_id your-key-id)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in\n%s", brand, want, out)
			}
		}
		if strings.Count(out, "note: signed by tokengate") != 2 {
			t.Errorf("%s: want the signing note in both cases:\n%s", brand, out)
		}
	}
	// Without its sign block the preset is refused, with its line.
	w := writeRulesFile(t, "outbound:\n  cybersource:\n    preset: cybersource\n    destinations: [\"apitest.cybersource.com:443\"]\n    fallback: pan\n")
	if out, err := runTokengateIn(t, "", "rules", "lint", "--rules", w); err == nil || !strings.Contains(out, "rules.yaml:3:") || !strings.Contains(out, "needs sign") {
		t.Errorf("no sign block: err %v\n%s", err, out)
	}
}
