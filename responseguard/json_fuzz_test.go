package responseguard

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"testing"
)

// secretSet is what one detokenized request sent: two sets of the same
// shape (first six and last four digits, CVV length, cryptogram length)
// must give the merchant the same answer.
type secretSet struct{ pan, cvv, crypt string }

var jsonSets = [2]secretSet{
	{"4111111111111111", "2030", base64.StdEncoding.EncodeToString([]byte("cryptogram number 01"))},
	{"4111110000091111", "7391", base64.StdEncoding.EncodeToString([]byte("cryptogram number 02"))},
}

// render writes set's values where tmpl has \x01 (card number), \x02 (CVV)
// and \x03 (cryptogram), with a space where the value would otherwise touch
// a letter or digit (the guard promises a CVV only as a
// whole number, a card number only where no digit extends it).
func (set secretSet) render(tmpl []byte) []byte {
	var out []byte
	for i, c := range tmpl {
		var v string
		switch c {
		case 1:
			v = set.pan
		case 2:
			v = set.cvv
		case 3:
			v = set.crypt
		default:
			out = append(out, c)
			continue
		}
		if len(out) > 0 && isAlnum(out[len(out)-1]) {
			out = append(out, ' ')
		}
		out = append(out, v...)
		if i+1 < len(tmpl) && (isAlnum(tmpl[i+1]) || tmpl[i+1] >= 1 && tmpl[i+1] <= 3) {
			out = append(out, ' ')
		}
	}
	return out
}

// FuzzJSON: for a JSON answer echoing the sent values (at the template's
// placeholders) and the merchant's own request (the template's other
// values), through a JSON guard: valid JSON in gives valid JSON out; no
// sent value survives; the answer is the same whichever of two same-shaped
// sets of secrets was sent; and streaming it in chunks changes nothing.
func FuzzJSON(f *testing.F) {
	for _, seed := range []string{
		`{"exp_month":3,"exp_year":2030,"cvc":"` + "\x02" + `"}`,
		`{"exp_year":` + "\x02" + `}`,
		`{"card":{"number":` + "\x01" + `,"bin":"411111","last4":"1111"},"n":"` + "\x01" + `"}`,
		`[` + "\x02" + `,"` + "\x02" + `",-` + "\x02" + `,1.` + "\x02" + `,` + "\x02" + `.5, {"a":"x` + "\x02" + `y"}]`,
		`{"cvc":[` + "\x02" + `,null],"x":{"cvv":` + "\x02" + `,"cvv2":{"v":"` + "\x02" + `"}},"amount":2030}`,
		`{"cavv":"` + "\x03" + `","eci":"05","three_ds":{"authentication_value":"` + "\x03" + `"}}`,
		`{"a":"\" ` + "\x02" + ` \\","b":` + "\x02" + `,"c":7391e0,"d":` + "\x01" + `}`,
		`{"big":123456789012345678901234567890123456789012345678901234567890123456789,"c":` + "\x02" + `}`,
	} {
		f.Add([]byte(seed), uint16(3))
	}
	f.Fuzz(func(t *testing.T, tmpl []byte, chunk uint16) {
		merchant := bytes.Map(func(r rune) rune {
			if r >= 1 && r <= 3 {
				return ' '
			}
			return r
		}, tmpl)
		var outs [2][]byte
		for k, set := range jsonSets {
			in := set.render(tmpl)
			if !json.Valid(in) {
				return
			}
			g := NewGuard(Options{Secrets: []Secret{{Value: set.pan, With: "tok_a"}, {Value: set.cvv, With: Mask, Whole: true}, {Value: set.crypt, With: Mask}},
				Request: [][]byte{merchant}, CVV: true}).ForJSON()
			out, _ := g.Bytes(in)
			if !json.Valid(out) {
				t.Fatalf("valid JSON in, invalid out:\n%s\n%s", in, out)
			}
			streamed, err := io.ReadAll(g.NewReader(io.NopCloser(&fixedChunks{b: in, n: int(chunk%97) + 1})))
			if err != nil || !bytes.Equal(streamed, out) {
				t.Fatalf("streamed in chunks of %d:\n%s\nwhole:\n%s", chunk%97+1, streamed, out)
			}
			// Repeated in an array past the Reader's batch, the document
			// is redacted in several passes, each value at some offset
			// from their cuts.
			big := append([]byte("["), in...)
			for len(big) < 3*minBatch+g.hold {
				big = append(append(big, ','), in...)
			}
			big = append(big, ']')
			bigOut, _ := g.Bytes(big)
			streamed, err = io.ReadAll(g.NewReader(io.NopCloser(&fixedChunks{b: big, n: int(chunk%4099) + 1})))
			if err != nil || !bytes.Equal(streamed, bigOut) || !json.Valid(bigOut) {
				t.Fatalf("repeated %q: streamed differs from whole, or whole is not JSON", in)
			}
			seen := normalize(nil, out, true)
			if bytes.Contains(seen, []byte(set.pan)) || bytes.Contains(seen, []byte(set.crypt)) {
				t.Fatalf("a sent card number or cryptogram survived: %s", out)
			}
			wholeNumbers(seen, func(s, e int) {
				if string(seen[s:e]) == set.cvv {
					t.Fatalf("the CVV survived: %s", out)
				}
			})
			outs[k] = out
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Fatalf("the answer depends on the secret:\n%s\n%s", outs[0], outs[1])
		}
	})
}
