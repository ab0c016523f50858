package detokenize_test

import (
	"fmt"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
)

// The adyen preset: Adyen's scheme card request with the token in
// paymentMethod.number becomes a networkToken request with mpiData for
// Visa, Mastercard and Amex (Adyen's document sets no brand limit), and
// stays a scheme request with the PAN and CVC without a network token.
func TestPresetAdyen(t *testing.T) {
	set := outboundSet(t, `outbound:
  adyen:
    preset: adyen
    destinations: ["checkout-test.adyen.com:443"]
    fallback: pan
`)
	const in = `{"amount":{"currency":"EUR","value":1000},"merchantAccount":"M","reference":"R","returnUrl":"https://shop.example/r",` +
		`"paymentMethod":{"type":"scheme","number":"%s","expiryMonth":"12","expiryYear":"2030","cvc":"***","holderName":"J Smith"}}`
	for _, tc := range []struct {
		name, pan, cvv string
		nt             bool
	}{
		{"visa", visaPAN, "123", true},
		{"mastercard", mcPAN, "123", true},
		{"amex", amexPAN, "1234", true},
		{"no network token", visaPAN, "123", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var c issued
			if tc.nt {
				c = e.issue(t, tenantA, tc.pan, tc.cvv)
			} else {
				c = e.issueVaultOnly(t, tenantA, tc.pan, tc.cvv, "card_not_eligible")
			}
			out, res, err := e.applySet(t, set, body.JSON, fmt.Sprintf(in, c.token))
			if err != nil {
				t.Fatal(err)
			}
			pm, mpi := gjson.GetBytes(out, "paymentMethod"), gjson.GetBytes(out, "mpiData")
			if m, y := pm.Get("expiryMonth"), pm.Get("expiryYear"); m.Type != gjson.String || len(m.Str) != 2 || y.Type != gjson.String || len(y.Str) != 4 {
				t.Errorf("expiry %s/%s: want strings mm/yyyy", m.Raw, y.Raw)
			}
			if pm.Get("holderName").Str != "J Smith" {
				t.Errorf("holderName not kept: %s", pm.Get("holderName").Raw)
			}
			if tc.nt {
				if pm.Get("type").Str != "networkToken" || pm.Get("number").Str != c.dpan || pm.Get("cvc").Exists() ||
					mpi.Get("tokenAuthenticationVerificationValue").Str == "" || mpi.Get("eci").Type != gjson.String {
					t.Errorf("network token request: %s", out)
				}
				return
			}
			if res.Injections[0].What != detokenize.InjectedPAN || res.Injections[0].Reason != "card_not_eligible" {
				t.Errorf("injection: %+v", res.Injections)
			}
			if pm.Get("type").Str != "scheme" || pm.Get("number").Str != tc.pan || pm.Get("cvc").Str != tc.cvv {
				t.Errorf("scheme request: type %q, PAN sent %v, CVC sent %v", pm.Get("type").Str, pm.Get("number").Str == tc.pan, pm.Get("cvc").Str == tc.cvv)
			}
			if mpi.Exists() {
				t.Error("mpiData sent with the PAN")
			}
		})
	}
}
