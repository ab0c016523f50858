package caddymodule

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"
)

// braintreeSchema loads testdata/braintree/schema.graphql (see its README):
// Braintree's GraphQL schema, unchanged.
func braintreeSchema(t *testing.T) *ast.Schema {
	t.Helper()
	data, err := os.ReadFile("testdata/braintree/schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: string(data)})
	if err != nil {
		t.Fatalf("schema.graphql: %v", err)
	}
	return s
}

// validBraintreeRequest reports whether body is a valid Braintree GraphQL
// request, as Braintree's server would check it: its query against the
// schema (gqlparser's validator: fields, arguments, variable types and
// uses), and its variables against the operation's variable definitions
// (validator.VariableValues: required members, unknown members, enums,
// scalar types). It returns the operation's one root field.
func validBraintreeRequest(t *testing.T, schema *ast.Schema, body string) (string, error) {
	t.Helper()
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("the processor got no JSON: %v", err)
	}
	doc, errs := gqlparser.LoadQuery(schema, req.Query)
	if len(errs) > 0 {
		return "", errs
	}
	if len(doc.Operations) != 1 {
		return "", errs
	}
	op := doc.Operations[0]
	if _, err := validator.VariableValues(schema, op, req.Variables); err != nil {
		return "", err
	}
	return op.SelectionSet[0].(*ast.Field).Name, nil
}

// braintreeQuery is the query of Braintree's ordinary tokenizeCreditCard
// request, selecting the single-use payment method.
const braintreeQuery = `mutation TokenizeCreditCard($input: TokenizeCreditCardInput!) {
  tokenizeCreditCard(input: $input) {
    clientMutationId
    paymentMethod { id details { ... on CreditCardDetails { brandCode last4 expirationMonth expirationYear } } }
  }
}`

// braintreeRequest is Braintree's ordinary card tokenization request with
// number where the card number goes.
func braintreeRequest(number string) string {
	q, _ := json.Marshal(braintreeQuery)
	return `{"query":` + string(q) + `,"variables":{"input":{"clientMutationId":"ORD-1","creditCard":{"number":"` + number +
		`","expirationMonth":"12","expirationYear":"2030","cvv":"***","cardholderName":"Ada Lovelace"},"options":{"validate":false}}}}`
}

