package responseguard

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// secretSpellings is an answer's worth of the secrets in every spelling
// the guard knows, some escaped as an answer may escape them (JSON \u,
// HTML character references, percent-encoding): the DPAN plain, grouped
// and as a JSON number; the cryptogram in each of its spellings; the CVV.
func secretSpellings(cryptValue, cvv string) []string {
	out := []string{dpan, "4895 3700 1200 3478", "4895-3700-1200-3478", "4.895370012003478e15",
		`\u0034895370012003478`, "&#52;895370012003478", "&#x34;89537001200347&#56;"}
	if cryptValue != "" {
		var scratch [64]byte
		b, ok := decodeCrypt(scratch[:0], []byte(cryptValue))
		if !ok {
			b = []byte(cryptValue)
		}
		for _, sp := range appendSpellings(nil, b, cryptValue) {
			out = append(out, string(sp), jsonEscapeFirst(string(sp)))
		}
	}
	if cvv != "" {
		out = append(out, cvv, jsonEscapeFirst(cvv))
	}
	return out
}

// jsonEscapeFirst spells s's first character as a JSON \u escape.
func jsonEscapeFirst(s string) string {
	if s == "" {
		return s
	}
	return fmt.Sprintf(`\u%04X`, s[0]) + s[1:]
}

// randomAnswer puts the secrets' spellings, and fuzz's bytes, into a JSON
// or form answer, in random order and places.
func randomAnswer(r *rand.Rand, spellings []string, filler []byte, json bool) []byte {
	var b strings.Builder
	if json {
		b.WriteString("{")
	}
	for i := range r.IntN(8) + 1 {
		v := spellings[r.IntN(len(spellings))]
		if r.IntN(4) == 0 && len(filler) > 0 {
			k := r.IntN(len(filler) + 1)
			v = string(filler[:k]) + v
		}
		names := []string{"number", "cryptogram", "cvc", "x", "security_code"}
		name := names[r.IntN(len(names))]
		switch {
		case json && i > 0:
			fmt.Fprintf(&b, `,"%s":"%s"`, name, v)
		case json:
			fmt.Fprintf(&b, `"%s":"%s"`, name, v)
		case i > 0:
			fmt.Fprintf(&b, "&%s=%s", name, v)
		default:
			fmt.Fprintf(&b, "%s=%s", name, v)
		}
	}
	if json {
		b.WriteString("}")
	}
	return []byte(b.String())
}

// checkPooledAgainstOld builds a guard the pooled way and the old way from
// the same options, checks they are equal field for field, and that each
// redacts each answer alike (bytes and count), whole, as JSON and as a
// header value; then that the pool's arrays are all zero, and that an
// answer returned earlier does not change when the pool is reused.
func checkPooledAgainstOld(t *testing.T, o Options, answers [][]byte) {
	t.Helper()
	g, old := NewGuard(o), newGuardUnpooled(o)
	if !reflect.DeepEqual(g, old) {
		t.Fatalf("options %q: the guard differs from the old way's", o.Request)
	}
	// Answers with an escape and nothing to replace, returned decoded.
	answers = append(answers, []byte(`{"a":"\u0041b","n":"&#49;2"}`), []byte("a=&#66;&c=d\\/"),
		[]byte("cvc=***&x=1"), []byte(`{"cvc":"***"}`)) // replaced by themselves
	var kept [][2][]byte // an answer as returned, and a copy of it then
	for _, gs := range [][2]*Guard{{g, old}, {g.ForJSON(), old.ForJSON()}} {
		for _, in := range answers {
			got, gn := gs[0].Bytes(slices.Clone(in))
			want, wn := gs[1].bytesUnpooled(slices.Clone(in))
			if string(got) != string(want) || gn != wn {
				t.Fatalf("%q: %q (%d), the old way %q (%d)", in, got, gn, want, wn)
			}
			kept = append(kept, [2][]byte{got, slices.Clone(got)})
			// Into an array of any room: the same, and an array not
			// returned (the answer unchanged, or outgrown) is left zero.
			buf := make([]byte, 0, len(in)*len(kept)%(len(in)+7))
			in2 := slices.Clone(in)
			got2, gn2 := gs[0].BytesInto(buf, in2)
			if string(got2) != string(want) || gn2 != wn {
				t.Fatalf("BytesInto(%q): %q (%d), the old way %q (%d)", in, got2, gn2, want, wn)
			}
			if cap(buf) > 0 && (cap(got2) == 0 || &got2[:1][0] != &buf[:1][0]) && slices.ContainsFunc(buf[:cap(buf)], func(c byte) bool { return c != 0 }) {
				t.Fatalf("BytesInto(%q) returned another array and left a copy in buf's", in)
			}
			if gs[0].json {
				continue // String is for header values: never JSON
			}
			s, sn := gs[0].String(string(in))
			ws, wsn := gs[1].redactUnpooled(nil, slices.Clone(in), false)
			if s != string(ws) || sn != wsn {
				t.Fatalf("String(%q): %q (%d), the old way %q (%d)", in, s, sn, ws, wsn)
			}
		}
	}
	for _, k := range kept {
		if string(k[0]) != string(k[1]) {
			t.Fatalf("an answer changed after it was returned: %q, was %q", k[0], k[1])
		}
	}
	for range 4 {
		p := normCopies.Get().(*[]byte)
		if slices.ContainsFunc((*p)[:cap(*p)], func(c byte) bool { return c != 0 }) {
			t.Fatal("a pooled normalized copy was not cleared")
		}
		defer normCopies.Put(p)
	}
}

