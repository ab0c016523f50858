package body

import (
	"reflect"
	"testing"
)

func TestIsPlainPath(t *testing.T) {
	tests := map[string]bool{
		"":                  true,
		"a":                 true,
		"cards.10.number":   true,
		`a\.b.c`:            true,
		`a\*`:               true,
		"a.#.b":             false,
		"a.*":               false,
		"a?":                false,
		"a|b":               false,
		"@reverse":          false,
		"a.!x":              false,
		"a..b":              false,
		"a.":                false,
		".a":                false,
		`a\`:                false,
		`a.#(b=="c").d`:     false,
		"payment.card.eci":  true,
		"x-y_z$.Ünïcode.01": true,
	}
	for p, want := range tests {
		if got := isPlainPath(p); got != want {
			t.Errorf("isPlainPath(%q) = %v", p, got)
		}
	}
}

func TestCutHash(t *testing.T) {
	tests := []struct{ sel, before, after string }{
		{"a.b", "a.b", ""},
		{"#", "", ""},
		{"#.n", "", "n"},
		{"a.#", "a", ""},
		{"a.#.b", "a", "b"},
		{"a.#.b.#.c", "a", "b.#.c"},
		{`a\.#.#.b`, `a\.#`, "b"},
		{"a.#(x.y==1).b.#.c", "a.#(x.y==1).b", "c"},
		{"a.##.b", "a.##.b", ""},
	}
	for _, tt := range tests {
		b, a, ok := cutHash(tt.sel)
		if b != tt.before || a != tt.after || ok != (tt.before != tt.sel) {
			t.Errorf("cutHash(%q) = %q, %q, %v", tt.sel, b, a, ok)
		}
	}
}

func TestPathHelpers(t *testing.T) {
	if got := lastDot(`a.b\.c`); got != 1 {
		t.Errorf("lastDot = %d", got)
	}
	if got := lastDot("abc"); got != -1 {
		t.Errorf("lastDot = %d", got)
	}
	if got := SplitPath(`a.b\.c.d`); !reflect.DeepEqual(got, []string{"a", `b\.c`, "d"}) {
		t.Errorf("SplitPath = %q", got)
	}
	if got := unescapeKey(`b\.c\\`); got != `b.c\` {
		t.Errorf("unescapeKey = %q", got)
	}
	for k, want := range map[string]bool{"a": true, "0": false, "12": false, "-1": false, "1a": true, "-": true, "": false} {
		if isObjectKey(k) != want {
			t.Errorf("isObjectKey(%q) = %v", k, !want)
		}
	}
	if joinPath("", "a") != "a" || joinPath("a", "") != "a" || joinPath("a", "b") != "a.b" {
		t.Error("joinPath")
	}
}

func TestSplitPathTable(t *testing.T) {
	tests := map[string][]string{
		"a":           {"a"},
		"a.b.c":       {"a", "b", "c"},
		`a\.b.c`:      {`a\.b`, "c"},
		`a\\.b`:       {`a\\`, "b"},
		"cards.#.num": {"cards", "#", "num"},
	}
	for p, want := range tests {
		if got := SplitPath(p); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitPath(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestExpandPath(t *testing.T) {
	tests := []struct{ sel, group, want string }{
		{"card.cryptogram", "", "card.cryptogram"},
		{"cards.#.cryptogram", "2", "cards.2.cryptogram"},
		{"orders.#.cards.#.eci", "0.3", "orders.0.cards.3.eci"},
		{`cards.#.a\.b`, "1", `cards.1.a\.b`},
	}
	for _, tt := range tests {
		if got := ExpandPath(tt.sel, tt.group); got != tt.want {
			t.Errorf("ExpandPath(%q, %q) = %q, want %q", tt.sel, tt.group, got, tt.want)
		}
	}
}
