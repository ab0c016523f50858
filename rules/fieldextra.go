package rules

import (
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tokengate/tokengate/card"
)

// extraKeys are the outbound field keys beyond kind, json and form: what
// lets one rule set write a processor's network token request and its card
// request.
var extraKeys = []string{"when", "format", "as", "value", "values", "default", "from", "to", "select"}

// yamlInt is the one spelling of a YAML integer a constant may use: YAML
// also reads 0x1f, 0o17 and +3 as integers, which JSON cannot hold as they
// are, and a user who wrote them most likely meant text.
var yamlInt = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// whenText is " (when: x)" for messages about a conditional field.
func whenText(w When) string {
	if w == WhenAlways {
		return ""
	}
	return " (when: " + string(w) + ")"
}

// fieldExtra decodes an outbound field's when, format, as, value, values
// and default, and refuses each where it has no meaning, so that a line
// that would be ignored is an error rather than a surprise in production.
func (p *parser) fieldExtra(n *yaml.Node, ctx string, f *Field, es []entry) error {
	if err := p.graphqlKeys(n, ctx, f, es); err != nil {
		return err
	}
	var asKey, valueKey, valuesKey, defaultKey *yaml.Node
	for _, e := range es {
		var err error
		switch e.key.Value {
		case "when":
			err = p.when(e, ctx, f)
		case "format":
			err = p.expFormat(e, ctx, f)
		case "as":
			var s string
			if s, err = p.str(e.val, ctx, "as"); err == nil {
				switch As(s) {
				case AsString, AsInteger:
					f.As, asKey = As(s), e.key
				default:
					err = p.errAt(e.val, ctx, "unknown as %q (want string, integer)", s)
				}
			}
		case "value":
			if f.Kind != KindConstant {
				return p.errAt(e.key, ctx, "value is only for constant fields, not %s (a %s's value comes from the card)", f.Kind, f.Kind)
			}
			valueKey = e.key
			f.Value, err = p.scalar(e.val, ctx, "value")
		case "values":
			if f.Kind != KindBrand {
				return p.errAt(e.key, ctx, "values is only for brand fields, not %s", f.Kind)
			}
			valuesKey = e.key
			err = p.brandValues(e.val, ctx, f)
		case "default":
			if f.Kind != KindBrand {
				return p.errAt(e.key, ctx, "default is only for brand fields, not %s", f.Kind)
			}
			defaultKey = e.key
			var s Scalar
			if s, err = p.scalar(e.val, ctx, "default"); err == nil {
				f.Default = &s
			}
		}
		if err != nil {
			return err
		}
	}
	switch {
	case f.Kind == KindRemove && (f.Format != "" || asKey != nil):
		return p.errAt(n, ctx, "a remove field takes only json, form and when: it writes nothing")
	case f.Kind == KindConstant && valueKey == nil:
		return p.errAt(n, ctx, "a constant field needs value")
	case f.Kind == KindBrand && valuesKey == nil:
		return p.errAt(n, ctx, "a brand field needs values (brand: value), and may have default")
	}
	if asKey == nil {
		return nil
	}
	switch f.Kind {
	case KindExpMonth, KindExpYear, KindECI:
		if f.As == AsInteger && f.Format == ExpMM {
			return p.errAt(asKey, ctx, "as: integer cannot keep format mm's leading zero; use format m or drop format")
		}
		return nil
	case KindConstant:
		return p.asScalar(asKey, ctx, f.As, &f.Value, "value")
	case KindBrand:
		for b, v := range f.Values {
			if err := p.asScalar(asKey, ctx, f.As, &v, "value for "+b); err != nil {
				return err
			}
			f.Values[b] = v
		}
		if f.Default != nil {
			return p.asScalar(defaultKey, ctx, f.As, f.Default, "default")
		}
		return nil
	}
	return p.errAt(asKey, ctx, "as is only for exp_month, exp_year, eci, constant and brand fields, not %s: it is written as a string", f.Kind)
}

