package rules

import (
	"reflect"
	"strings"
	"testing"
)

// checkoutFields is the lead's design example: a Checkout.com-like source
// that is a network_token or a card.
var checkoutFields = []string{
	"- {kind: token, json: source.number}",
	"- {kind: exp_month, json: source.expiry_month, as: integer}",
	"- {kind: exp_year, json: source.expiry_year, format: yyyy}",
	"- {kind: cryptogram, json: source.cryptogram, when: network_token}",
	"- {kind: cvv, json: source.cvv, when: pan}",
	"- {kind: constant, json: source.type, value: network_token, when: network_token}",
	"- {kind: constant, json: source.type, value: card, when: pan}",
	"- {kind: brand, json: source.token_type, values: {visa: vts, mastercard: mdes}, when: network_token}",
}

func TestParseConditionalFields(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(append([]string{dest, "fields:"}, checkoutFields...)...)))
	if err != nil {
		t.Fatal(err)
	}
	fs := f.Outbound[0].Fields
	if len(fs) != 9 || fs[1].Kind != KindNumber || fs[1].JSON != "source.number" || fs[1].When != WhenAlways {
		t.Fatalf("number not defaulted after the token: %+v", fs)
	}
	want := []Field{
		{Kind: KindExpMonth, As: AsInteger},
		{Kind: KindExpYear, Format: ExpYYYY},
		{Kind: KindCryptogram, When: WhenNetworkToken},
		{Kind: KindCVV, When: WhenPAN},
		{Kind: KindConstant, When: WhenNetworkToken, Value: Scalar{Text: "network_token"}},
		{Kind: KindConstant, When: WhenPAN, Value: Scalar{Text: "card"}},
	}
	for i, w := range want {
		g := fs[i+2]
		if g.Kind != w.Kind || g.As != w.As || g.Format != w.Format || g.When != w.When || g.Value != w.Value {
			t.Errorf("field %d: got %+v, want %+v", i+3, g, w)
		}
	}
	b := fs[8]
	if b.Kind != KindBrand || b.When != WhenNetworkToken || len(b.Values) != 2 || b.Values["visa"] != (Scalar{Text: "vts"}) || b.Default != nil {
		t.Errorf("brand: %+v", b)
	}
}

func TestParseLiterals(t *testing.T) {
	src := out(dest, "fields:", tok,
		"- {kind: constant, json: a, form: a, value: 3}",
		"- {kind: constant, json: b, form: b, value: true}",
		"- {kind: constant, json: c, form: c, value: '007'}",
		"- {kind: constant, json: d, form: d, value: '007', as: integer}",
		"- {kind: constant, json: e, form: e, value: 12, as: string}",
		"- {kind: brand, json: f, form: f, values: {visa: '001', mastercard: '002'}, default: '000', as: integer}",
		"- {kind: eci, json: g, form: g, as: integer}",
		"- {kind: exp_month, json: m, form: m, format: m, as: integer}",
		"- {kind: exp_year, json: y, form: y, format: yy}",
	)
	f, err := Parse("rules.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	fs := f.Outbound[0].Fields
	for i, w := range []Scalar{{"3", true}, {"true", true}, {"007", false}, {"7", true}, {"12", false}} {
		if g := fs[i+2].Value; g != w {
			t.Errorf("constant %d: got %+v, want %+v", i+1, g, w)
		}
	}
	if b := fs[7]; b.Values["visa"] != (Scalar{"1", true}) || *b.Default != (Scalar{"0", true}) {
		t.Errorf("brand as integer: %+v %+v", b.Values, *b.Default)
	}
}

// A number written only in one case gets the token's place in the other,
// so no case leaves the token where a card number belongs; one per case
// written out is kept as it is.
func TestParseNumberPerCase(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(dest, "fields:", "- {kind: token, json: source.number}",
		"- {kind: number, json: source.token, when: network_token}", "- {kind: remove, json: source.number, when: network_token}")))
	if err != nil {
		t.Fatal(err)
	}
	fs := f.Outbound[0].Fields
	if len(fs) != 4 || !reflect.DeepEqual(fs[1], Field{Kind: KindNumber, JSON: "source.number", When: WhenPAN, Line: 5}) || fs[2].When != WhenNetworkToken {
		t.Fatalf("fields: %+v", fs)
	}
	f, err = Parse("rules.yaml", []byte(out(dest, "fields:", "- {kind: token, json: source.number}",
		"- {kind: number, json: source.token, when: network_token}", "- {kind: number, json: source.number, when: pan}",
		"- {kind: remove, json: source.number, when: network_token}")))
	if err != nil {
		t.Fatal(err)
	}
	if fs := f.Outbound[0].Fields; len(fs) != 4 {
		t.Fatalf("fields: %+v", fs)
	}
	// Two expiries, one per case, each with its own place and format.
	if _, err := Parse("rules.yaml", []byte(out(dest, "fields:", "- {kind: token, json: s.n}",
		"- {kind: exp_month, json: s.nt_month, when: network_token}", "- {kind: exp_month, json: s.month, when: pan, format: m}",
		"- {kind: constant, json: s.type, value: a, when: network_token}", "- {kind: constant, json: s.type, value: b, when: pan}"))); err != nil {
		t.Fatal(err)
	}
}

