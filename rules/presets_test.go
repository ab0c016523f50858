package rules

import (
	"slices"
	"strings"
	"testing"
)

// The checkout_com preset expands to its fields and match; the number on
// the PAN fallback is the token's place (withNumber).
func TestPresetCheckout(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(dest, "preset: checkout_com", "fallback: pan")))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Outbound[0]
	if s.Preset != "checkout_com" || !slices.Equal(s.Match.Methods, []string{"POST"}) || !slices.Equal(s.Match.Paths, []string{"/payments"}) {
		t.Errorf("set: %+v", s)
	}
	if n := len(s.Fields); n != len(presets["checkout_com"].fields)+1 {
		t.Fatalf("%d fields: %+v", n, s.Fields)
	}
	for _, fd := range s.Fields {
		if fd.Line != 4 {
			t.Errorf("preset field %s at line %d, want the preset's line 4", fd.Kind, fd.Line)
		}
	}
	if n := s.Fields[1]; n.Kind != KindNumber || n.JSON != "source.number" || n.When != WhenPAN {
		t.Errorf("PAN number: %+v", n)
	}
	// The set's fields are its own: changing them leaves the preset's.
	s.Fields[6].Values["amex"] = Scalar{Text: "x"}
	if _, ok := presets["checkout_com"].fields[5].Values["amex"]; ok {
		t.Error("the preset's table was changed through a set")
	}
}

// A user field at a preset field's place and case replaces it; another is
// added; the user's match replaces the preset's. The overrides stay within
// Checkout.com's schema (an integer month, unpadded; a token_type of its
// enum), so lint, and so the load, accepts them.
func TestPresetOverride(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(dest, "preset: checkout_com", "match: {paths: [/v2/payments]}", "fields:",
		"- {kind: exp_month, json: source.expiry_month, format: m, as: integer}",
		"- {kind: constant, json: source.stored, value: true}",
		"- {kind: brand, json: source.token_type, values: {visa: vts, mastercard: mdes, amex: vts}, when: network_token}")))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Outbound[0]
	if !slices.Equal(s.Match.Paths, []string{"/v2/payments"}) || s.Match.Methods != nil {
		t.Errorf("match: %+v", s.Match)
	}
	var months, brands int
	for _, fd := range s.Fields {
		switch {
		case fd.Kind == KindExpMonth:
			months++
			if fd.Format != ExpM || fd.As != AsInteger || fd.Line != 7 {
				t.Errorf("exp_month not the user's: %+v", fd)
			}
		case fd.Kind == KindBrand:
			brands++
			if fd.Values["amex"].Text != "vts" {
				t.Errorf("brand not the user's: %+v", fd)
			}
		}
	}
	if months != 1 || brands != 1 || !slices.ContainsFunc(s.Fields, func(fd Field) bool { return fd.JSON == "source.stored" }) {
		t.Errorf("fields: %+v", s.Fields)
	}
	if got := Lint(f); len(got) != 0 {
		t.Errorf("lint refuses the override:\n%s", findingsText(got))
	}
}

func TestPresetErrors(t *testing.T) {
	tests := []struct{ name, want string }{
		{"preset: stripe_v0", `rules.yaml:4: outbound "o": unknown preset "stripe_v0" (want ` + presetNames() + `)`},
		// The same kind at a preset field's place in another case is no
		// override: it contradicts the preset.
		{"preset: checkout_com\n    fields:\n      - {kind: cvv, json: source.cvv}", `second cvv field`},
		{"preset: checkout_com\n    fields:\n      - {kind: eci, json: source.eci_value, when: network_token}", `second eci field (when: network_token)`},
		{"preset: checkout_com\n    fields:\n      - {kind: constant, json: source.type, value: card}", `json "source.type" overlaps`},
	}
	for _, tt := range tests {
		_, err := Parse("rules.yaml", []byte(out(dest, tt.name)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error\n got %v\nwant %s", tt.name, err, tt.want)
		}
	}
}
