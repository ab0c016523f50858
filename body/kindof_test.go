package body

import "testing"

// KindOf's fast path reads a Content-Type as ParseMediaType does.
func FuzzKindOf(f *testing.F) {
	for _, s := range []string{"application/json", " Application/JSON ", "application/j\u017fon", "application/x-www-form-urlencoded",
		"application/json\u00a0", "APPLICATION/X-WWW-FORM-URLENCODED", "text/json", "application/json; charset=utf-8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := KindOf(s), kindOfParsed(s); got != want {
			t.Fatalf("KindOf(%q) = %v, ParseMediaType reads %v", s, got, want)
		}
	})
}