func TestParseConditionalFieldErrors(t *testing.T) {
	const l = "rules.yaml:6: outbound \"o\": field 2: "
	tests := []struct{ name, field, want string }{
		{"value without constant", "- {kind: eci, json: e, form: e, value: 5}",
			l + "value is only for constant fields, not eci (a eci's value comes from the card)"},
		{"constant without value", "- {kind: constant, json: e, form: e}", l + "a constant field needs value"},
		{"values without brand", "- {kind: constant, json: e, form: e, value: x, values: {visa: v}}", l + "values is only for brand fields, not constant"},
		{"default without brand", "- {kind: cvv, json: e, form: e, default: x}", l + "default is only for brand fields, not cvv"},
		{"brand without values", "- {kind: brand, json: e, form: e, default: x}", l + "a brand field needs values (brand: value), and may have default"},
		{"unknown brand", "- {kind: brand, json: e, form: e, values: {vsa: x}}",
			l + "values: unknown key \"vsa\" (want visa, mastercard, amex, discover, jcb, diners, unionpay, rupay, mir, maestro)"},
		{"empty values", "- {kind: brand, json: e, form: e, values: {}}", l + "values: want at least one brand: value"},
		{"brand value a list", "- {kind: brand, json: e, form: e, values: {visa: [a]}}", l + "values: visa: want a string, an integer or true/false, got a list (quote it for a string)"},
		{"float constant", "- {kind: constant, json: e, form: e, value: 1.5}", l + "value: want a string, an integer or true/false, got \"1.5\" (quote it for a string)"},
		{"hex constant", "- {kind: constant, json: e, form: e, value: 0x1f}", l + "value: write 0x1f as decimal digits, or quote it for a string"},
		{"when on token", "- {kind: number, json: n, form: n}\n    - {kind: token, json: t, form: t, when: pan}",
			"rules.yaml:7: outbound \"o\": field 3: when is not for the token field: the token is read before anyone knows which case the card takes"},
		{"unknown when", "- {kind: eci, json: e, form: e, when: always}", l + "unknown when \"always\" (want network_token, pan)"},
		{"cryptogram when pan", "- {kind: cryptogram, json: e, form: e, when: pan}", l + "cryptogram with when: pan would never be written: the PAN fallback has no cryptogram"},
		{"cvv when network token", "- {kind: cvv, json: e, form: e, when: network_token}", l + "cvv with when: network_token would never be written: a CVV only goes on the PAN fallback"},
		{"format on eci", "- {kind: eci, json: e, form: e, format: mm}", l + "format is only for exp_month and exp_year fields, not eci"},
		{"year format on month", "- {kind: exp_month, json: e, form: e, format: yy}", l + "unknown exp_month format \"yy\" (want mm, m)"},
		{"month format on year", "- {kind: exp_year, json: e, form: e, format: m}", l + "unknown exp_year format \"m\" (want yyyy, yy)"},
		{"as on number", "- {kind: number, json: e, form: e, as: integer}", l + "as is only for exp_month, exp_year, eci, constant and brand fields, not number: it is written as a string"},
		{"unknown as", "- {kind: eci, json: e, form: e, as: int}", l + "unknown as \"int\" (want string, integer)"},
		{"integer constant not digits", "- {kind: constant, json: e, form: e, value: card, as: integer}", l + "as: integer but the value is not digits"},
		{"integer bool", "- {kind: constant, json: e, form: e, value: true, as: integer}", l + "as: integer but the value is not digits"},
		{"integer brand value not digits", "- {kind: brand, json: e, form: e, values: {visa: vts}, as: integer}", l + "as: integer but the value for visa is not digits"},
		{"integer padded month", "- {kind: exp_month, json: e, form: e, format: mm, as: integer}", l + "as: integer cannot keep format mm's leading zero; use format m or drop format"},
		{"when key inbound", "", ""}, // see below
	}
	for _, tt := range tests[:len(tests)-1] {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("rules.yaml", []byte(out(dest, "fields:", tok, tt.field)))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
		})
	}
	_, err := Parse("rules.yaml", []byte(in("fields:", pan, "- {kind: cvv, json: c, when: pan}")))
	if err == nil || !strings.Contains(err.Error(), `rules.yaml:5: inbound "s": field 2: unknown key "when" (want kind, json, form, keep)`) {
		t.Errorf("inbound when: %v", err)
	}
}

