package caddymodule

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// adyenSchemas loads testdata/adyen/schemas.json (see its README): the
// schemas of Adyen's CheckoutService-v71.json that PaymentRequest
// references, unchanged, as one OpenAPI 3.1 document's components.
func adyenSchemas(t *testing.T) openapi3.Schemas {
	t.Helper()
	data, err := os.ReadFile("testdata/adyen/schemas.json")
	if err != nil {
		t.Fatal(err)
	}
	var schemas map[string]any
	if err := json.Unmarshal(data, &schemas); err != nil {
		t.Fatalf("schemas.json: %v", err)
	}
	return loadSchemas(t, "3.1.0", "Adyen Checkout API (PaymentRequest schemas)", "71", schemas)
}

// validAdyenRequest reports whether body is a valid Adyen card payment
// request: its paymentMethod against CardDetails first, whose error names
// the member (PaymentRequest's oneOf only says no alternative matched),
// then the whole body against PaymentRequest, where paymentMethod must
// match exactly one of the payment method details.
func validAdyenRequest(t *testing.T, schemas openapi3.Schemas, body string) error {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("the processor got no JSON: %v", err)
	}
	opts := []openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), openapi3.EnableFormatValidation()}
	if err := schemas["CardDetails"].Value.VisitJSON(v["paymentMethod"], opts...); err != nil {
		return err
	}
	return schemas["PaymentRequest"].Value.VisitJSON(v, opts...)
}

// adyenRequest is Adyen's ordinary card request (the document's
// post-payments-card-direct example's shape) with number where the card
// number goes.
func adyenRequest(number string) string {
	return `{"amount":{"currency":"EUR","value":1000},"reference":"ORD-1","merchantAccount":"TestMerchant","returnUrl":"https://shop.example/return",` +
		`"paymentMethod":{"type":"scheme","number":"` + number + `","expiryMonth":"12","expiryYear":"2030","holderName":"Ada Lovelace"}}`
}

// TestAdyenPresetSchema: the adyen preset ("adyen_preset" in
// testdata/rules.yaml) through a real Caddy. What the processor receives is
// valid against Adyen's own PaymentRequest schema: a networkToken payment
// method with mpiData for Visa, Mastercard and Amex, a scheme payment
// method with the PAN and CVC for a card without a network token.
func TestAdyenPresetSchema(t *testing.T) {
	schemas := adyenSchemas(t)
	// The schema catches what the preset must not send, naming it.
	card := adyenRequest("4111111111111111")
	for _, tc := range []struct{ name, bad, want string }{
		{"an integer expiryMonth", strings.Replace(card, `"expiryMonth":"12"`, `"expiryMonth":12`, 1), `"/expiryMonth": value must be a string`},
		{"an integer expiryYear", strings.Replace(card, `"expiryYear":"2030"`, `"expiryYear":2030`, 1), `"/expiryYear": value must be a string`},
		{"an unknown type", strings.Replace(card, `"scheme"`, `"network_token"`, 1), `"/type"`},
		{"a member CardDetails lacks", strings.Replace(card, `"number"`, `"token"`, 1), `"token" is unsupported`},
		{"a cryptogram not base64", strings.Replace(card, `"returnUrl"`, `"mpiData":{"tokenAuthenticationVerificationValue":"not base64!","eci":"05"},"returnUrl"`, 1), `"byte"`},
		{"no merchantAccount", strings.Replace(card, `"merchantAccount"`, `"merchant"`, 1), `"merchant"`},
	} {
		if err := validAdyenRequest(t, schemas, tc.bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: error %.300v, want it to name %s", tc.name, err, tc.want)
		}
	}
	if err := validAdyenRequest(t, schemas, card); err != nil {
		t.Fatalf("the card request itself is not valid: %v", err)
	}
	g := startGatewaySites(t, "", demoPSPSites)
	for _, tc := range []struct {
		name, pan, cvv, what, typ string
	}{
		{"visa network token", visaPAN, "123", "paymentMethod.number=network_token", "networkToken"},
		{"mastercard network token", "5555555555554444", "123", "paymentMethod.number=network_token", "networkToken"},
		{"amex network token", "378282246310005", "1234", "paymentMethod.number=network_token", "networkToken"},
		{"no network token", "4539097887163333", "123", "paymentMethod.number=pan;reason=card_not_eligible", "scheme"},
		{"mastercard, no network token", "5325191087030619", "123", "paymentMethod.number=pan;reason=card_not_eligible", "scheme"},
		{"amex, no network token", "373555735376156", "1234", "paymentMethod.number=pan;reason=card_not_eligible", "scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := g.post(inboundURL+"/checkout", jsonCT, strings.Replace(checkoutJSON(tc.pan), `"cvc":"`+testCVV+`"`, `"cvc":"`+tc.cvv+`"`, 1))
			token := str(decode(t, in.body), "card.number")
			if in.status != http.StatusOK || !strings.HasPrefix(token, "tok_") {
				t.Fatalf("checkout: %d %s", in.status, in.body)
			}
			out := g.post(outboundURL+"/adyen-preset/payments", jsonCT, adyenRequest(token), "X-Tokengate-Api-Key", apiKeyA)
			if h := out.header.Get(InjectedHeader); out.status != http.StatusOK || h != tc.what {
				t.Fatalf("payment: %d %q %s", out.status, h, out.body)
			}
			got := lastReceived(t, g, "http://localhost:9082/received")
			if err := validAdyenRequest(t, schemas, got); err != nil {
				t.Errorf("not valid against Adyen's schema: %v", err)
			}
			var v struct {
				PaymentMethod map[string]any `json:"paymentMethod"`
				MPIData       map[string]any `json:"mpiData"`
			}
			if err := json.Unmarshal([]byte(got), &v); err != nil || v.PaymentMethod["type"] != tc.typ {
				t.Fatalf("paymentMethod.type %v (%v)", v.PaymentMethod["type"], err)
			}
			// The schema allows more than the preset sends: mpiData with the
			// cryptogram and ECI and no CVC with the network token, no mpiData
			// with the PAN, and the token nowhere.
			_, cvc := v.PaymentMethod["cvc"]
			if tc.typ == "networkToken" && (cvc || v.MPIData["tokenAuthenticationVerificationValue"] == nil || v.MPIData["eci"] == nil) {
				t.Errorf("network token request: cvc sent %v, mpiData %v", cvc, v.MPIData != nil)
			}
			if tc.typ == "scheme" && (!cvc || v.MPIData != nil) {
				t.Errorf("card request: cvc sent %v, mpiData sent %v", cvc, v.MPIData != nil)
			}
			if strings.Contains(got, token) {
				t.Error("the processor got the merchant's token")
			}
		})
	}
}

