package responseguard

import (
	"io"
	"slices"
	"testing"
)

// The quick paths (unchanged, cryptSpans, Bytes without a copy) against
// the old ways for guards built from fuzzed secrets, not a fixed few: a
// cryptogram of any bytes and length (unusual bytes included, so that
// oddCrypt and minCrypt take every value), a CVV, merchant values, CVV
// names or not; and streamed in fuzzed chunks, the answer is what it is
// redacted whole.
func FuzzGuardSecretsAgainstOld(f *testing.F) {
	f.Add(crypt, "123", []byte("x=AAAA&y=987"), true, []byte(`{"c":"`+crypt+`","n":"4111 1111 1111 1111"}`), uint16(0), uint16(300), uint16(5))
	f.Add("a b.c~d", "1234", []byte(""), false, []byte("a+b.c~d a%20b.c~d YSBiLmN%2BZA"), uint16(2), uint16(9), uint16(1))
	f.Add("%2F%2F", "", []byte("Ly8= 2f2f"), false, []byte("x %2F%2F Ly8 Ly8= 2F2F %2f%2f"), uint16(0), uint16(40), uint16(3))
	f.Add("AQ", "12", []byte("AQ== 01"), true, []byte("cvv=1 AQ 01 AQ%3D%3D"), uint16(1), uint16(10), uint16(2))
	f.Fuzz(func(t *testing.T, cryptValue, cvv string, merchant []byte, names bool, in []byte, from, limit, chunk uint16) {
		if len(cryptValue) > 80 || len(in) > 4096 {
			return
		}
		g := fuzzedGuard(cryptValue, cvv, merchant, names)
		for _, g := range []*Guard{g, g.ForJSON()} {
			// String's quick check changes nothing.
			if g.unchanged(string(in)) {
				if got, n := g.string(string(in)); got != string(in) || n != 0 {
					t.Fatalf("unchanged(%q), but redacted to %q (%d)", in, got, n)
				}
			}
			// Bytes gives what it gave when it always copied.
			want, wn := g.bytesOld(slices.Clone(in))
			got, gn := g.Bytes(slices.Clone(in))
			if string(got) != string(want) || gn != wn {
				t.Fatalf("Bytes(%q): %q (%d), before %q (%d)", in, got, gn, want, wn)
			}
			// cryptSpans finds what the old way finds, in any window.
			fr := int(from) % (len(in) + 1)
			li := fr + int(limit)%(len(in)+1-fr)
			for _, final := range []bool{false, true} {
				gs, ws := cryptSpansBoth(g, in, fr, li, final)
				if !slices.Equal(gs, ws) {
					t.Fatalf("%q [%d:%d] final %v: %v, the old way %v", in, fr, li, final, gs, ws)
				}
			}
			// Streamed in chunks, the same answer as whole.
			src := &fixedChunks{b: in, n: int(chunk%97) + 1}
			streamed, err := io.ReadAll(g.NewReader(io.NopCloser(src)))
			if err != nil {
				t.Fatal(err)
			}
			if string(streamed) != string(want) {
				t.Fatalf("%q streamed in chunks of %d: %q, whole %q", in, src.n, streamed, want)
			}
		}
	})
}

// fuzzedGuard is the guard of a fuzzed cryptogram and CVV (each left out
// when empty), merchant value and CVV names or not.
func fuzzedGuard(cryptValue, cvv string, merchant []byte, names bool) *Guard {
	var secrets []Secret
	if cryptValue != "" {
		secrets = append(secrets, Secret{Value: cryptValue, With: Mask})
	}
	if cvv != "" {
		secrets = append(secrets, Secret{Value: cvv, With: Mask, Whole: true})
	}
	return NewGuard(Options{Secrets: secrets, Request: [][]byte{merchant}, CVV: names})
}