// TestBraintreePresetSchema: the braintree preset ("braintree_preset" in
// testdata/rules.yaml) through a real Caddy. What the processor receives is
// a valid Braintree request: a tokenizeNetworkToken mutation with the
// network token, cryptogram and ECI for Visa, Mastercard and Amex, and the
// merchant's tokenizeCreditCard with the PAN and CVV for a card without a
// network token.
func TestBraintreePresetSchema(t *testing.T) {
	schema := braintreeSchema(t)
	// The validator catches what the preset must not send, naming it.
	card := braintreeRequest("4111111111111111")
	nt := `{"query":"mutation($input: TokenizeNetworkTokenInput!) { tokenizeNetworkToken(input: $input) { paymentMethod { id } } }",` +
		`"variables":{"input":{"networkToken":{"number":"4111111111111111","cryptogram":"AAA=","eCommerceIndicator":"05","expirationMonth":"12","expirationYear":"2030","originDetails":{"origin":"NETWORK_TOKEN"}}}}}`
	for _, tc := range []struct{ name, bad, want string }{
		{"a creditCard beside the network token", strings.Replace(nt, `"networkToken"`, `"creditCard":{"number":"4111111111111111"},"networkToken"`, 1), "creditCard"},
		{"a cvv in the network token", strings.Replace(nt, `"cryptogram"`, `"cvv":"123","cryptogram"`, 1), "cvv"},
		{"no cryptogram", strings.Replace(nt, `"cryptogram":"AAA=",`, ``, 1), "cryptogram"},
		{"an unknown origin", strings.Replace(nt, `"NETWORK_TOKEN"`, `"NETWORK"`, 1), "NETWORK"},
		{"the card mutation with network token variables", strings.Replace(nt, `TokenizeNetworkTokenInput!) { tokenizeNetworkToken`, `TokenizeCreditCardInput!) { tokenizeCreditCard`, 1), "networkToken"},
		{"a deprecated-only member on the network token payload", strings.Replace(nt, `{ paymentMethod { id } }`, `{ token }`, 1), `"token"`},
		{"the card's input type for tokenizeNetworkToken", strings.Replace(nt, `TokenizeNetworkTokenInput!`, `TokenizeCreditCardInput!`, 1), "TokenizeCreditCardInput"},
		{"an integer expirationMonth", strings.Replace(card, `"expirationMonth":"12"`, `"expirationMonth":12`, 1), "expirationMonth"},
	} {
		if _, err := validBraintreeRequest(t, schema, tc.bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: error %.300v, want it to name %s", tc.name, err, tc.want)
		}
	}
	for _, ok := range []string{card, nt} {
		if _, err := validBraintreeRequest(t, schema, ok); err != nil {
			t.Fatalf("a valid request is refused: %v", err)
		}
	}
	g := startGatewaySites(t, "", demoPSPSites)
	for _, tc := range []struct {
		name, pan, cvv, what, mutation string
	}{
		{"visa network token", visaPAN, "123", "variables.input.creditCard.number=network_token", "tokenizeNetworkToken"},
		{"mastercard network token", "5555555555554444", "123", "variables.input.creditCard.number=network_token", "tokenizeNetworkToken"},
		{"amex network token", "378282246310005", "1234", "variables.input.creditCard.number=network_token", "tokenizeNetworkToken"},
		{"no network token", "4539097887163333", "123", "variables.input.creditCard.number=pan;reason=card_not_eligible", "tokenizeCreditCard"},
		{"mastercard, no network token", "5325191087030619", "123", "variables.input.creditCard.number=pan;reason=card_not_eligible", "tokenizeCreditCard"},
		{"amex, no network token", "373555735376156", "1234", "variables.input.creditCard.number=pan;reason=card_not_eligible", "tokenizeCreditCard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := g.post(inboundURL+"/checkout", jsonCT, strings.Replace(checkoutJSON(tc.pan), `"cvc":"`+testCVV+`"`, `"cvc":"`+tc.cvv+`"`, 1))
			token := str(decode(t, in.body), "card.number")
			if in.status != http.StatusOK || !strings.HasPrefix(token, "tok_") {
				t.Fatalf("checkout: %d %s", in.status, in.body)
			}
			out := g.post(outboundURL+"/braintree-preset/graphql", jsonCT, braintreeRequest(token), "X-Tokengate-Api-Key", apiKeyA)
			if h := out.header.Get(InjectedHeader); out.status != http.StatusOK || h != tc.what {
				t.Fatalf("tokenize: %d %q %s", out.status, h, out.body)
			}
			got := lastReceived(t, g, "http://localhost:9082/received")
			mutation, err := validBraintreeRequest(t, schema, got)
			if err != nil {
				t.Fatalf("not valid against Braintree's schema: %v\n%s", err, got)
			}
			if mutation != tc.mutation {
				t.Fatalf("mutation %s, want %s", mutation, tc.mutation)
			}
			var v struct {
				Variables struct {
					Input struct {
						ClientMutationID string         `json:"clientMutationId"`
						CreditCard       map[string]any `json:"creditCard"`
						NetworkToken     map[string]any `json:"networkToken"`
					} `json:"input"`
				} `json:"variables"`
			}
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Fatal(err)
			}
			in2 := v.Variables.Input
			if in2.ClientMutationID != "ORD-1" {
				t.Errorf("clientMutationId not kept")
			}
			// The schema allows more than the preset sends: the cryptogram
			// and ECI with the network token, the CVV with the PAN only.
			if tc.mutation == "tokenizeNetworkToken" {
				nt := in2.NetworkToken
				if in2.CreditCard != nil || nt["cryptogram"] == nil || nt["eCommerceIndicator"] == nil || nt["number"] == tc.pan {
					t.Errorf("network token request: creditCard sent %v, cryptogram %v, eci %v", in2.CreditCard != nil, nt["cryptogram"] != nil, nt["eCommerceIndicator"] != nil)
				}
			} else if in2.NetworkToken != nil || in2.CreditCard["number"] != tc.pan || in2.CreditCard["cvv"] != tc.cvv {
				t.Errorf("card request: networkToken sent %v, PAN sent %v, CVV sent %v", in2.NetworkToken != nil, in2.CreditCard["number"] == tc.pan, in2.CreditCard["cvv"] == tc.cvv)
			}
			if strings.Contains(got, token) {
				t.Error("the processor got the merchant's token")
			}
			// The demo processor answers with what it received: the
			// response guard keeps every value sent from the merchant.
			sent := []string{tc.pan, `"cvv":"` + tc.cvv + `"`}
			for _, k := range []string{"number", "cryptogram"} {
				if v, ok := in2.NetworkToken[k].(string); ok {
					sent = append(sent, v)
				}
			}
			for _, v := range sent {
				if strings.Contains(out.body, v) {
					t.Errorf("the merchant got back a value sent to the processor (%d characters)", len(v))
				}
			}
		})
	}
	// A query the preset does not know is refused before the card is
	// read, naming the problem and not echoing the query: here the input
	// written into the query. (A card number written there is refused
	// before, by the outbound PAN guard.)
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	for _, inline := range []struct{ input, code, reason string }{
		{`{creditCard: {expirationMonth: \"12\", cvv: \"737\"}}`, "graphql_operation_refused", "not the variable $input"},
		{`{creditCard: {number: \"4111111111111111\"}}`, "pan_detected", "a card number is outside the token fields"},
	} {
		bad := strings.Replace(braintreeRequest(token), `tokenizeCreditCard(input: $input)`, `tokenizeCreditCard(input: `+inline.input+`)`, 1)
		out := g.post(outboundURL+"/braintree-preset/graphql", jsonCT, bad, "X-Tokengate-Api-Key", apiKeyA)
		// (The request id, a random UUID, may hold any digits.)
		answer := regexp.MustCompile(`"request_id":"[^"]*"`).ReplaceAllString(out.body, "")
		if out.status != http.StatusBadRequest || !strings.Contains(out.body, inline.code) || !strings.Contains(out.body, inline.reason) ||
			strings.Contains(answer, "4111") || strings.Contains(answer, "737") {
			t.Errorf("inline input: %d %s", out.status, out.body)
		}
	}
	// A request without a token (a charge of the single-use payment
	// method) passes through untouched.
	charge := `{"query":"mutation($input: ChargePaymentMethodInput!) { chargePaymentMethod(input: $input) { transaction { id } } }","variables":{"input":{"paymentMethodId":"tokencc_abc","transaction":{"amount":"10.00"}}}}`
	if out := g.post(outboundURL+"/braintree-preset/graphql", jsonCT, charge, "X-Tokengate-Api-Key", apiKeyA); out.status != http.StatusOK || lastReceived(t, g, "http://localhost:9082/received") != charge {
		t.Errorf("charge: %d %s", out.status, out.body)
	}
	if _, err := validBraintreeRequest(t, schema, charge); err != nil {
		t.Errorf("the charge request is not valid: %v", err)
	}
}

