package responseguard

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// NewGuard as it was before its cryptogram lengths were given one array
// (presizeLengths), kept to fuzz the new one against:
// FuzzNewGuardAgainstOld.

// newGuardOld is NewGuard before presizeLengths.
func newGuardOld(o Options) *Guard {
	g := &Guard{hold: maxSpan + 2}
	// cvvLens has bit n set when a CVV of n digits was sent: only then, and
	// only at that length (the brand's, which the merchant knows), are the
	// merchant's own whole numbers masked like it. Masking every 3-4-digit
	// value the merchant sent on every payment would mask its amounts and
	// years in every answer.
	var cvvLens uint
	var scratch [64]byte // decodeCrypt's output, copied where it is kept
	for _, s := range o.Secrets {
		switch {
		case s.Value == "":
		case s.Whole:
			g.addCVV([]byte(s.Value))
			if n := len(s.Value); n >= 3 && n <= 4 {
				cvvLens |= 1 << n
			}
		case s.With == Mask:
			b, ok := decodeCrypt(scratch[:0], []byte(s.Value))
			if !ok {
				b = []byte(s.Value)
			}
			if g.cryptBytes == nil {
				g.cryptBytes = map[string]bool{}
			}
			g.cryptBytes[string(b)] = true
			g.cryptLens.add(len(b))
			l := len(b)
			ns := [...]int{(l + 2) / 3 * 4, (4*l + 2) / 3, 2 * l, len(s.Value)}
			if m := min(ns[0], ns[1], ns[2], ns[3]); g.minCrypt == 0 || m < g.minCrypt {
				g.minCrypt = m
			}
			for i := 0; i < len(s.Value); i++ {
				g.oddCrypt = g.oddCrypt || !cryptRun[s.Value[i]]
			}
			g.tokenLens.grow(max(ns[0], ns[1], ns[2], ns[3]))
			for _, n := range ns {
				g.tokenLens.add(n)
			}
			k := len(g.crypts)
			g.crypts = appendSpellings(g.crypts, b, s.Value)
			for _, sp := range g.crypts[k:] {
				g.hold = max(g.hold, len(sp)+2)
			}
		}
	}
	if o.CVV {
		g.names = make(map[string]bool, len(cvvNames)+len(o.CVVNames))
		for _, n := range append(cvvNames, o.CVVNames...) {
			if n != "" && len(n) <= maxName {
				g.names[strings.ToLower(n)] = true
			}
		}
		g.hold = max(g.hold, 2*maxName+maxValue+8)
	}
	var norm, buf []byte
	for _, req := range o.Request {
		norm = req
		if hasEscape(req) {
			// Only an escape changes it: without one it is read as is,
			// not copied.
			norm = normalize(buf[:0], req, true)
			buf = norm
		}
		if len(g.cryptLens) > 0 {
			tokens(norm, g.tokenLens, func(s, e, chars int, dec []byte) {
				// Looked up first: the sent cryptogram comes back here
				// (the sent body counts), and a lookup copies no key.
				if b, ok := decodeCrypt(scratch[:0], dec); ok && g.cryptLens.has(len(b)) && !g.cryptBytes[string(b)] {
					g.cryptBytes[string(b)] = true
				}
			})
		}
		if cvvLens != 0 {
			wholeNumbers(norm, func(s, e int) {
				if cvvLens&(1<<(e-s)) != 0 {
					g.addCVV(norm[s:e])
				}
			})
			// A processor that parses the request before echoing it
			// prints a number as its parser read it: 1.23e2 comes back
			// 123 (or 123.0). Each such number is masked like the CVV
			// too, or the echo tells which candidate equals it.
			floatNumbers(norm, func(v []byte) {
				if cvvLens&(1<<len(v)) != 0 {
					g.addCVV(v)
				}
			})
		}
	}
	return g
}

// FuzzNewGuardAgainstOld: for fuzzed secrets (cryptograms of any bytes
// and length, CVVs, card numbers), merchant values and CVV names, NewGuard
// builds the guard the old way built, field for field (a lengths set is
// compared by its contents, not its room), and it redacts a fuzzed answer
// alike, whole and as JSON.
func FuzzNewGuardAgainstOld(f *testing.F) {
	f.Add(crypt, "", "123", []byte("x=AAAA&y=987"), true, []byte(`{"c":"`+crypt+`","n":"4111 1111 1111 1111"}`))
	f.Add("AQ", "%2F%2F", "", []byte("AQ== 01 Ly8="), false, []byte("AQ 01 AQ%3D%3D Ly8 2f2f"))
	f.Add("a b.c~d", "0102030405060708090a0b0c0d0e0f1011121314", "1234", []byte(""), false, []byte("YSBiLmN%2BZA 1234"))
	f.Fuzz(func(t *testing.T, c1, c2, cvv string, merchant []byte, names bool, in []byte) {
		if len(c1)+len(c2) > 160 || len(in) > 4096 {
			return
		}
		secrets := []Secret{{Value: dpan, With: token}}
		for _, c := range []string{c1, c2} {
			secrets = append(secrets, Secret{Value: c, With: Mask})
		}
		if cvv != "" {
			secrets = append(secrets, Secret{Value: cvv, With: Mask, Whole: true})
		}
		o := Options{Secrets: secrets, Request: [][]byte{merchant}, CVV: names, CVVNames: []string{"sec"}}
		g, old := NewGuard(o), newGuardOld(o)
		if !reflect.DeepEqual(g, old) {
			t.Fatalf("secrets %q %q %q, merchant %q: the guard differs from the old way's", c1, c2, cvv, merchant)
		}
		for _, gs := range [][2]*Guard{{g, old}, {g.ForJSON(), old.ForJSON()}} {
			got, gn := gs[0].Bytes(slices.Clone(in))
			want, wn := gs[1].Bytes(slices.Clone(in))
			if string(got) != string(want) || gn != wn {
				t.Fatalf("%q: %q (%d), the old way's guard %q (%d)", in, got, gn, want, wn)
			}
		}
		// The two sets share an array: adding to one never shows in the
		// other (each is capped at its own room).
		if cap(g.cryptLens) > 0 && cap(g.tokenLens) > 0 {
			before := slices.Clone(g.tokenLens)
			cl := g.cryptLens
			cl.add(cap(cl) + 5)
			if !slices.Equal(before, g.tokenLens) {
				t.Fatal("growing cryptLens past its room wrote into tokenLens")
			}
		}
	})
}
