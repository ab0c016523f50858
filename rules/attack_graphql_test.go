package rules

import (
	"errors"
	"strings"
	"testing"
)

// A GraphQL type name is the merchant's text and may hold a run of
// digits: the refusal names the problem and never echoes the name, as
// nameText does for payload members.
func TestAttackGraphQLTypeNameNotEchoed(t *testing.T) {
	op := braintreePreset.fields[1].Op
	for _, q := range []string{
		`mutation($input: Tok4111111111111111!) { tokenizeCreditCard(input: $input) { paymentMethod { id } } }`,
		`mutation($input: [Tok4111111111111111]) { tokenizeCreditCard(input: $input) { paymentMethod { id } } }`,
	} {
		_, err := op.Rewrite(q, true)
		var r *GraphQLRefusal
		if !errors.As(err, &r) {
			t.Fatalf("not refused: %v", err)
		}
		if strings.Contains(r.Reason, "4111") {
			t.Errorf("the refusal echoes the merchant's digits: %s", r.Reason)
		}
	}
}

// A user graphql field replaces the preset's (same place, same case), and
// lint checked only that it kept the kind: one without to, or with other
// mutations, makes the network token case send tokenizeCreditCard with a
// networkToken input (a cryptogram spent on a request Braintree refuses),
// or the PAN fallback send the PAN and CVV under a mutation the preset was
// not written for. It contradicts the preset and is refused.
func TestAttackGraphQLOverrideContradictsPreset(t *testing.T) {
	for _, field := range []string{
		// no to: the network token case keeps tokenizeCreditCard.
		"{kind: graphql, json: query, from: 'tokenizeCreditCard(input: TokenizeCreditCardInput!)', select: [paymentMethod]}",
		// from and to the same mutation.
		"{kind: graphql, json: query, from: 'tokenizeCreditCard(input: TokenizeCreditCardInput!)', to: 'tokenizeCreditCard(input: TokenizeCreditCardInput!)'}",
		// swapped: the PAN fallback sends creditCard under tokenizeNetworkToken.
		"{kind: graphql, json: query, from: 'tokenizeNetworkToken(input: TokenizeNetworkTokenInput!)', to: 'tokenizeCreditCard(input: TokenizeCreditCardInput!)'}",
	} {
		f, err := Parse("rules.yaml", []byte(out(dest, "preset: braintree", "fallback: pan", "fields:", "- "+field)))
		if err != nil {
			continue // refused at parse: fine
		}
		if LintError(Lint(f)) == nil {
			t.Errorf("accepted: %s", field)
		}
	}
	// Changing only the selection is the override's point and stays fine.
	f, err := Parse("rules.yaml", []byte(out(dest, "preset: braintree", "fallback: pan", "fields:",
		"- {kind: graphql, json: query, from: 'tokenizeCreditCard(input: TokenizeCreditCardInput!)', to: 'tokenizeNetworkToken(input: TokenizeNetworkTokenInput!)', select: [paymentMethod]}")))
	if err != nil {
		t.Fatal(err)
	}
	if err := LintError(Lint(f)); err != nil {
		t.Errorf("a narrower selection refused: %v", err)
	}
}
