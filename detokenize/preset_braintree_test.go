package detokenize_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
)

// The braintree preset: Braintree's tokenizeCreditCard request with the
// token in variables.input.creditCard.number becomes a tokenizeNetworkToken
// request for Visa, Mastercard and Amex, and stays the merchant's request
// with the PAN and CVV without a network token.
func TestPresetBraintree(t *testing.T) {
	set := outboundSet(t, `outbound:
  braintree:
    preset: braintree
    destinations: ["payments.sandbox.braintree-api.com:443"]
    fallback: pan
`)
	const q = `mutation($input: TokenizeCreditCardInput!) { tokenizeCreditCard(input: $input) { paymentMethod { id } } }`
	const in = `{"query":"` + q + `","variables":{"input":{"creditCard":{"number":"%s","expirationMonth":"12","expirationYear":"2030","cardholderName":"J Smith"},"options":{"validate":true}}}}`
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
			query, input := gjson.GetBytes(out, "query").Str, gjson.GetBytes(out, "variables.input")
			if tc.nt {
				n := input.Get("networkToken")
				if !strings.Contains(query, "tokenizeCreditCard: tokenizeNetworkToken(input: $input)") || !strings.Contains(query, "$input: TokenizeNetworkTokenInput!") ||
					input.Get("creditCard").Exists() || input.Get("options").Exists() || n.Get("number").Str != c.dpan || n.Get("cryptogram").Str == "" ||
					n.Get("originDetails.origin").Str != "NETWORK_TOKEN" || n.Get("cvv").Exists() || len(n.Get("expirationMonth").Str) != 2 || len(n.Get("expirationYear").Str) != 4 {
					t.Errorf("network token request: %s", out)
				}
				return
			}
			if res.Injections[0].What != detokenize.InjectedPAN || query != q || input.Get("networkToken").Exists() ||
				input.Get("creditCard.number").Str != tc.pan || input.Get("creditCard.cvv").Str != tc.cvv || input.Get("creditCard.cardholderName").Str != "J Smith" {
				t.Errorf("card request: query kept %v, PAN sent %v, CVV sent %v", query == q, input.Get("creditCard.number").Str == tc.pan, input.Get("creditCard.cvv").Str == tc.cvv)
			}
		})
	}
	// A query the set cannot rewrite is refused before the vault is read:
	// the card's CVV is still held afterwards.
	e := newEnv(t)
	c := e.issueVaultOnly(t, tenantA, visaPAN, "123", "card_not_eligible")
	bad := strings.Replace(fmt.Sprintf(in, c.token), "mutation(", "query(", 1)
	_, _, err := e.applySet(t, set, body.JSON, bad)
	var fe *body.FieldError
	if !errors.As(err, &fe) || fe.Code != detokenize.CodeGraphQLRefused || fe.Field != "query" {
		t.Fatalf("query refused: %v", err)
	}
	if out, _, err := e.applySet(t, set, body.JSON, fmt.Sprintf(in, c.token)); err != nil || gjson.GetBytes(out, "variables.input.creditCard.cvv").Str != "123" {
		t.Errorf("the CVV was taken by the refused request (%v)", err)
	}
}