// adyenPresetRules is the README's "Connecting your processor: Adyen" rules
// file.
const adyenPresetRules = `outbound:
  adyen:
    preset: adyen
    destinations: ["checkout-test.adyen.com:443"]
    fallback: pan
`

// TestRulesCommandsOnAdyenPreset: rules lint passes the README's adyen set
// and rules explain shows both of Adyen's payment methods, Amex included,
// as the README says.
func TestRulesCommandsOnAdyenPreset(t *testing.T) {
	p := writeRulesFile(t, adyenPresetRules)
	if out, err := runTokengateIn(t, "", "rules", "lint", "--rules", p); err != nil || out != "" {
		t.Errorf("lint: err %v\n%s", err, out)
	}
	req := adyenRequest("tok_3kTz9Qv2mXw8LpR4nB7cYd1e")
	for _, brand := range []string{"visa", "mastercard", "amex"} {
		out, err := runTokengateIn(t, req, "rules", "explain", "--rules", p, "--set", "adyen", "--brand", brand)
		if err != nil {
			t.Fatalf("explain %s: %v\n%s", brand, err, out)
		}
		for _, want := range []string{
			"Tokengate-Injected: paymentMethod.number=network_token\n",
			`  ~ paymentMethod.type = "networkToken"`, `  ~ paymentMethod.number = "<network_token>"`,
			`  + mpiData.tokenAuthenticationVerificationValue = "<cryptogram>"`, `  + mpiData.eci = "`,
			"Tokengate-Injected: paymentMethod.number=pan;reason=no_network_token\n", `  ~ paymentMethod.number = "<pan>"`, `  + paymentMethod.cvc = "<cvv>"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in\n%s", brand, want, out)
			}
		}
		if strings.Count(out, `"type": "scheme"`) != 1 || strings.Count(out, `"type": "networkToken"`) != 1 {
			t.Errorf("%s: want one networkToken and one scheme request in\n%s", brand, out)
		}
	}
	// A user field contradicting the preset is a lint error, with its line.
	p = writeRulesFile(t, adyenPresetRules+"    fields:\n      - {kind: cvv, json: paymentMethod.cvc}\n")
	if out, err := runTokengateIn(t, "", "rules", "lint", "--rules", p); err == nil || !strings.Contains(out, "rules.yaml:7: error:") || !strings.Contains(out, "second cvv field") {
		t.Errorf("contradicting override: err %v\n%s", err, out)
	}
}
