package rules

import (
	"slices"
	"strings"
	"testing"
)

// The braintree preset expands to its fields and match; its network token
// case removes the creditCard object that holds the token, which the load
// accepts as taking the token out with it.
func TestPresetBraintree(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(dest, "preset: braintree", "fallback: pan")))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Outbound[0]
	if !slices.Equal(s.Match.Paths, []string{"/graphql"}) || !slices.Equal(s.Match.Methods, []string{"POST"}) {
		t.Errorf("match: %+v", s.Match)
	}
	// withNumber adds the PAN fallback's number at the token's place.
	if n := len(s.Fields); n != len(braintreePreset.fields)+1 {
		t.Fatalf("%d fields", n)
	}
	if n := s.Fields[1]; n.Kind != KindNumber || n.JSON != "variables.input.creditCard.number" || n.When != WhenPAN {
		t.Errorf("PAN number: %+v", n)
	}
	// Without the remove, the network token case would leave the token
	// where the PAN fallback writes a number.
	_, err = Parse("rules.yaml", []byte(out(dest, "fallback: pan", "fields:",
		"- {kind: token, json: variables.input.creditCard.number}",
		"- {kind: number, json: variables.input.networkToken.number, when: network_token}",
		"- {kind: remove, json: variables.input.options, when: network_token}")))
	if err == nil || !strings.Contains(err.Error(), "leaves the token") {
		t.Errorf("token left accepted: %v", err)
	}
	// A remove of an object around the token is only the token's way out:
	// in a case that writes the number there it is refused.
	_, err = Parse("rules.yaml", []byte(out(dest, "fallback: pan", "fields:",
		"- {kind: token, json: variables.input.creditCard.number}",
		"- {kind: remove, json: variables.input.creditCard, when: pan}",
		"- {kind: number, json: variables.input.networkToken.number, when: network_token}",
		"- {kind: remove, json: variables.input.creditCard, when: network_token}")))
	if err == nil || !strings.Contains(err.Error(), "removes") {
		t.Errorf("removing the PAN's own object accepted: %v", err)
	}
}