// TestPooledAgainstOld: random JSON and form answers holding the secrets
// in all their spellings, some escaped, for guards whose merchant request
// is escaped too.
func TestPooledAgainstOld(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 6))
	for i := range 2000 {
		cryptValue := []string{crypt, "AQ", "q5n%2FAbC%2BdEf12345678901234A%3D%3D", "0102030405060708090a0b0c0d0e0f1011121314", ""}[i%5]
		cvv := []string{"123", "1234", ""}[i%3]
		sp := secretSpellings(cryptValue, cvv)
		merchant := randomAnswer(r, sp, nil, i%2 == 0)
		o := Options{Secrets: []Secret{{Value: dpan, With: token}, {Value: cryptValue, With: Mask}, {Value: cvv, With: Mask, Whole: true}},
			Request: [][]byte{merchant, []byte("q=1&c=" + jsonEscapeFirst(cryptValue)), []byte(`{"a":"\u0041QIDBA=="}`)}, CVV: i%4 < 2}
		checkPooledAgainstOld(t, o, [][]byte{randomAnswer(r, sp, nil, true), randomAnswer(r, sp, nil, false), merchant})
	}
}

// FuzzPooledAgainstOld: for fuzzed secrets, merchant requests and answers
// (alone and with the secrets' spellings put in), the pooled NewGuard,
// Bytes and String give what the old ones gave, and leave the pool clear.
func FuzzPooledAgainstOld(f *testing.F) {
	f.Add(crypt, "123", []byte(`x=AAAA&y=\u003987`), true, []byte(`{"c":"`+crypt+`","n":"4111 1111 1111 1111"}`), uint64(1))
	f.Add("AQ", "", []byte("AQ== 01 &#65;Q=="), false, []byte("AQ 01 AQ%3D%3D &#x41;Q== 2f2f"), uint64(2))
	f.Add("0102030405060708090a0b0c0d0e0f1011121314", "1234", []byte(""), false, []byte("&#49;234 \\u0031234"), uint64(3))
	f.Fuzz(func(t *testing.T, cryptValue, cvv string, merchant []byte, names bool, in []byte, seed uint64) {
		if len(cryptValue) > 80 || len(in) > 4096 || len(merchant) > 4096 {
			return
		}
		r := rand.New(rand.NewPCG(seed, 20))
		sp := secretSpellings(cryptValue, cvv)
		secrets := []Secret{{Value: dpan, With: token}, {Value: cryptValue, With: Mask}}
		if cvv != "" {
			secrets = append(secrets, Secret{Value: cvv, With: Mask, Whole: true})
		}
		o := Options{Secrets: secrets, Request: [][]byte{merchant, randomAnswer(r, sp, merchant, false), in}, CVV: names}
		checkPooledAgainstOld(t, o, [][]byte{in, randomAnswer(r, sp, in, true), randomAnswer(r, sp, in, false)})
	})
}

// TestBytesIntoEmpty: an empty or nil answer, into an array or none.
func TestBytesIntoEmpty(t *testing.T) {
	for _, g := range []*Guard{guard(), guard().ForJSON()} {
		for _, b := range [][]byte{nil, {}, make([]byte, 0, 4)} {
			for _, buf := range [][]byte{nil, make([]byte, 0, 8)} {
				if out, n := g.BytesInto(buf, b); len(out) != 0 || n != 0 {
					t.Fatalf("BytesInto(%v, %v) = %q, %d", buf, b, out, n)
				}
			}
		}
	}
}
