package rules

import (
	"slices"

	"go.yaml.in/yaml/v3"
)

// graphqlKeys decodes a graphql field's from, to and select, and refuses
// them on any other kind, so that a line that would be ignored is an error.
func (p *parser) graphqlKeys(n *yaml.Node, ctx string, f *Field, es []entry) error {
	var from, to, sel *entry
	for i := range es {
		switch es[i].key.Value {
		case "from":
			from = &es[i]
		case "to":
			to = &es[i]
		case "select":
			sel = &es[i]
		default:
			continue
		}
		if f.Kind != KindGraphQL {
			return p.errAt(es[i].key, ctx, "%s is only for graphql fields, not %s", es[i].key.Value, f.Kind)
		}
	}
	if f.Kind != KindGraphQL {
		return nil
	}
	if f.Form != "" {
		return p.errAt(n, ctx, "a graphql field reads a JSON body's query: form is not for it")
	}
	if from == nil {
		return p.errAt(n, ctx, "a graphql field needs from, the mutation the query must hold, as name(arg: Type!)")
	}
	op := &GraphQLOp{}
	call := func(e *entry, key string) (GraphQLCall, error) {
		s, err := p.str(e.val, ctx, key)
		if err != nil {
			return GraphQLCall{}, err
		}
		c, ok := parseGraphQLCall(s)
		if !ok {
			return c, p.errAt(e.val, ctx, "%s %q: want a mutation and its one argument, as name(arg: Type!)", key, s)
		}
		return c, nil
	}
	var err error
	if op.From, err = call(from, "from"); err != nil {
		return err
	}
	if to != nil {
		if op.To, err = call(to, "to"); err != nil {
			return err
		}
		// The variables are rewritten by the set's json fields, which
		// address variables.<arg>: another argument name would leave them
		// under a variable the query no longer declares.
		if op.To.Arg != op.From.Arg {
			return p.errAt(to.val, ctx, "to's argument %s differs from from's %s: the variables stay under $%s", op.To.Arg, op.From.Arg, op.From.Arg)
		}
	}
	if sel != nil {
		items, err := p.list(sel.val, ctx, "select")
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.Kind != yaml.ScalarNode || !graphqlName.MatchString(it.Value) {
				return p.errAt(it, ctx, "select: want payload field names")
			}
			op.Select = append(op.Select, it.Value)
		}
	}
	f.Op = op
	return nil
}

// checkGraphQLSet refuses a set whose graphql field's input variable does
// not hold the token: the query is checked to pass the card data as
// $<arg>, which a GraphQL body carries in variables.<arg>, so a token read
// elsewhere would be detokenized beside a query that never uses it.
func (p *parser) checkGraphQLSet(ctx string, fields []Field) error {
	ti := slices.IndexFunc(fields, func(f Field) bool { return f.Kind == KindToken })
	for i, f := range fields {
		if f.Kind != KindGraphQL || ti < 0 {
			continue
		}
		vars := "variables." + f.Op.From.Arg
		if !Encloses(vars, fields[ti].JSON) {
			return p.errLine(fields[ti].Line, fieldCtx(ctx, ti), "the token's json %q is not inside %s, where a GraphQL request carries $%s, the input of the graphql field (field %d, line %d)", fields[ti].JSON, vars, f.Op.From.Arg, i+1, f.Line)
		}
	}
	return nil
}
