package responseguard

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestJSONBareValues: in a JSON body, a masked bare value becomes a JSON
// string, so the document stays valid; strings, and other bodies, are
// masked as before.
func TestJSONBareValues(t *testing.T) {
	g := NewGuard(Options{Secrets: []Secret{{Value: dpan, With: token}, {Value: crypt, With: Mask}, {Value: "2030", With: Mask, Whole: true}},
		Request: [][]byte{[]byte(`{"n":"1234"}`)}, CVV: true})
	j := g.ForJSON()
	long := strings.Repeat("7", maxWord+1)
	tests := []struct{ name, in, want string }{
		{"amex cvv equal to the expiry year", `{"exp_month":3,"exp_year":2030}`, `{"exp_month":3,"exp_year":0}`},
		{"cvv in an array", `[2030, 2031,2030]`, `[0, 2031,0]`},
		{"cvv inside a string", `{"d":"valid to 2030"}`, `{"d":"valid to ***"}`},
		{"cvv as a fraction or negative", `{"a":-2030,"b":1.2030,"c":2030.5}`, `{"a":0,"b":0,"c":0}`},
		{"merchant's number of the cvv's length", `{"n":1234}`, `{"n":0}`},
		{"card as a number", `{"n":5555555555554444}`, `{"n":"555555******4444"}`},
		{"dpan as a float", `{"n":4.895370012003478e15}`, `{"n":"4.89537**********e15"}`},
		{"card in a string", `{"n":"5555555555554444"}`, `{"n":"555555******4444"}`},
		{"cvv member bare", `{"cvv2": 42, "cvc":"9"}`, `{"cvv2": 0, "cvc":"***"}`},
		{"cvv member literal", `{"cvc":null,"cvv":true}`, `{"cvc":null,"cvv":true}`},
		{"cvv member object", `{"cvc":{"value":987,"k":"x"},"amount":100}`, `{"cvc":{"value":0,"k":"***"},"amount":100}`},
		{"cvv member array", `{"cvc":[987,"12"],"amount":100}`, `{"cvc":[0,"***"],"amount":100}`},
		{"cryptogram string", `{"c":"` + crypt + `"}`, `{"c":"***"}`},
		{"long bare value quoted whole", `{"x":` + long + `}`, `{"x":"` + long + `"}`},
		{"untouched", `{"amount":1999,"ok":true,"v":null,"f":-1.5e3}`, `{"amount":1999,"ok":true,"v":null,"f":-1.5e3}`},
		{"escaped quote in a string", `{"a":"\" 2030 \\","b":2030}`, `{"a":"\" *** \\","b":0}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := j.String(tc.in)
			if got != tc.want {
				t.Errorf("String:\n got %s\nwant %s", got, tc.want)
			}
			if json.Valid([]byte(tc.in)) && !json.Valid([]byte(got)) {
				t.Errorf("valid JSON in, invalid out: %s", got)
			}
			out, err := io.ReadAll(j.NewReader(io.NopCloser(iotest.OneByteReader(strings.NewReader(tc.in)))))
			if err != nil || string(out) != tc.want {
				t.Errorf("one byte at a time:\n got %s\nwant %s", out, tc.want)
			}
		})
	}
	// Other bodies and header values: as before.
	if got, _ := g.String(`exp_year=2030&n=5555555555554444`); got != `exp_year=***&n=555555******4444` {
		t.Errorf("form body: %s", got)
	}
	if got, _ := g.String(`{"exp_year":2030}`); got != `{"exp_year":***}` {
		t.Errorf("a guard not told the body is JSON: %s", got)
	}
}

func BenchmarkReaderJSON(b *testing.B) {
	g := guard().ForJSON()
	body := strings.Repeat(`{"id":"ch_3MmlLrLkdIwHu7ix0snN0B15","amount":1999,"currency":"eur","status":"succeeded","card":{"last4":"1111","brand":"visa","exp_year":2030}}`, 8)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := g.NewReader(io.NopCloser(strings.NewReader(body)))
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReaderMemoryJSON: a JSON guard's buffers stay bounded on a large
// array of small numbers and on one huge number (quoted, as too long to be
// seen whole), and streaming gives what redacting whole gives.
func TestReaderMemoryJSON(t *testing.T) {
	g := guard().ForJSON()
	for name, in := range map[string]string{
		"many numbers": "[" + strings.Repeat("123,4,5555555555554444,", 1<<17) + "0]",
		"one number":   `{"n":` + strings.Repeat("7", 3<<20) + `}`,
	} {
		r := g.NewReader(io.NopCloser(&fixedChunks{b: []byte(in), n: 4093}))
		out, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if whole, _ := g.String(in); string(out) != whole {
			t.Errorf("%s: streamed differs from whole", name)
		}
		if !json.Valid(out) {
			t.Errorf("%s: invalid JSON out", name)
		}
		if c := cap(r.in) + cap(r.out) + cap(r.raw) + cap(r.st.mask); c > 8*readChunk {
			t.Errorf("%s: buffers grew to %d bytes", name, c)
		}
	}
}

// TestJSONEscapeLetter: a match that starts at the letter of an escape
// ("\n" before text that, with the n, spells the cryptogram) takes the
// backslash with it, in one pass or across passes, or the answer would hold
// "\***", which is no JSON escape.
func TestJSONEscapeLetter(t *testing.T) {
	const sent = "nABCDEFGHIJKLMNOPQRSTUVWXYZa"
	g := NewGuard(Options{Secrets: []Secret{{Value: sent, With: Mask}}}).ForJSON()
	in := `{"c":"\` + sent + `","d":"\\` + sent + `"}`
	want := `{"c":"***","d":"\\***"}`
	if got, _ := g.String(in); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// At every offset from the Reader's cuts.
	var big, wantBig strings.Builder
	big.WriteString("[")
	wantBig.WriteString("[")
	for i := 0; i < 400; i++ {
		if i > 0 {
			big.WriteString(",")
			wantBig.WriteString(",")
		}
		pad := `{"p":"` + strings.Repeat("x", i%53) + `",`
		big.WriteString(pad + in[1:])
		wantBig.WriteString(pad + want[1:])
	}
	big.WriteString("]")
	wantBig.WriteString("]")
	if !json.Valid([]byte(big.String())) || !json.Valid([]byte(wantBig.String())) {
		t.Fatal("the test's documents are not JSON")
	}
	for n := 1; n < 5000; n += 37 {
		out, err := io.ReadAll(g.NewReader(io.NopCloser(&fixedChunks{b: []byte(big.String()), n: n})))
		if err != nil || string(out) != wantBig.String() {
			t.Errorf("chunks of %d: streamed output differs", n)
		}
	}
}
