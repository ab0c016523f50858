package caddymodule

import (
	"math/rand/v2"
	"testing"

	"github.com/tokengate/tokengate/body"
)

// headerSafeOld is headerSafe before it copied only strings with a byte to
// replace.
func headerSafeOld(s string) string {
	if len(s) > 128 {
		s = s[:128]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == ',' || c == ';' || c == '=' {
			b[i] = '_'
		}
	}
	return body.SafePath(string(b))
}

func FuzzHeaderSafe(f *testing.F) {
	for _, s := range []string{"payment.card.number", "a,b;c=d", "card 4111111111111111", "\x00\xff" + "é", "cards[0].number", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := headerSafe(s), headerSafeOld(s); got != want {
			t.Fatalf("headerSafe(%q) = %q, want %q", s, got, want)
		}
	})
}

// TestHeaderSafeAgainstOld compares the two on random strings of the bytes
// that matter: separators, controls, digits (card numbers), non-ASCII.
func TestHeaderSafeAgainstOld(t *testing.T) {
	const alphabet = "ab.[]0123456789 ,;=\x00\x1f\x7f\x80\xe9-_"
	rng := rand.New(rand.NewPCG(20, 12))
	for range 20000 {
		b := make([]byte, rng.IntN(160))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if rng.IntN(4) == 0 {
			copy(b[rng.IntN(len(b)+1):], "4111111111111111")
		}
		s := string(b)
		if got, want := headerSafe(s), headerSafeOld(s); got != want {
			t.Fatalf("headerSafe(%q) = %q, want %q", s, got, want)
		}
	}
}
