package rules

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// direction holds what differs between inbound and outbound fields.
type direction struct {
	name     string
	kinds    []Kind // valid kinds, in the order errors list them
	anchor   Kind   // the kind that identifies the card: exactly one per set
	keepable []Kind // kinds that may set keep
	extra    bool   // fields may have when, format, as, value, values, default
}

var (
	inboundDir = direction{
		name:     "inbound",
		kinds:    []Kind{KindPAN, KindCVV, KindExpMonth, KindExpYear, KindName, KindConsent},
		anchor:   KindPAN,
		keepable: []Kind{KindCVV, KindExpMonth, KindExpYear, KindName},
	}
	outboundDir = direction{
		name:   "outbound",
		kinds:  []Kind{KindToken, KindNumber, KindExpMonth, KindExpYear, KindCryptogram, KindECI, KindCVV, KindName, KindConstant, KindBrand, KindRemove, KindGraphQL},
		anchor: KindToken,
		extra:  true,
	}
)

// wantKinds lists the valid kinds for an error message.
func (d direction) wantKinds() string {
	s := make([]string, len(d.kinds))
	for i, k := range d.kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// fieldCtx names field i (0-based) of a set, counting from 1 as people do.
func fieldCtx(ctx string, i int) string {
	return fmt.Sprintf("%s: field %d", ctx, i+1)
}

// fields decodes a set's list of fields; checkFields then checks them
// together.
func (p *parser) fields(n *yaml.Node, ctx string, d direction) ([]Field, error) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, ctx, "fields: want a list, got %s", describe(n))
	}
	out := make([]Field, 0, len(n.Content))
	for i, item := range n.Content {
		f, err := p.field(resolve(item), fieldCtx(ctx, i), d)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// field decodes one field.
func (p *parser) field(n *yaml.Node, ctx string, d direction) (Field, error) {
	f := Field{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return f, p.errAt(n, ctx, "want a mapping with kind and json or form, got %s", describe(n))
	}
	known := []string{"kind", "json", "form", "keep"}
	if d.extra {
		known = append(known, extraKeys...)
	}
	es, err := p.entries(n, ctx, known)
	if err != nil {
		return f, err
	}
	var keepKey *yaml.Node
	var extra []entry
	for _, e := range es {
		switch e.key.Value {
		case "when", "format", "as", "value", "values", "default", "from", "to", "select":
			extra = append(extra, e)
		case "kind":
			s, err := p.str(e.val, ctx, "kind")
			if err != nil {
				return f, err
			}
			if !slices.Contains(d.kinds, Kind(s)) {
				return f, p.errAt(e.val, ctx, "unknown kind %q (want %s)", s, d.wantKinds())
			}
			f.Kind = Kind(s)
		case "json":
			if f.JSON, err = p.str(e.val, ctx, "json"); err != nil {
				return f, err
			}
			if err := checkJSONPath(f.JSON); err != nil {
				return f, p.errAt(e.val, ctx, "json %q: %v", f.JSON, err)
			}
		case "form":
			if f.Form, err = p.str(e.val, ctx, "form"); err != nil {
				return f, err
			}
			if err := checkFormName(f.Form); err != nil {
				return f, p.errAt(e.val, ctx, "form %q: %v", f.Form, err)
			}
		case "keep":
			keepKey = e.key
			if f.Keep, err = p.boolean(e.val, ctx, "keep"); err != nil {
				return f, err
			}
		}
	}
	if f.Kind == "" {
		return f, p.errAt(n, ctx, "missing kind (want %s)", d.wantKinds())
	}
	if keepKey != nil && !slices.Contains(d.keepable, f.Kind) {
		return f, p.errAt(keepKey, ctx, "keep is only for inbound cvv, exp_month, exp_year and name fields, not %s %s", d.name, f.Kind)
	}
	if f.JSON == "" && f.Form == "" {
		return f, p.errAt(n, ctx, "needs json or form (or both)")
	}
	if d.extra {
		if err := p.fieldExtra(n, ctx, &f, extra); err != nil {
			return f, err
		}
	}
	return f, nil
}

// checkFormName rejects form names no browser would send.
func checkFormName(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control characters are not allowed")
		}
	}
	return nil
}

// checkFields checks a set's fields together. A set describes one card (or,
// with "#", one card per array element): so one field of each kind, exactly
// one anchor (pan or token) that every other field is tied to, no two fields
// writing the same place, and one grouping of "#" indexes for all of them.
func (p *parser) checkFields(setKey *yaml.Node, ctx string, fields []Field, d direction) error {
	ai := -1
	for i, f := range fields {
		if f.Kind == d.anchor && ai < 0 {
			ai = i
		}
		if f.Kind == KindConstant || f.Kind == KindBrand || f.Kind == KindRemove {
			continue // as many as the request needs; their places must differ
		}
		for j, g := range fields[:i] {
			if g.Kind == f.Kind && g.When.overlaps(f.When) {
				return p.errLine(f.Line, fieldCtx(ctx, i), "second %s field%s (the first is field %d, line %d); a set describes one card", f.Kind, whenText(f.When), j+1, g.Line)
			}
		}
	}
	if ai < 0 {
		return p.errAt(setKey, ctx, "needs exactly one %s field, has none", d.anchor)
	}
	a := fields[ai]
	for i, f := range fields {
		fc := fieldCtx(ctx, i)
		if f.JSON != "" && a.JSON == "" {
			return p.errLine(f.Line, fc, "has json but the %s field does not, so in a JSON body this %s could not be tied to a card", d.anchor, f.Kind)
		}
		if f.Form != "" && a.Form == "" {
			return p.errLine(f.Line, fc, "has form but the %s field does not, so in a form body this %s could not be tied to a card", d.anchor, f.Kind)
		}
		if f.JSON != "" && wildcards(f.JSON) != wildcards(a.JSON) {
			return p.errLine(f.Line, fc, "json %q has %d # segments but the %s field's %q has %d; all fields of a set share one grouping of # indexes", f.JSON, wildcards(f.JSON), d.anchor, a.JSON, wildcards(a.JSON))
		}
		for j, g := range fields[:i] {
			if !f.When.overlaps(g.When) {
				continue // never written in the same request
			}
			if f.JSON != "" && g.JSON != "" && overlaps(f.JSON, g.JSON) && !(shareable(f, g) && f.JSON == g.JSON) && !clears(f, g) && !clears(g, f) {
				return p.errLine(f.Line, fc, "json %q overlaps field %d's %q; each value needs a place of its own", f.JSON, j+1, g.JSON)
			}
			if f.Form != "" && f.Form == g.Form && !shareable(f, g) {
				return p.errLine(f.Line, fc, "form %q is also field %d's", f.Form, j+1)
			}
		}
	}
	return nil
}

// clears reports whether r removes a member that holds o's place, where o
// only reads (the token, read before any edit) or removes too: a remove of
// a whole object ("paymentInformation.card") then takes out what the token
// left. It never lets a remove take out a place another field writes.
func clears(r, o Field) bool {
	return r.Kind == KindRemove && (o.Kind == KindToken || o.Kind == KindRemove) && Encloses(r.JSON, o.JSON)
}

// shareable reports whether two fields may name the same place: only the
// outbound token and the number or a remove, as the number is usually
// written exactly where the token was read, and a case that writes it
// elsewhere removes the token's own member.
func shareable(f, g Field) bool {
	if g.Kind == KindToken {
		f, g = g, f
	}
	return f.Kind == KindToken && (g.Kind == KindNumber || g.Kind == KindRemove)
}
