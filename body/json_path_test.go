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
	if got := splitKeys(`a.b\.c.d`); !reflect.DeepEqual(got, []string{"a", `b\.c`, "d"}) {
		t.Errorf("splitKeys = %q", got)
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
