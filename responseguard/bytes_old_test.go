package responseguard

import "testing"

// bytesOld is Bytes before it wrote nothing for a body with nothing to
// replace (at b0acaa1): always redacted into a copy.
func (g *Guard) bytesOld(b []byte) ([]byte, int) {
	out, n := g.redact(make([]byte, 0, len(b)), b, false)
	if n == 0 && string(out) == string(b) {
		return b, 0
	}
	return out, n
}

// Bytes gives what it gave when it always copied, for guards plain and
// JSON, with a CVV and CVV names or not, and the body itself when nothing
// in it is replaced.
func FuzzBytesAgainstOld(f *testing.F) {
	for _, s := range []string{`{"a":"b","n":12}`, `{"n":4895370012003478,"c":"q5n/AbC+dEf12345678901234A==","cvc":123}`, "4.1e15 x",
		`{"x":"\u0034\/"}`, "&#52;111 1111 1111 1111", `{"w":` + "1234567890123456789012345678901234567890123456789012345678901234567890" + `}`, "cvv=12&n=1"} {
		f.Add([]byte(s))
	}
	var guards []*Guard
	for _, g := range unchangedGuards() {
		guards = append(guards, g, g.ForJSON())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for i, g := range guards {
			want, wn := g.bytesOld(append([]byte(nil), in...))
			b := append([]byte(nil), in...)
			got, gn := g.Bytes(b)
			if string(got) != string(want) || gn != wn {
				t.Fatalf("guard %d, %q: %q (%d), before %q (%d)", i, in, got, gn, want, wn)
			}
			if string(got) == string(in) && len(in) > 0 && &got[0] != &b[0] {
				t.Fatalf("guard %d, %q: nothing replaced, but a copy", i, in)
			}
		}
	})
}

// A body with nothing to replace comes back itself, without an array for
// the output.
func TestBytesNoCopy(t *testing.T) {
	g := guard().ForJSON()
	b := []byte(`{"id":"pay_1","amount":1042,"status":"ok"}`)
	if allocs := testing.AllocsPerRun(100, func() {
		if out, n := g.Bytes(b); &out[0] != &b[0] || n != 0 {
			t.Fatalf("%q (%d)", out, n)
		}
	}); allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}
