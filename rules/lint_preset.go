package rules

import (
	"fmt"
	stdmaps "maps" // presets.go has a func maps
	"slices"
	"strings"

	"github.com/tokengate/tokengate/network"
)

// lintPreset reports the fields of a preset's set that contradict the
// preset: a field the user wrote replaces the preset's at the same place
// and case (withPreset), which is how a format or a value is changed, and
// the parser refuses what collides (a second cvv, a place written twice),
// but a replacement can still undo what the preset is for. Three rules,
// each an error because the request the processor gets would be wrong:
//
//   - the token stays where the preset reads it: the preset's number,
//     remove and type fields are written around that place, so a token
//     read elsewhere leaves them writing a request the token is not in;
//   - a replacement keeps the kind of the field it replaces (a constant
//     and a brand field, both literals, may replace each other): a remove
//     in place of the preset's PAN-only cvv sends the card without its
//     CVV, a constant in place of its number sends no card at all;
//   - every field at a place the preset's schema constrains (the
//     processor's type, expiry format, discriminator or enum values per
//     case) meets it: source.type card on Checkout.com's network token
//     request, or its expiry_month as a string, is refused by the
//     processor, so it is refused here, with the document's rule.
//
// A replacement within those bounds is the preset's intended use and no
// finding. The findings are at the user's field's line: the preset's own
// fields meet its rules (TestPresetsMeetTheirSchema).
func lintPreset(path string, s *Outbound) []Finding {
	p, ok := presets[s.Preset]
	if !ok {
		return nil
	}
	var out []Finding
	add := func(f Field, format string, args ...any) {
		out = append(out, Finding{Path: path, Line: f.Line, Severity: SeverityError, Set: s.Name,
			Message: fmt.Sprintf("contradicts preset %s: ", s.Preset) + fmt.Sprintf(format, args...)})
	}
	if p.cryptogramRequired && s.Initiator == network.MerchantInitiated {
		out = append(out, Finding{Path: path, Line: s.Line, Severity: SeverityWarning, Set: s.Name,
			Message: fmt.Sprintf("initiator: mit with preset %s: its network token request requires a cryptogram, and a Mastercard merchant-initiated payment has none (MDES issues none), so the processor refuses those; use the default cit, or another set for Mastercard MITs", s.Preset)})
	}
	pi := slices.IndexFunc(p.fields, func(g Field) bool { return g.Kind == KindToken })
	for _, f := range s.Fields {
		if f.Kind != KindToken || pi < 0 {
			continue
		}
		if pt := p.fields[pi]; f.JSON != pt.JSON || f.Form != pt.Form {
			add(f, "the token field reads %s, but the preset reads the token at %s and writes the card number and the request's other card fields around that place, so the processor would get a request the card is not in; drop this field (the preset's token field applies) or write the set without the preset",
				places(f), places(pt))
		}
	}
	for _, f := range s.Fields {
		// The preset places the card number in both cases: the network
		// token where its fields write the network token request, the PAN
		// (added by the load) at the token's place. A number field of the
		// user's moves one of them: with when: pan at the network token's
		// place it sent the PAN in the network token's shape and left the
		// token where the card number goes.
		if f.Kind != KindNumber || pi < 0 || slices.ContainsFunc(p.fields, func(g Field) bool { return sameField(f, g) }) {
			continue
		}
		if slices.ContainsFunc(s.Fields, func(t Field) bool { return t.Kind == KindToken && t.JSON == f.JSON && t.Form == f.Form }) {
			continue // the number at the token's place, as the load adds it (a moved token is reported above)
		}
		add(f, "this number field moves the card number the preset writes (the network token at its own place, the PAN at %s); drop it", places(p.fields[pi]))
	}
	for _, pf := range p.fields {
		if pf.Kind == KindToken || slices.ContainsFunc(s.Fields, func(f Field) bool { return sameField(f, pf) }) {
			continue
		}
		i := slices.IndexFunc(s.Fields, func(f Field) bool { return overrides(f, pf) })
		if i < 0 {
			continue
		}
		if f := s.Fields[i]; f.Kind != pf.Kind && !(literal(f.Kind) && literal(pf.Kind)) {
			add(f, "this %s field replaces the preset's %s field at %s%s, so the processor would not get the %s there; a field at a preset field's place and case replaces it, so keep its kind (%s) and change only its format, as or value",
				f.Kind, pf.Kind, places(pf), whenText(pf.When), pf.Kind, pf.Kind)
		} else if why := graphqlContradicts(f, pf); why != "" {
			add(f, "this graphql field replaces the preset's at %s: %s", places(pf), why)
		}
	}
	for _, f := range s.Fields {
		for _, sel := range []struct {
			place string
			json  bool
		}{{f.JSON, true}, {f.Form, false}} {
			c, ok := p.schema[sel.place]
			if sel.place == "" || !ok {
				continue
			}
			if why := c.refuses(f, sel.json); why != "" {
				add(f, "%s %s at %s: %s (%s)", f.Kind, why, sel.place, c.want(f), c.doc)
				break
			}
		}
	}
	return out
}

