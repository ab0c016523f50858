package responseguard

import (
	"testing"

	"github.com/tokengate/tokengate/card"
)

// unchangedGuards are guards of every kind String's quick check
// (unchanged) reads: with and without a cryptogram (of either spelling,
// and one sent with bytes no token holds), a CVV, CVV names, merchant
// values.
func unchangedGuards() []*Guard {
	return []*Guard{
		New(nil),
		guard(),
		New([]Secret{{Value: "AAAA", With: Mask}}),
		New([]Secret{{Value: "0a1B", With: Mask}}),
		New([]Secret{{Value: "q5n AbC", With: Mask}}),
		NewGuard(Options{Secrets: []Secret{{Value: dpan, With: token}, {Value: crypt, With: Mask}, {Value: "123", With: Mask, Whole: true}}, CVV: true}),
		NewGuard(Options{Secrets: []Secret{{Value: "1234", With: Mask, Whole: true}}, Request: [][]byte{[]byte("x=987&y=AAAA")}}),
		NewGuard(Options{CVV: true, CVVNames: []string{"pin"}}),
	}
}

// What unchanged vouches for, String's full redaction leaves as it is:
// the quick check changes nothing a merchant sees.
func FuzzUnchanged(f *testing.F) {
	for _, s := range []string{"", "application/json", "Mon, 07 Dec 2026 17:48:21 GMT", "1234", "cvv=123", `"cvc":"1"`, "4111 1111 1111 1111",
		"4.111111111111111e15", "4e15", crypt, "AAAA", "QUFBQQ", "x%2FAA", "&#52;", `\u0034`, "q5n AbC", "abc 123 def 4567 x"} {
		f.Add(s)
	}
	guards := unchangedGuards()
	f.Fuzz(func(t *testing.T, s string) {
		for i, g := range guards {
			if !g.unchanged(s) {
				continue
			}
			if got, n := g.string(s); got != s || n != 0 {
				t.Fatalf("guard %d: unchanged(%q), but redacted to %q (%d)", i, s, got, n)
			}
		}
	})
}

// The usual response header values take the quick path, and values that
// hold something to redact do not.
func TestUnchanged(t *testing.T) {
	g := NewGuard(Options{Secrets: []Secret{{Value: dpan, With: token}, {Value: crypt, With: Mask}}})
	for _, s := range []string{"application/json", "Mon, 07 Dec 2026 17:48:21 GMT", "1042", "Caddy", "chunked", "Tokengate-Injected"} {
		if !g.unchanged(s) {
			t.Errorf("%q: not vouched for", s)
		}
	}
	for _, g := range unchangedGuards() {
		for _, s := range []string{"4111 1111 1111 1111", "4.111111111111111e15", crypt, `\u0034`, "&#52;"} {
			if g.unchanged(s) {
				t.Errorf("%q: vouched for", s)
			}
		}
	}
	cvv := NewGuard(Options{Secrets: []Secret{{Value: "123", With: Mask, Whole: true}}, CVV: true})
	for _, s := range []string{"123", "cvv=1", `"cvc":"1"`} {
		if cvv.unchanged(s) {
			t.Errorf("%q: vouched for with a CVV", s)
		}
	}
	if guard().ForJSON().unchanged("a") {
		t.Errorf("a JSON guard vouches")
	}
}

// numberSep, String's quick check's copy of the card-number separators,
// covers every separator card.IsSeparator knows, each byte of a two-byte
// one too: a separator added to the finder and not here would let the
// quick check vouch for a value whose card number it then skips.
func TestNumberSepCoversCardSeparators(t *testing.T) {
	for c1 := range 256 {
		for c2 := range 256 {
			b := []byte{byte(c1), byte(c2)}
			if !card.IsSeparator(b, 0) {
				continue
			}
			if !numberSep[c1] || !card.IsSeparator(b[:1], 0) && !numberSep[c2] {
				t.Errorf("separator %q: not in numberSep", b)
			}
		}
	}
}
