package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"
	gqlparse "github.com/vektah/gqlparser/v2/parser"
)

// GraphQLOp is a graphql field's operation: the one mutation a request's
// query may hold (From), the mutation a network token request uses instead
// (To, optional), and the payload fields the query may select (Select,
// optional): those both mutations' payloads have, so that the merchant's
// selection is valid for either.
type GraphQLOp struct {
	From, To GraphQLCall
	Select   []string
}

// GraphQLCall is a mutation field with its one input argument, as written
// in a rules file: "tokenizeCreditCard(input: TokenizeCreditCardInput!)".
type GraphQLCall struct {
	Name, Arg, Type string
}

func (c GraphQLCall) String() string { return c.Name + "(" + c.Arg + ": " + c.Type + ")" }

// graphqlCall is the one spelling of a call: a field, one argument, a
// named type (non-null or not). Lists are not needed by any processor's
// input and would make the variable's type a guess.
var graphqlCall = regexp.MustCompile(`^([_A-Za-z][_0-9A-Za-z]*)\(\s*([_A-Za-z][_0-9A-Za-z]*)\s*:\s*([_A-Za-z][_0-9A-Za-z]*!?)\s*\)$`)

// graphqlName is a GraphQL name (a payload field in select).
var graphqlName = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]*$`)

// parseGraphQLCall decodes a from or to.
func parseGraphQLCall(s string) (GraphQLCall, bool) {
	m := graphqlCall.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return GraphQLCall{}, false
	}
	return GraphQLCall{Name: m[1], Arg: m[2], Type: m[3]}, true
}

// maxGraphQLTokens bounds the parse of a merchant's query: a tokenize
// mutation is a few dozen tokens, and the parser's cost grows with them.
const maxGraphQLTokens = 2000

// GraphQLRefusal is why a query was refused. It never holds a value from
// the query: a parse error's own message would quote the token it stopped
// at, which could be a card number written inline.
type GraphQLRefusal struct{ Reason string }

func (e *GraphQLRefusal) Error() string { return e.Reason }

func refuse(format string, a ...any) error {
	return &GraphQLRefusal{Reason: fmt.Sprintf(format, a...)}
}

// Rewrite checks query and returns the query to send: query itself when
// networkToken is false (the PAN fallback sends the merchant's request as
// it was written), the To mutation otherwise (aliased to the response key
// the merchant reads, data.<From> unless it wrote its own alias). It refuses, with a
// *GraphQLRefusal, a query that is not exactly one operation, a mutation
// selecting only From, with From's argument passed as the variable of the
// argument's name ($input: the rule set's fields address
// variables.<arg>), of From's type and without a default value: card data
// written into the query itself could neither be replaced nor be kept out
// of logs, and any other operation is one the set was not written for.
func (g *GraphQLOp) Rewrite(query string, networkToken bool) (string, error) {
	doc, err := gqlparse.ParseQueryWithTokenLimit(&ast.Source{Input: query}, maxGraphQLTokens)
	if err != nil {
		where := ""
		if ge, ok := err.(*gqlerror.Error); ok && len(ge.Locations) > 0 {
			where = fmt.Sprintf(" (line %d, column %d)", ge.Locations[0].Line, ge.Locations[0].Column)
		}
		return "", refuse("the query does not parse as GraphQL%s", where)
	}
	if n := len(doc.Operations); n != 1 {
		return "", refuse("the query has %d operations; it must hold the one %s mutation", n, g.From.Name)
	}
	op := doc.Operations[0]
	if op.Operation != ast.Mutation {
		return "", refuse("the operation is a %s; it must be the %s mutation", op.Operation, g.From.Name)
	}
	if len(op.SelectionSet) != 1 {
		return "", refuse("the mutation selects %d fields; it must select %s alone", len(op.SelectionSet), g.From.Name)
	}
	f, ok := op.SelectionSet[0].(*ast.Field)
	if !ok || f.Name != g.From.Name {
		return "", refuse("the mutation does not select %s (a fragment or another field)", g.From.Name)
	}
	if len(f.Arguments) != 1 || f.Arguments[0].Name != g.From.Arg {
		return "", refuse("%s must take the one argument %s", g.From.Name, g.From.Arg)
	}
	if v := f.Arguments[0].Value; v.Kind != ast.Variable || v.Raw != g.From.Arg {
		return "", refuse("%s's %s is not the variable $%s: the card data must be in variables.%s, not written into the query", g.From.Name, g.From.Arg, g.From.Arg, g.From.Arg)
	}
	vd := op.VariableDefinitions.ForName(g.From.Arg)
	switch {
	case vd == nil:
		return "", refuse("the operation does not declare $%s", g.From.Arg)
	case vd.Type.String() != g.From.Type:
		// The declared type is the merchant's text: named only if it
		// holds no digits, like a payload member.
		return "", refuse("$%s is declared %s; it must be %s", g.From.Arg, typeText(vd.Type.String()), g.From.Type)
	case vd.DefaultValue != nil:
		return "", refuse("$%s has a default value in the query: the card data must be in variables.%s", g.From.Arg, g.From.Arg)
	}
	if len(g.Select) > 0 {
		for _, s := range f.SelectionSet {
			sf, ok := s.(*ast.Field)
			if !ok {
				return "", refuse("%s's selection uses a fragment; select %s directly", g.From.Name, g.selectText())
			}
			if sf.Name != "__typename" && !slices.Contains(g.Select, sf.Name) {
				return "", refuse("%s's selection has %s; it may select %s (what a network token request returns too)", g.From.Name, nameText(sf.Name), g.selectText())
			}
		}
	}
	if !networkToken || g.To.Name == "" {
		return query, nil
	}
	// The response keeps the key the merchant reads
	// (data.tokenizeCreditCard): the field is aliased to the name it had,
	// or keeps the merchant's own alias. The parser already sets an
	// unaliased field's Alias to its name; this says so.
	if f.Alias == "" {
		f.Alias = f.Name
	}
	f.Name = g.To.Name
	f.Arguments[0].Name = g.To.Arg
	f.Arguments[0].Value.Raw = g.To.Arg
	vd.Variable = g.To.Arg
	vd.Type = &ast.Type{NamedType: strings.TrimSuffix(g.To.Type, "!"), NonNull: strings.HasSuffix(g.To.Type, "!")}
	var b strings.Builder
	formatter.NewFormatter(&b, formatter.WithIndent("  ")).FormatQueryDocument(doc)
	return b.String(), nil
}

// nameText quotes a name from the query for a message, unless it has a
// digit: a GraphQL name may hold a run of them (_4111…), and a message
// never carries anything that could be card data.
func nameText(s string) string {
	if strings.ContainsAny(s, "0123456789") {
		return "a member whose name has digits"
	}
	return strconv.Quote(s)
}

// typeText is a declared type for a message, as nameText is a name.
func typeText(s string) string {
	if strings.ContainsAny(s, "0123456789") {
		return "a type whose name has digits"
	}
	return s
}

func (g *GraphQLOp) selectText() string { return strings.Join(g.Select, ", ") }