// Duplicates are per case: the same kind or place twice in cases that can
// both be written is refused; one per case is fine (TestParseNumberPerCase).
func TestParseConditionalDuplicates(t *testing.T) {
	tests := []struct{ name, a, b, want string }{
		{"two constants at one place", "- {kind: constant, json: s.type, form: t, value: a}", "- {kind: constant, json: s.type, form: u, value: b, when: pan}",
			`rules.yaml:7: outbound "o": field 3: json "s.type" overlaps field 2's "s.type"; each value needs a place of its own`},
		{"same case twice", "- {kind: constant, json: s.a, form: t, value: a, when: pan}", "- {kind: brand, json: s.b, form: t, values: {visa: v}, when: pan}",
			`rules.yaml:7: outbound "o": field 3: form "t" is also field 2's`},
		{"cvv always and pan", "- {kind: cvv, json: c, form: c}", "- {kind: cvv, json: d, form: d, when: pan}",
			`rules.yaml:7: outbound "o": field 3: second cvv field (when: pan) (the first is field 2, line 6); a set describes one card`},
		{"number in both cases", "- {kind: number, json: n, form: n, when: pan}", "- {kind: number, json: m, form: m}",
			`rules.yaml:7: outbound "o": field 3: second number field (the first is field 2, line 6); a set describes one card`},
		{"constant over the token", "- {kind: constant, json: card.number, form: x, value: a, when: network_token}", "- {kind: eci, json: e, form: e}",
			`rules.yaml:6: outbound "o": field 2: json "card.number" overlaps field 1's "card.number"; each value needs a place of its own`},
		{"constant for one body kind", "- {kind: constant, json: s.type, value: a}", "- {kind: eci, json: e, form: e}",
			`rules.yaml:6: outbound "o": field 2: constant has json but no form, while the token field (field 1, line 5) has form "card_number": in a form body the token would be found and its constant would not be written; add form to this field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("rules.yaml", []byte(out(dest, "fields:", tok, tt.a, tt.b)))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}