// when decodes the injection case, refusing it where the field could never
// be written in that case or where it has to be written in both.
func (p *parser) when(e entry, ctx string, f *Field) error {
	s, err := p.str(e.val, ctx, "when")
	if err != nil {
		return err
	}
	w := When(s)
	if w != WhenNetworkToken && w != WhenPAN {
		return p.errAt(e.val, ctx, "unknown when %q (want network_token, pan)", s)
	}
	switch {
	case f.Kind == KindGraphQL:
		return p.errAt(e.key, ctx, "when is not for a graphql field: its query is checked in both cases, and switched to its to only when a network token is sent")
	case f.Kind == KindToken:
		return p.errAt(e.key, ctx, "when is not for the token field: the token is read before anyone knows which case the card takes")
	case w == WhenPAN && (f.Kind == KindCryptogram || f.Kind == KindECI):
		return p.errAt(e.key, ctx, "%s with when: pan would never be written: the PAN fallback has no %s", f.Kind, f.Kind)
	case w == WhenNetworkToken && f.Kind == KindCVV:
		return p.errAt(e.key, ctx, "cvv with when: network_token would never be written: a CVV only goes on the PAN fallback")
	}
	f.When = w
	return nil
}

// expFormat decodes an expiry format, only on its own kind.
func (p *parser) expFormat(e entry, ctx string, f *Field) error {
	s, err := p.str(e.val, ctx, "format")
	if err != nil {
		return err
	}
	switch f.Kind {
	case KindExpMonth:
		if v := ExpFormat(s); v == ExpMM || v == ExpM {
			f.Format = v
			return nil
		}
		return p.errAt(e.val, ctx, "unknown exp_month format %q (want mm, m)", s)
	case KindExpYear:
		if v := ExpFormat(s); v == ExpYYYY || v == ExpYY {
			f.Format = v
			return nil
		}
		return p.errAt(e.val, ctx, "unknown exp_year format %q (want yyyy, yy)", s)
	}
	return p.errAt(e.key, ctx, "format is only for exp_month and exp_year fields, not %s", f.Kind)
}

// scalar decodes a literal with its YAML type: a string, a decimal integer
// or a boolean.
func (p *parser) scalar(n *yaml.Node, ctx, key string) (Scalar, error) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str":
			return Scalar{Text: n.Value}, nil
		case "!!int":
			if !yamlInt.MatchString(n.Value) {
				return Scalar{}, p.errAt(n, ctx, "%s: write %s as decimal digits, or quote it for a string", key, n.Value)
			}
			return Scalar{Text: n.Value, Bare: true}, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err == nil {
				return Scalar{Text: strconv.FormatBool(b), Bare: true}, nil
			}
		}
	}
	return Scalar{}, p.errAt(n, ctx, "%s: want a string, an integer or true/false, got %s (quote it for a string)", key, describe(n))
}

// asScalar applies as to a literal: integer needs digits (written without
// leading zeros, which JSON numbers cannot have), string quotes any type.
func (p *parser) asScalar(at *yaml.Node, ctx string, as As, s *Scalar, what string) error {
	if as == AsString {
		s.Bare = false
		return nil
	}
	if s.Text == "" || strings.Trim(s.Text, "0123456789") != "" {
		return p.errAt(at, ctx, "as: integer but the %s is not digits", what)
	}
	v, err := strconv.ParseUint(s.Text, 10, 63)
	if err != nil {
		return p.errAt(at, ctx, "as: integer but the %s is too large", what)
	}
	*s = Scalar{Text: strconv.FormatUint(v, 10), Bare: true}
	return nil
}

// brandValues decodes a brand field's brand -> value mapping; brand names
// are the card package's, so that a misspelt one is an error rather than a
// brand silently sent to the fallback.
func (p *parser) brandValues(n *yaml.Node, ctx string, f *Field) error {
	brands := card.Brands()
	names := make([]string, len(brands))
	for i, b := range brands {
		names[i] = string(b)
	}
	es, err := p.entries(n, ctx+": values", names)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		return p.errAt(n, ctx, "values: want at least one brand: value")
	}
	f.Values = make(map[string]Scalar, len(es))
	for _, e := range es {
		if f.Values[e.key.Value], err = p.scalar(e.val, ctx, "values: "+e.key.Value); err != nil {
			return err
		}
	}
	return nil
}
