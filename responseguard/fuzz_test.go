package responseguard

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzReader: streaming the input in chunks of any size gives exactly what
// redacting it whole gives, and no secret survives either way; for a JSON
// guard too, whatever the input.
func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"number":"4895370012003478","c":"q5n/AbC+dEf12345678901234A==","cvc":"123"}`), uint16(1))
	f.Add([]byte(`5555 5555 5555 4444 1234 1234 1234 1234 1234 4111111111111111`), uint16(7))
	f.Add([]byte(strings.Repeat("9", 50)+" 4111-1111-1111-1111"), uint16(3))
	f.Add([]byte(`c=q5n%2FAbC%2BdEf12345678901234A%3D%3D&cvc=123&n=48953700120034784895370012003478`), uint16(5))
	f.Add([]byte(`{"n":4895370012003478,"c":[123,-123.5e1,"123"],"cvc":{"a":[1,{"b":"x"}]},"x":`+strings.Repeat("7", 70)+`}`), uint16(2))
	plain := guard()
	js := NewGuard(Options{Secrets: []Secret{{Value: dpan, With: token}, {Value: crypt, With: Mask}, {Value: "123", With: Mask, Whole: true}}, CVV: true}).ForJSON()
	f.Fuzz(func(t *testing.T, in []byte, chunk uint16) {
		for _, g := range []*Guard{plain, js} {
			checkReader(t, g, in, chunk)
		}
	})
}

func checkReader(t *testing.T, g *Guard, in []byte, chunk uint16) {
	{
		whole, _ := g.String(string(in))
		src := &fixedChunks{b: in, n: int(chunk%97) + 1}
		streamed, err := io.ReadAll(g.NewReader(io.NopCloser(src)))
		if err != nil {
			t.Fatal(err)
		}
		if string(streamed) != whole {
			t.Fatalf("streamed in chunks of %d:\n%q\nwhole:\n%q", src.n, streamed, whole)
		}
		if bytes.Contains(streamed, []byte(crypt)) {
			t.Fatalf("the cryptogram survived")
		}
		// The DPAN may survive only inside a group of more than 19
		// digits, which is no card number.
		for at := 0; ; {
			i := bytes.Index(streamed[at:], []byte(dpan))
			if i < 0 {
				break
			}
			i += at
			if !(i > 0 && isDigit(streamed[i-1]) || i+len(dpan) < len(streamed) && isDigit(streamed[i+len(dpan)])) {
				t.Fatalf("the DPAN survived")
			}
			at = i + 1
		}
	}
}

type fixedChunks struct {
	b []byte
	n int
}

func (c *fixedChunks) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}
