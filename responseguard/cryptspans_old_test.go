package responseguard

import (
	"bytes"
	"slices"
	"testing"
)

// cryptSpansOld is how process found cryptograms before cryptSpans (at
// b0acaa1): each spelling by bytes.Index over the whole input, then every
// token of the whole input.
func (g *Guard) cryptSpansOld(in []byte, from, limit int, final bool, keep func(s, e int)) {
	for _, c := range g.crypts {
		for at := from; at < limit; {
			k := bytes.Index(in[at:], c)
			if k < 0 {
				break
			}
			keep(at+k, at+k+len(c))
			at += k + 1
		}
	}
	if len(g.cryptBytes) > 0 {
		var scratch [64]byte // decodeCrypt's output, only looked up
		tokens(in, g.tokenLens, func(s, e, chars int, tok []byte) {
			if s < from || s >= limit || e == len(in) && !final {
				return
			}
			if b, ok := decodeCrypt(scratch[:0], tok); ok && g.cryptLens.has(len(b)) && g.cryptBytes[string(b)] {
				keep(s, e)
			}
		})
	}
}

// cryptSpans finds what cryptSpansOld finds, whatever the input, the
// window [from, limit) and finality, for cryptograms of several lengths
// and spellings (one sent with bytes no token holds) and merchant-carried
// ones.
func FuzzCryptSpansAgainstOld(f *testing.F) {
	f.Add([]byte(`{"c":"q5n/AbC+dEf12345678901234A==","d":"q5n%2FAbC%2BdEf12345678901234A%3D%3D"}`), uint16(0), uint16(500), true)
	f.Add([]byte(`x=AAAA&y=QUFBQQ==&z=41414141,QUFBQQ%3D%3D=AAAAAAAA`), uint16(3), uint16(20), false)
	f.Add([]byte(`ab6162 YWI= YWI YWI%3d q5n AbC q5n AbCq5n AbC`), uint16(1), uint16(40), true)
	f.Add([]byte(`Zm9vYmFy Zm9vYmFyZm9v 666f6f626172 Zm9vYmFy%3D`), uint16(0), uint16(9), false)
	guards := []*Guard{
		guard(),
		New([]Secret{{Value: "AAAA", With: Mask}}),
		New([]Secret{{Value: "ab", With: Mask}, {Value: "q5n AbC", With: Mask}}),
		NewGuard(Options{Secrets: []Secret{{Value: "YWI=", With: Mask}}, Request: [][]byte{[]byte("Zm9v 666f6f x=YmFy%3D")}}),
		NewGuard(Options{Secrets: []Secret{{Value: crypt, With: Mask}, {Value: "123", With: Mask, Whole: true}}, Request: [][]byte{[]byte("AgAAAAAAAIR8CQrXcIhbQAAAAAA=")}}),
	}
	f.Fuzz(func(t *testing.T, in []byte, from, limit uint16, final bool) {
		fr := int(from) % (len(in) + 1)
		li := fr + int(limit)%(len(in)+1-fr)
		for i, g := range guards {
			got, want := cryptSpansBoth(g, in, fr, li, final)
			if !slices.Equal(got, want) {
				t.Fatalf("guard %d, %q [%d:%d] final %v: %v, the old way %v", i, in, fr, li, final, got, want)
			}
		}
	})
}

// cryptSpansBoth is what cryptSpans and cryptSpansOld find in in[fr:li],
// each sorted: as process keeps them, those that start in [fr, li).
func cryptSpansBoth(g *Guard, in []byte, fr, li int, final bool) (got, want [][2]int) {
	g.cryptSpans(in, fr, li, final, func(s, e int) {
		if s >= fr && s < li {
			got = append(got, [2]int{s, e})
		}
	})
	g.cryptSpansOld(in, fr, li, final, func(s, e int) {
		if s >= fr && s < li {
			want = append(want, [2]int{s, e})
		}
	})
	cmp := func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	}
	slices.SortFunc(got, cmp)
	slices.SortFunc(want, cmp)
	return got, want
}
