package rules

import (
	"testing"
)

// A network token case that writes the number in a member of its own must
// remove the token's member (where the PAN fallback writes the card
// number), or the processor reads the token as the card number.
func TestParseRemove(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(dest, "fields:", tok,
		"- {kind: number, json: source.token, form: nt, when: network_token}",
		"- {kind: remove, json: card.number, form: card_number, when: network_token}",
		"- {kind: remove, json: source.cvv, form: cvv, when: network_token}")))
	if err != nil {
		t.Fatal(err)
	}
	fs := f.Outbound[0].Fields
	if len(fs) != 5 || fs[1].Kind != KindNumber || fs[1].When != WhenPAN || fs[1].JSON != "card.number" || fs[3].Kind != KindRemove || fs[3].When != WhenNetworkToken {
		t.Fatalf("fields: %+v", fs)
	}
	// A token read where no number ever goes stays, by the set's design.
	if _, err := Parse("rules.yaml", []byte(out(dest, "fields:", "- {kind: token, json: pm.token}", "- {kind: number, json: pm.card.number}"))); err != nil {
		t.Errorf("token beside the number: %v", err)
	}
}

func TestParseRemoveErrors(t *testing.T) {
	tests := []struct{ name, a, b, want string }{
		{"token kept where the other case writes the number",
			"- {kind: number, json: source.token, form: nt, when: network_token}", "- {kind: eci, json: e, form: e}",
			`rules.yaml:6: outbound "o": field 2: the network_token case writes the number elsewhere and leaves the token at "card.number", where the other case writes a card number: the processor would read the token as the card's number; add {kind: remove, json: card.number, when: network_token}`},
		{"form place kept",
			"- {kind: number, json: source.token, form: nt, when: network_token}", "- {kind: remove, json: card.number, when: network_token}",
			`rules.yaml:7: outbound "o": field 3: remove has json but no form, while the token field (field 1, line 5) has form "card_number": in a form body the token would be found and its remove would not be written; add form to this field`},
		{"remove where the number goes",
			"- {kind: remove, json: card.number, form: card_number, when: pan}", "- {kind: eci, json: e, form: e}",
			`rules.yaml:6: outbound "o": field 2: removes "card.number", where the pan case writes the card number`},
		{"remove with as", "- {kind: remove, json: x, form: x, as: integer}", "- {kind: eci, json: e, form: e}",
			`rules.yaml:6: outbound "o": field 2: a remove field takes only json, form and when: it writes nothing`},
		{"remove with value", "- {kind: remove, json: x, form: x, value: 1}", "- {kind: eci, json: e, form: e}",
			`rules.yaml:6: outbound "o": field 2: value is only for constant fields, not remove (a remove's value comes from the card)`},
		{"remove over a written field", "- {kind: remove, json: s, form: s, when: pan}", "- {kind: eci, json: s.eci, form: e}",
			`rules.yaml:7: outbound "o": field 3: json "s.eci" overlaps field 2's "s"; each value needs a place of its own`},
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
