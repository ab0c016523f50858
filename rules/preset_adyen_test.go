package rules

import (
	"slices"
	"testing"
)

// The adyen preset expands to its fields and match: the number goes in the
// token's place (paymentMethod.number) in both cases, so withNumber adds
// one number for either case, and the expiry is written as Adyen's strings.
func TestPresetAdyen(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(dest, "preset: adyen", "fallback: pan")))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Outbound[0]
	if s.Preset != "adyen" || !slices.Equal(s.Match.Methods, []string{"POST"}) || !slices.Equal(s.Match.Paths, []string{"/v71/payments"}) {
		t.Errorf("set: %+v", s)
	}
	if n := len(s.Fields); n != len(adyenPreset.fields)+1 {
		t.Fatalf("%d fields: %+v", n, s.Fields)
	}
	if n := s.Fields[1]; n.Kind != KindNumber || n.JSON != "paymentMethod.number" || n.When != WhenAlways {
		t.Errorf("number: %+v", n)
	}
	for _, fd := range s.Fields {
		if fd.Line != 4 {
			t.Errorf("preset field %s at line %d, want the preset's line 4", fd.Kind, fd.Line)
		}
		if (fd.Kind == KindExpMonth || fd.Kind == KindExpYear) && fd.As != AsString {
			t.Errorf("%s not a string: %+v", fd.Kind, fd)
		}
	}
}

// A user field at a preset field's place and case replaces it, as with
// checkout_com: here a two-digit year; a constant at a new place is added.
func TestPresetAdyenOverride(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(dest, "preset: adyen", "fields:",
		"- {kind: constant, json: shopperInteraction, value: ContAuth, when: network_token}",
		"- {kind: exp_year, json: paymentMethod.expiryYear, format: yy}")))
	if err != nil {
		t.Fatal(err)
	}
	var years int
	for _, fd := range f.Outbound[0].Fields {
		if fd.Kind == KindExpYear {
			years++
			if fd.Format != ExpYY || fd.Line != 7 {
				t.Errorf("exp_year not the user's: %+v", fd)
			}
		}
	}
	if years != 1 || !slices.ContainsFunc(f.Outbound[0].Fields, func(fd Field) bool { return fd.JSON == "shopperInteraction" }) {
		t.Errorf("fields: %+v", f.Outbound[0].Fields)
	}
	// A cvc written for both cases contradicts the preset's.
	if _, err := Parse("rules.yaml", []byte(out(dest, "preset: adyen", "fields:", "- {kind: cvv, json: paymentMethod.cvc}"))); err == nil {
		t.Error("a second cvv field was accepted")
	}
}