// TestRulesCommandsOnBraintreePreset: rules lint passes
// examples/braintree/rules.yaml and rules explain on its request.json
// shows both of Braintree's mutations, as the README says.
func TestRulesCommandsOnBraintreePreset(t *testing.T) {
	const p = "../examples/braintree/rules.yaml"
	if out, err := runTokengateIn(t, "", "rules", "lint", "--rules", p); err != nil || out != "" {
		t.Errorf("lint: err %v\n%s", err, out)
	}
	req, err := os.ReadFile("../examples/braintree/request.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, brand := range []string{"visa", "mastercard", "amex"} {
		out, err := runTokengateIn(t, string(req), "rules", "explain", "--rules", p, "--set", "braintree", "--brand", brand)
		if err != nil {
			t.Fatalf("explain %s: %v\n%s", brand, err, out)
		}
		for _, want := range []string{
			"Tokengate-Injected: variables.input.creditCard.number=network_token\n",
			`  - variables.input.creditCard`, `  + variables.input.networkToken.number = "<network_token>"`,
			`  + variables.input.networkToken.cryptogram = "<cryptogram>"`, `  + variables.input.networkToken.originDetails.origin = "NETWORK_TOKEN"`,
			`tokenizeNetworkToken(input: $input)`, `$input: TokenizeNetworkTokenInput!`,
			"Tokengate-Injected: variables.input.creditCard.number=pan;reason=no_network_token\n",
			`  ~ variables.input.creditCard.number = "<pan>"`, `  + variables.input.creditCard.cvv = "<cvv>"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in\n%s", brand, want, out)
			}
		}
		if strings.Count(out, `tokenizeCreditCard(input: $input)`) != 1 {
			t.Errorf("%s: want one tokenizeCreditCard request (the PAN fallback's) in\n%s", brand, out)
		}
	}
	// A user field contradicting the preset is a lint error, with its
	// line, and so is a token outside the query's $input.
	rules, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ field, want string }{
		{"{kind: cvv, json: variables.input.creditCard.cvv}", "second cvv field"},
		{"{kind: token, json: card.number}", `is not inside variables.input`},
	} {
		bad := writeRulesFile(t, string(rules)+"    fields:\n      - "+tc.field+"\n")
		if out, err := runTokengateIn(t, "", "rules", "lint", "--rules", bad); err == nil || !strings.Contains(out, "rules.yaml:11: error:") || !strings.Contains(out, tc.want) {
			t.Errorf("%s: err %v\n%s", tc.field, err, out)
		}
	}
}
