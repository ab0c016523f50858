package detokenize_test

import (
	"fmt"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
)

// The checkout_com preset: Checkout.com's card request with the token in
// source.number becomes a network_token source for Visa and Mastercard, and
// stays a card source for Amex (no token_type) and without a network token.
func TestPresetCheckout(t *testing.T) {
	set := outboundSet(t, `outbound:
  cko:
    preset: checkout_com
    destinations: ["api.checkout.com:443"]
    fallback: pan
`)
	const in = `{"amount":1000,"currency":"EUR","source":{"type":"card","number":"%s","expiry_month":12,"expiry_year":2030,"cvv":"***"}}`
	for _, tc := range []struct {
		name, pan, cvv, tokenType, reason string
		nt                                bool
	}{
		{"visa", visaPAN, "123", "vts", "", true},
		{"mastercard", mcPAN, "123", "mdes", "", true},
		{"amex", amexPAN, "1234", "", detokenize.ReasonBrandNotSupported, true},
		{"no network token", visaPAN, "123", "", "card_not_eligible", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var c issued
			if tc.nt {
				c = e.issue(t, tenantA, tc.pan, tc.cvv)
			} else {
				c = e.issueVaultOnly(t, tenantA, tc.pan, tc.cvv, tc.reason)
			}
			out, res, err := e.applySet(t, set, body.JSON, fmt.Sprintf(in, c.token))
			if err != nil {
				t.Fatal(err)
			}
			src := gjson.GetBytes(out, "source")
			if m, y := src.Get("expiry_month"), src.Get("expiry_year"); m.Type != gjson.Number || y.Type != gjson.Number || y.Int() < 2029 {
				t.Errorf("expiry %s/%s: want integers", m.Raw, y.Raw)
			}
			if tc.tokenType != "" {
				if src.Get("type").Str != "network_token" || src.Get("token").Str != c.dpan || src.Get("token_type").Str != tc.tokenType ||
					src.Get("cryptogram").Str == "" || src.Get("eci").Type != gjson.String || src.Get("number").Exists() || src.Get("cvv").Exists() {
					t.Errorf("network token source: %s", out)
				}
				return
			}
			if res.Injections[0].What != detokenize.InjectedPAN || res.Injections[0].Reason != tc.reason {
				t.Errorf("injection: %+v", res.Injections)
			}
			if src.Get("type").Str != "card" || src.Get("number").Str != tc.pan || src.Get("cvv").Str != tc.cvv {
				t.Errorf("card source: type %q, PAN sent %v, CVV sent %v", src.Get("type").Str, src.Get("number").Str == tc.pan, src.Get("cvv").Str == tc.cvv)
			}
			for _, k := range []string{"token", "token_type", "cryptogram", "eci"} {
				if src.Get(k).Exists() {
					t.Errorf("source.%s sent with the PAN", k)
				}
			}
		})
	}
}
