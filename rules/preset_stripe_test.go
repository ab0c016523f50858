package rules

import (
	"slices"
	"strings"
	"testing"
)

// The stripe preset expands to stripe-go's form fields for
// POST /v1/payment_methods and marks the set PAN-only.
func TestPresetStripe(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(dest, "preset: stripe", "fallback: pan")))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Outbound[0]
	if !s.PANOnly || !slices.Equal(s.Match.Methods, []string{"POST"}) || !slices.Equal(s.Match.Paths, []string{"/v1/payment_methods"}) {
		t.Errorf("set: %+v", s)
	}
	forms := map[Kind]string{}
	for _, fd := range s.Fields {
		forms[fd.Kind] = fd.Form
		if fd.When == WhenNetworkToken {
			t.Errorf("network token field in a PAN-only preset: %+v", fd)
		}
	}
	want := map[Kind]string{KindToken: "card[number]", KindNumber: "card[number]", KindExpMonth: "card[exp_month]", KindExpYear: "card[exp_year]", KindCVV: "card[cvc]"}
	for k, v := range want {
		if forms[k] != v {
			t.Errorf("%s at %q, want %q", k, forms[k], v)
		}
	}
	// A user field adds to the preset's, as for any preset.
	f, err = Parse("rules.yaml", []byte(out(dest, "preset: stripe", "fallback: pan", "fields:", "- {kind: constant, form: type, value: card}")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(f.Outbound[0].Fields, func(fd Field) bool { return fd.Form == "type" }) {
		t.Errorf("user field lost: %+v", f.Outbound[0].Fields)
	}
}

// The stripe preset refuses at load a set that would have a network token
// sent: without fallback: pan every card would be refused; a
// when: network_token field would never be written.
func TestPresetStripeErrors(t *testing.T) {
	tests := []struct {
		lines []string
		want  string
	}{
		{[]string{"preset: stripe"}, `rules.yaml:4: outbound "o": preset stripe sends every card as its PAN (the processor's API takes no network token): set fallback: pan`},
		{[]string{"preset: stripe", "fallback: reject"}, `set fallback: pan`},
		{[]string{"preset: stripe", "fallback: pan", "fields:", "- {kind: cryptogram, form: 'card[cryptogram]', when: network_token}"}, `rules.yaml:7: outbound "o": preset stripe never sends a network token, so a when: network_token field would never be written`},
	}
	for _, tt := range tests {
		_, err := Parse("rules.yaml", []byte(out(append([]string{dest}, tt.lines...)...)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error\n got %v\nwant %s", tt.lines, err, tt.want)
		}
	}
}