// refuses says how field f, written at a place with constraint c (in a
// JSON body if json), falls outside it, or "" if it does not.
func (c constraint) refuses(f Field, json bool) string {
	if f.Kind == KindRemove || f.Kind == KindToken {
		return ""
	}
	if c.format != "" && (f.Kind == KindExpMonth || f.Kind == KindExpYear) && f.Format != c.format {
		if f.Format == "" {
			return "writes the expiry as it is held"
		}
		return "writes format " + string(f.Format)
	}
	for _, v := range literals(f) {
		for w, allowed := range c.values {
			if f.When.Applies(w) && !slices.Contains(allowed, v.Text) {
				return fmt.Sprintf("writes %q when %s", v.Text, w)
			}
		}
	}
	if c.typ == "" {
		return ""
	}
	if !json {
		// A form value is text; an integer member wants digits.
		for _, v := range literals(f) {
			if c.typ == AsInteger && (v.Text == "" || strings.Trim(v.Text, "0123456789") != "") {
				return fmt.Sprintf("writes %q", v.Text)
			}
		}
		return ""
	}
	if t := jsonType(f); t != "" && t != string(c.typ) {
		return "writes a JSON " + t
	}
	return ""
}

// want is what the constraint asks of f, for the message.
func (c constraint) want(f Field) string {
	var w []string
	if c.typ != "" {
		w = append(w, "the processor wants "+map[As]string{AsString: "a string", AsInteger: "an integer"}[c.typ])
	}
	if c.format != "" && (f.Kind == KindExpMonth || f.Kind == KindExpYear) {
		w = append(w, "format: "+string(c.format))
	}
	for _, when := range []When{WhenNetworkToken, WhenPAN} {
		if v, ok := c.values[when]; ok && f.When.Applies(when) {
			w = append(w, "when "+string(when)+" one of "+strings.Join(v, ", "))
		}
	}
	return strings.Join(w, ", ")
}

// jsonType is the JSON type field f writes: "string", "integer",
// "boolean", or "" when its literals differ in type.
func jsonType(f Field) string {
	switch f.Kind {
	case KindExpMonth, KindExpYear, KindECI:
		if f.As == AsInteger {
			return "integer"
		}
		return "string"
	case KindConstant, KindBrand:
		t := ""
		for i, v := range literals(f) {
			vt := "string"
			switch {
			case v.Bare && (v.Text == "true" || v.Text == "false"):
				vt = "boolean"
			case v.Bare:
				vt = "integer"
			}
			if i > 0 && vt != t {
				return ""
			}
			t = vt
		}
		return t
	}
	return "string" // card data: number, cvv, cryptogram, name
}

// literals are the values a constant or brand field writes, in a stable
// order.
func literals(f Field) []Scalar {
	switch f.Kind {
	case KindConstant:
		return []Scalar{f.Value}
	case KindBrand:
		var out []Scalar
		for _, b := range slices.Sorted(stdmaps.Keys(f.Values)) {
			out = append(out, f.Values[b])
		}
		if f.Default != nil {
			out = append(out, *f.Default)
		}
		return out
	}
	return nil
}

// literal reports whether kind k writes a value from the rules file.
func literal(k Kind) bool { return k == KindConstant || k == KindBrand }

// sameField reports whether f is g as written (line aside): a preset
// field the user did not replace, or repeated as it is.
func sameField(f, g Field) bool {
	return f.Kind == g.Kind && f.JSON == g.JSON && f.Form == g.Form && f.When == g.When && f.Format == g.Format &&
		f.As == g.As && f.Value == g.Value && stdmaps.Equal(f.Values, g.Values) &&
		(f.Default == nil) == (g.Default == nil) && (f.Default == nil || *f.Default == *g.Default) &&
		(f.Op == nil) == (g.Op == nil) && (f.Op == nil || f.Op.From == g.Op.From && f.Op.To == g.Op.To && slices.Equal(f.Op.Select, g.Op.Select))
}

// places names a field's selectors: "json source.number", "form
// card[number]", or both.
func places(f Field) string {
	var s []string
	if f.JSON != "" {
		s = append(s, "json "+f.JSON)
	}
	if f.Form != "" {
		s = append(s, "form "+f.Form)
	}
	return strings.Join(s, " and ")
}

// graphqlContradicts says how a graphql field f that replaces the preset's
// pf undoes it, or "". The preset's other fields write the network token
// input for pf's to and the card input for its from: another from sends
// the PAN and CVV under a mutation the preset was not written for, and
// another to (or none) sends the network token and its cryptogram under a
// mutation that cannot take them. Only the selection may change, within
// the preset's: a member outside it is one the other mutation's payload
// lacks.
func graphqlContradicts(f, pf Field) string {
	if f.Kind != KindGraphQL || pf.Kind != KindGraphQL || f.Op == nil || pf.Op == nil {
		return ""
	}
	if f.Op.From != pf.Op.From || f.Op.To != pf.Op.To {
		to := "none"
		if f.Op.To.Name != "" {
			to = f.Op.To.String()
		}
		return fmt.Sprintf("it goes from %s to %s, but the preset's fields write the request for %s to %s; keep from and to, and change only select", f.Op.From, to, pf.Op.From, pf.Op.To)
	}
	if len(pf.Op.Select) == 0 {
		return ""
	}
	if len(f.Op.Select) == 0 {
		return "it has no select, so the query may select what only one of the two mutations returns; select among " + pf.Op.selectText()
	}
	for _, m := range f.Op.Select {
		if !slices.Contains(pf.Op.Select, m) {
			return fmt.Sprintf("select has %q, which not both mutations return; select among %s", m, pf.Op.selectText())
		}
	}
	return ""
}
