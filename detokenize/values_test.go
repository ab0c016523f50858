package detokenize

import (
	"testing"

	"github.com/tokengate/tokengate/rules"
)

func TestRender(t *testing.T) {
	f := func(k rules.Kind, format rules.ExpFormat, as rules.As) target {
		return target{Field: &rules.Field{Kind: k, Format: format, As: as}}
	}
	tests := []struct {
		t          target
		in, want   string
		bare, isOK bool
	}{
		{f(rules.KindExpMonth, "", ""), "3", "3", false, true}, // as held: today's behaviour
		{f(rules.KindExpMonth, rules.ExpMM, ""), "3", "03", false, true},
		{f(rules.KindExpMonth, rules.ExpM, ""), "03", "3", false, true},
		{f(rules.KindExpMonth, "", rules.AsInteger), "03", "3", true, true},
		{f(rules.KindExpMonth, rules.ExpMM, ""), "13", "", false, false},
		{f(rules.KindExpYear, "", ""), "30", "30", false, true},
		{f(rules.KindExpYear, rules.ExpYYYY, ""), "30", "2030", false, true},
		{f(rules.KindExpYear, rules.ExpYY, ""), "2005", "05", false, true},
		{f(rules.KindExpYear, rules.ExpYY, rules.AsInteger), "2005", "5", true, true},
		{f(rules.KindExpYear, "", rules.AsInteger), "2030", "2030", true, true},
		{f(rules.KindExpYear, "", rules.AsInteger), "30", "30", true, true},
		{f(rules.KindExpYear, rules.ExpYYYY, ""), "3x", "", false, false},
		{f(rules.KindECI, "", rules.AsInteger), "05", "5", true, true},
		{f(rules.KindECI, "", rules.AsInteger), "x5", "", false, false},
		{f(rules.KindECI, "", ""), "05", "05", false, true},
	}
	for _, tt := range tests {
		text, bare, ok := render(tt.t, tt.in, "visa")
		if text != tt.want || bare != tt.bare || ok != tt.isOK {
			t.Errorf("%s %q %q of %q: got %q %v %v, want %q %v %v", tt.t.Kind, tt.t.Format, tt.t.As, tt.in, text, bare, ok, tt.want, tt.bare, tt.isOK)
		}
	}
}
