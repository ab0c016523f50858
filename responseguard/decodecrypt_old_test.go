package responseguard

import (
	"bytes"
	"encoding/hex"
	"net/url"
	"testing"
)

// decodeCryptOld is decodeCrypt before it unescaped into an array on the
// stack (at 1926728): url.PathUnescape, with its three copies.
func decodeCryptOld(dst, s []byte) ([]byte, bool) {
	if bytes.IndexByte(s, '%') >= 0 {
		// PathUnescape: a '+' is base64's, not a form's space.
		if u, err := url.PathUnescape(string(s)); err == nil {
			s = []byte(u)
		}
	}
	if len(s)%2 == 0 {
		d := grow(dst, hex.DecodedLen(len(s)))
		if n, err := hex.Decode(d, s); err == nil {
			return d[:n], true
		}
	}
	for _, enc := range cryptEncodings {
		d := grow(dst, enc.DecodedLen(len(s)))
		if n, err := enc.Decode(d, s); err == nil && n > 0 {
			return d[:n], true
		}
	}
	return nil, false
}

// FuzzDecodeCryptAgainstOld: decodeCrypt decodes what the old one did, to
// the same bytes, for any token, escaped or not, shorter or longer than
// its stack array; and pathUnescape is url.PathUnescape.
func FuzzDecodeCryptAgainstOld(f *testing.F) {
	f.Add([]byte("q5n%2FAbC%2BdEf12345678901234A%3D%3D"))
	f.Add([]byte("q5n%2fAbC%2bdEf12345678901234A%3d%3d"))
	f.Add([]byte("%41%4"))
	f.Add([]byte("%zz41"))
	f.Add([]byte("%25%32%46+AQ=="))
	f.Add(bytes.Repeat([]byte("%41"), 60))
	f.Fuzz(func(t *testing.T, s []byte) {
		var a, b [64]byte
		got, gok := decodeCrypt(a[:0], s)
		want, wok := decodeCryptOld(b[:0], s)
		if gok != wok || !bytes.Equal(got, want) {
			t.Fatalf("%q: %q %v, the old way %q %v", s, got, gok, want, wok)
		}
		u, ok := pathUnescape(nil, s)
		wu, err := url.PathUnescape(string(s))
		if ok != (err == nil) || ok && string(u) != wu {
			t.Fatalf("pathUnescape(%q) = %q %v, url.PathUnescape %q %v", s, u, ok, wu, err)
		}
	})
}

// TestDecodeCryptNoAllocs: an escaped token of a cryptogram's length is
// decoded without an allocation: it runs for every such token of a form
// answer and of the merchant's request.
func TestDecodeCryptNoAllocs(t *testing.T) {
	tok := []byte("q5n%2FAbC%2BdEf12345678901234A%3D%3D")
	var scratch [64]byte
	if n := testing.AllocsPerRun(100, func() { decodeCrypt(scratch[:0], tok) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
