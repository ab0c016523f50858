package rules

import (
	"strings"
	"testing"
)

// A user number field at the place a preset writes the network token, with
// when: pan, parses (the token's place gets no number in either case, so
// the token may stay there) and sent the PAN in the network token's shape
// with the token left where the card number goes. A preset places the
// number in both cases; a user's number field contradicts it.
func TestAttackPresetNumberMoved(t *testing.T) {
	sign := "sign: {scheme: cybersource_http_signature, tenant: demo, merchant_id: m, key_id: k, secret: '{env.X}'}"
	for _, tc := range []struct{ preset, extra, field string }{
		{"checkout_com", "", "{kind: number, json: source.token, when: pan}"},
		{"cybersource", sign, "{kind: number, json: paymentInformation.tokenizedCard.number, when: pan}"},
		{"braintree", "", "{kind: number, json: variables.input.networkToken.number, when: pan}"},
	} {
		lines := []string{dest, "preset: " + tc.preset, "fallback: pan"}
		if tc.extra != "" {
			lines = append(lines, tc.extra)
		}
		f, err := Parse("rules.yaml", []byte(out(append(lines, "fields:", "- "+tc.field)...)))
		if err != nil {
			t.Logf("%s: %v", tc.preset, err)
			continue
		}
		if e := LintError(Lint(f)); e != nil {
			t.Logf("%s: %v", tc.preset, e)
		} else {
			t.Errorf("%s: accepted %s", tc.preset, tc.field)
		}
	}
}

// The braintree preset had no schema: an override of its formats or of
// originDetails.origin loaded, and the network token request broke the
// schema (Year "a four-digit year", Month "a two-digit, zero-padded
// month", NetworkTokenOrigin an enum) after a cryptogram was spent on it.
func TestAttackBraintreeOverridesOutsideSchema(t *testing.T) {
	for _, field := range []string{
		"{kind: exp_year, json: variables.input.networkToken.expirationYear, format: yy, as: string, when: network_token}",
		"{kind: exp_month, json: variables.input.networkToken.expirationMonth, format: m, when: network_token}",
		"{kind: exp_year, json: variables.input.networkToken.expirationYear, format: yyyy, as: integer, when: network_token}",
		"{kind: constant, json: variables.input.networkToken.originDetails.origin, value: VISA, when: network_token}",
		"{kind: exp_month, json: variables.input.creditCard.expirationMonth, format: m, when: pan}",
	} {
		f, err := Parse("rules.yaml", []byte(out(dest, "preset: braintree", "fallback: pan", "fields:", "- "+field)))
		if err != nil {
			continue
		}
		if LintError(Lint(f)) == nil {
			t.Errorf("accepted: %s", field)
		}
	}
}

// The braintree preset says it is for cit: NetworkTokenInput.cryptogram is
// non-null and a Mastercard merchant-initiated payment carries none. A set
// with initiator: mit loaded without a word, and every Mastercard MIT went
// out as a request Braintree's schema refuses. Lint warns.
func TestAttackBraintreeMIT(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(dest, "preset: braintree", "fallback: pan", "initiator: mit")))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range Lint(f) {
		if fd.Severity == SeverityWarning && strings.Contains(fd.Message, "mit") {
			return
		}
	}
	t.Errorf("no warning for braintree with initiator: mit: %v", Lint(f))
}
