package rules

import "testing"

// A user number field at the place a preset writes the network token, with
// when: pan, parses (the token's place gets no number in either case, so
// the token may stay there) and sent the PAN in the network token's shape
// with the token left where the card number goes. A preset places the
// number in both cases; a user's number field contradicts it.
func TestAttackPresetNumberMoved(t *testing.T) {
	sign := "sign: {scheme: cybersource_http_signature, merchant_id: m, key_id: k, secret: '{env.X}'}"
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
