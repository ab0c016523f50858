package rules

import (
	"testing"
)

func TestCheckJSONPath(t *testing.T) {
	good := []string{
		"number", "card.number", "cards.0.number", "cards.#.number",
		"orders.#.cards.#.number", `a\.b.c`, `key\*with\?stars`, `\@type.n`,
		`\#count.n`, "user email.n", "a-b_c:d.e(f)",
	}
	for _, p := range good {
		if err := checkJSONPath(p); err != nil {
			t.Errorf("checkJSONPath(%q) = %v", p, err)
		}
	}
	bad := []string{
		"", ".a", "a.", "a..b", "#", "cards.#", "a.#.#", "cards.#(n>1).x", "cards.#.a#b",
		"a|b", "a.*", "a?", "@this", "a.@reverse", "[a,b]", "a.{b}", "!true", `a\`, `a.b\\\`,
		"a.\x01",
	}
	for _, p := range bad {
		if err := checkJSONPath(p); err == nil {
			t.Errorf("checkJSONPath(%q) accepted it", p)
		}
	}
}

func TestHasWildcard(t *testing.T) {
	tests := map[string]bool{
		"":                false,
		"card.number":     false,
		"cards.0.number":  false,
		`cards.\#.number`: false,
		"cards.#.number":  true,
		"a.#.b.#.c":       true,
	}
	for p, want := range tests {
		if got := (Field{JSON: p, Form: "f"}).HasWildcard(); got != want {
			t.Errorf("Field{JSON: %q}.HasWildcard() = %v, want %v", p, got, want)
		}
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"card.number", "card.number", true},
		{"card", "card.number", true},
		{"card.number", "card", true},
		{"card.number", "card.numbers", false},
		{"card.number", "card.cvc", false},
		{`card\.number`, "card.number", false},
	}
	for _, tt := range tests {
		if got := overlaps(tt.a, tt.b); got != tt.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
