package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	gqlparse "github.com/vektah/gqlparser/v2/parser"
)

// btQuery is Braintree's ordinary tokenizeCreditCard request's query.
const btQuery = `mutation Tokenize($input: TokenizeCreditCardInput!) {
  tokenizeCreditCard(input: $input) { clientMutationId paymentMethod { id details { ... on CreditCardDetails { last4 } } } }
}`

// The network token case switches the mutation and its variable's type
// and keeps the operation's name and the merchant's selection, under the
// response key the merchant reads (an alias to the old name); the PAN
// fallback sends the query exactly as written.
func TestGraphQLRewrite(t *testing.T) {
	op := braintreePreset.fields[1].Op
	q, err := op.Rewrite(btQuery, false)
	if err != nil || q != btQuery {
		t.Fatalf("PAN case: %q, %v", q, err)
	}
	q, err = op.Rewrite(btQuery, true)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := gqlparse.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatalf("rewritten query does not parse: %v\n%s", err, q)
	}
	o := doc.Operations[0]
	f := o.SelectionSet[0].(*ast.Field)
	if o.Name != "Tokenize" || f.Name != "tokenizeNetworkToken" || o.VariableDefinitions[0].Type.String() != "TokenizeNetworkTokenInput!" ||
		f.Alias != "tokenizeCreditCard" || f.Arguments[0].Value.Raw != "input" || len(f.SelectionSet) != 2 {
		t.Errorf("rewritten query:\n%s", q)
	}
	if !strings.Contains(q, "... on CreditCardDetails") || !strings.Contains(q, "last4") {
		t.Errorf("selection not kept:\n%s", q)
	}
}

// Every query the preset was not written for is refused with a message
// that names the problem and holds nothing of the query's values.
func TestGraphQLRefusals(t *testing.T) {
	const pan = "4111111111111111"
	op := braintreePreset.fields[1].Op
	for _, tc := range []struct{ name, q, want string }{
		{"not GraphQL", `mutation { tokenizeCreditCard(input: {creditCard: {number: ` + pan + `x}}`, "does not parse as GraphQL (line 1"},
		{"two operations", btQuery + "\nquery Ping { ping }", "2 operations"},
		{"a query", `query { ping }`, "operation is a query"},
		{"another mutation", `mutation($input: ChargeCreditCardInput!) { chargeCreditCard(input: $input) { transaction { id } } }`, "does not select tokenizeCreditCard"},
		{"two fields", `mutation($input: TokenizeCreditCardInput!) { tokenizeCreditCard(input: $input) { clientMutationId } ping }`, "selects 2 fields"},
		{"inline card data", `mutation { tokenizeCreditCard(input: {creditCard: {number: "` + pan + `"}}) { clientMutationId } }`, "not the variable $input"},
		{"another variable", `mutation($card: TokenizeCreditCardInput!) { tokenizeCreditCard(input: $card) { clientMutationId } }`, "not the variable $input"},
		{"a default value", `mutation($input: TokenizeCreditCardInput! = {creditCard: {number: "` + pan + `"}}) { tokenizeCreditCard(input: $input) { clientMutationId } }`, "has a default value"},
		{"another type", `mutation($input: TokenizeCreditCardInput) { tokenizeCreditCard(input: $input) { clientMutationId } }`, "declared TokenizeCreditCardInput; it must be TokenizeCreditCardInput!"},
		{"undeclared", `mutation { tokenizeCreditCard(input: $input) { clientMutationId } }`, "does not declare $input"},
		{"a deprecated member", `mutation($input: TokenizeCreditCardInput!) { tokenizeCreditCard(input: $input) { token } }`, `has "token"; it may select clientMutationId, paymentMethod`},
		{"digits in a name", `mutation($input: TokenizeCreditCardInput!) { tokenizeCreditCard(input: $input) { _4111111111111111 } }`, "a member whose name has digits"},
		{"a payload fragment", `mutation($input: TokenizeCreditCardInput!) { tokenizeCreditCard(input: $input) { ... on TokenizeCreditCardPayload { token } } }`, "uses a fragment"},
		{"a fragment for the field", `mutation { ...T } fragment T on Mutation { tokenizeCreditCard(input: $input) { clientMutationId } }`, "does not select tokenizeCreditCard"},
	} {
		for _, nt := range []bool{false, true} {
			_, err := op.Rewrite(tc.q, nt)
			var r *GraphQLRefusal
			if !errors.As(err, &r) || !strings.Contains(r.Reason, tc.want) {
				t.Errorf("%s: %v, want a refusal naming %q", tc.name, err, tc.want)
				continue
			}
			if strings.Contains(r.Reason, "4111") {
				t.Errorf("%s: the refusal echoes card data: %s", tc.name, r.Reason)
			}
		}
	}
}

// A graphql field reads naturally in a rules file, and its mistakes are
// refused at load with the line.
func TestGraphQLField(t *testing.T) {
	const from = "from: 'tokenizeCreditCard(input: TokenizeCreditCardInput!)'"
	f, err := Parse("rules.yaml", []byte(out(dest, "fallback: pan", "fields:",
		"- {kind: token, json: variables.input.creditCard.number}",
		"- {kind: graphql, json: query, "+from+", to: 'tokenizeNetworkToken(input: TokenizeNetworkTokenInput!)', select: [paymentMethod]}")))
	if err != nil {
		t.Fatal(err)
	}
	g := f.Outbound[0].FieldsOf(KindGraphQL)
	if len(g) != 1 || g[0].Op.From.Name != "tokenizeCreditCard" || g[0].Op.To.Type != "TokenizeNetworkTokenInput!" || g[0].Op.Select[0] != "paymentMethod" {
		t.Fatalf("graphql field: %+v", g)
	}
	// The token must be in the variable the query passes.
	_, err = Parse("rules.yaml", []byte(out(dest, "fallback: pan", "fields:",
		"- {kind: token, json: input.creditCard.number}",
		"- {kind: graphql, json: query, "+from+"}")))
	if err == nil || !strings.Contains(err.Error(), `rules.yaml:6: outbound "o": field 1: the token's json "input.creditCard.number" is not inside variables.input`) {
		t.Errorf("token outside the variables: %v", err)
	}
	for _, tc := range []struct{ field, want string }{
		{"{kind: graphql, json: query}", "needs from"},
		{"{kind: graphql, json: query, from: tokenizeCreditCard}", "want a mutation and its one argument"},
		{"{kind: graphql, json: query, " + from + ", when: network_token}", "when is not for a graphql field"},
		{"{kind: graphql, json: query, " + from + ", to: 'x(card: X!)'}", "differs from from's input"},
		{"{kind: graphql, json: query, form: query, " + from + "}", "form is not for it"},
		{"{kind: constant, json: a, value: b, from: x}", "from is only for graphql fields"},
		{"{kind: graphql, json: query, " + from + ", select: ['a b']}", "select: want payload field names"},
	} {
		_, err := Parse("rules.yaml", []byte(out(dest, "fallback: pan", "fields:", "- {kind: token, json: variables.input.creditCard.number}", "- "+tc.field)))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "rules.yaml:7") {
			t.Errorf("%s: %v, want rules.yaml:7 and %q", tc.field, err, tc.want)
		}
	}
}
