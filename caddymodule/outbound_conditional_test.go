package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// TestConditionalFieldsThroughCaddy: a Checkout.com-like rule set ("cko"
// in testdata/rules.yaml) through a real Caddy. A Visa or Mastercard card
// with a network token goes as source.type network_token with its
// token_type, cryptogram and integer expiry and no CVV; an Amex card (no
// token_type) and a card without a network token go as source.type card
// with the PAN and the CVV, and Tokengate-Injected says why.
func TestConditionalFieldsThroughCaddy(t *testing.T) {
	g := startGatewaySites(t, "", demoPSPSites)
	for _, tc := range []struct {
		name, pan, cvv, what, tokenType string
	}{
		{"visa network token", visaPAN, "123", "source.number=network_token", "vts"},
		{"mastercard network token", "5555555555554444", "123", "source.number=network_token", "mdes"},
		{"amex takes the fallback", "378282246310005", "1234", "source.number=pan;reason=brand_not_supported", ""},
		{"no network token", "4539097887163333", "123", "source.number=pan;reason=card_not_eligible", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := g.post(inboundURL+"/checkout", jsonCT, strings.Replace(checkoutJSON(tc.pan), `"cvc":"`+testCVV+`"`, `"cvc":"`+tc.cvv+`"`, 1))
			token := str(decode(t, in.body), "card.number")
			if in.status != http.StatusOK || !strings.HasPrefix(token, "tok_") {
				t.Fatalf("checkout: %d %s", in.status, in.body)
			}
			out := g.post(outboundURL+"/cko/payments", jsonCT, `{"amount":1000,"currency":"EUR","source":{"number":"`+token+`"}}`, "X-Tokengate-Api-Key", apiKeyA)
			h := out.header.Get(InjectedHeader)
			if out.status != http.StatusOK || h != tc.what {
				t.Fatalf("payment: %d %q %s", out.status, h, out.body)
			}
			src := gjson.Get(lastReceived(t, g, "http://localhost:9082/received"), "source")
			if m, y := src.Get("expiry_month"), src.Get("expiry_year"); m.Type != gjson.Number || y.Type != gjson.Number || y.Int() < 2029 {
				t.Errorf("expiry %s/%s: want integers", m.Raw, y.Raw)
			}
			if tc.tokenType != "" {
				assertNetworkToken(t, src.Get("number").Str, tc.pan)
				if src.Get("type").Str != "network_token" || src.Get("token_type").Str != tc.tokenType || len(src.Get("cryptogram").Str) != 28 || src.Get("cvv").Exists() {
					t.Errorf("network token source: type %q token_type %q, cryptogram %d chars, cvv sent %v",
						src.Get("type").Str, src.Get("token_type").Str, len(src.Get("cryptogram").Str), src.Get("cvv").Exists())
				}
			} else {
				if src.Get("number").Str != tc.pan || src.Get("type").Str != "card" || src.Get("cvv").Str != tc.cvv {
					t.Errorf("card source: type %q, PAN sent %v, CVV sent %v", src.Get("type").Str, src.Get("number").Str == tc.pan, src.Get("cvv").Str == tc.cvv)
				}
				for _, k := range []string{"token_type", "cryptogram", "eci"} {
					if src.Get(k).Exists() {
						t.Errorf("source.%s sent with the PAN", k)
					}
				}
			}
			noValue(t, h, token, tc.pan, tc.cvv, src.Get("number").Str, src.Get("cryptogram").Str)
			// The response guard knows what was sent: the demo PSP's
			// answer never hands the merchant the number.
			if strings.Contains(out.body, src.Get("number").Str) {
				t.Errorf("the merchant's answer holds the number sent")
			}
		})
	}
}
