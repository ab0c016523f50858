package responseguard

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	pan   = "4111111111111111"
	dpan  = "4895370012003478"
	crypt = "q5n/AbC+dEf12345678901234A=="
	token = "tok_3bXkq2"
)

func guard() *Guard {
	return New([]Secret{
		{Value: dpan, With: token},
		{Value: crypt, With: Mask},
		{Value: "123", With: Mask, Whole: true},
	})
}

// redactAll runs s through a Reader whose source hands out the given chunk
// sizes, so that secrets straddle reads.
func redactAll(t *testing.T, g *Guard, s string, src io.Reader) string {
	t.Helper()
	out, err := io.ReadAll(g.NewReader(io.NopCloser(src)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestGuard(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"dpan masked like any card", `{"number":"` + dpan + `"}`, `{"number":"489537******3478"}`},
		{"cryptogram masked", `{"c":"` + crypt + `"}`, `{"c":"***"}`},
		{"cryptogram json-escaped", `{"c":"` + strings.ReplaceAll(crypt, "/", `\/`) + `"}`, `{"c":"***"}`},
		{"cryptogram form-encoded", `c=q5n%2FAbC%2BdEf12345678901234A%3D%3D&x=1`, `c=***&x=1`},
		{"cryptogram form-encoded lower hex", `c=q5n%2fAbC%2bdEf12345678901234A%3d%3d`, `c=***`},
		{"cvv whole", `{"cvc":"123","amount":1234,"id":"a123"}`, `{"cvc":"***","amount":1234,"id":"a123"}`},
		{"other card masked", `{"pan":"5555555555554444"}`, `{"pan":"555555******4444"}`},
		{"spaced card masked", `card 4111 1111 1111 1111 ok`, `card 4111 11** **** 1111 ok`},
		{"dashed card masked", `4111-1111-1111-1111`, `4111-11**-****-1111`},
		{"card as json number", `{"n":5555555555554444}`, `{"n":555555******4444}`},
		{"card after a number", `qty 5 4111111111111111`, `qty 5 411111******1111`},
		{"not luhn", `{"id":"4111111111111112"}`, `{"id":"4111111111111112"}`},
		{"long id", `{"id":"41111111111111111111111"}`, `{"id":"41111111111111111111111"}`},
		{"short", `{"amount":411111111111}`, `{"amount":411111111111}`},
		{"plain", `{"status":"approved"}`, `{"status":"approved"}`},
		{"pan inside text", `error: card4111111111111111bad`, `error: card411111******1111bad`},
	}
	g := guard()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := g.String(tc.in); got != tc.want {
				t.Errorf("String:\n got %s\nwant %s", got, tc.want)
			}
			if got := redactAll(t, g, tc.in, iotest.OneByteReader(strings.NewReader(tc.in))); got != tc.want {
				t.Errorf("one byte at a time:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestReaderSplits streams a large body with secrets and card numbers at
// every offset relative to the read boundaries, in random chunk sizes.
func TestReaderSplits(t *testing.T) {
	g := guard()
	var in, want strings.Builder
	for i := 0; i < 3000; i++ {
		pad := strings.Repeat("x", i%37)
		fmt.Fprintf(&in, `{"p":"%s","n":"%s","c":"%s","v":"123","o":"5555 5555 5555 4444","id":"n%d"}`, pad, dpan, crypt, i)
		fmt.Fprintf(&want, `{"p":"%s","n":"%s","c":"***","v":"***","o":"5555 55** **** 4444","id":"n%d"}`, pad, "489537******3478", i)
		if i%100 == 0 {
			long := strings.Repeat("1234 ", 30) // a long spaced run: no card in any window
			in.WriteString(long)
			want.WriteString(long)
			spaces := strings.Repeat(" ", 50) + pan // indentation, then a card
			in.WriteString(spaces)
			want.WriteString(strings.Repeat(" ", 50) + "411111******1111")
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 5; round++ {
		src := &chunky{s: in.String(), rng: rng}
		if got := redactAll(t, g, in.String(), src); got != want.String() {
			i := 0
			for i < len(got) && i < len(want.String()) && got[i] == want.String()[i] {
				i++
			}
			t.Fatalf("round %d: differs at byte %d: got %q want %q", round, i, got[max(0, i-40):min(len(got), i+40)], want.String()[max(0, i-40):min(len(want.String()), i+40)])
		}
	}
}

// chunky hands out random-sized pieces of s.
type chunky struct {
	s   string
	rng *rand.Rand
}

func (c *chunky) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := min(len(p), len(c.s), 1+c.rng.IntN(70000))
	copy(p, c.s[:n])
	c.s = c.s[n:]
	return n, nil
}

// TestReaderMemory checks the reader's buffers stay bounded on a body much
// larger than them.
func TestReaderMemory(t *testing.T) {
	g := guard()
	r := g.NewReader(io.NopCloser(io.LimitReader(zeros{}, 64<<20)))
	n, err := io.Copy(io.Discard, r)
	if err != nil || n != 64<<20 {
		t.Fatalf("copied %d, %v", n, err)
	}
	if c := cap(r.in) + cap(r.out); c > 4*readChunk {
		t.Errorf("buffers grew to %d bytes", c)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestSecretRedactsItself(t *testing.T) {
	s := Secret{Value: pan, With: token}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if out := fmt.Sprintf(f, s); strings.Contains(out, pan) || strings.Contains(out, fmt.Sprintf("%x", pan)) {
			t.Errorf("%s printed the value: %s", f, out)
		}
	}
}

func BenchmarkReader(b *testing.B) {
	g := guard()
	body := strings.Repeat(`{"id":"ch_3MmlLrLkdIwHu7ix0snN0B15","amount":1999,"currency":"eur","status":"succeeded","card":{"last4":"1111","brand":"visa"}}`, 8)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := g.NewReader(io.NopCloser(strings.NewReader(body)))
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewAndBytes is the guard's cost for one detokenized request with
// the usual small answer: building the guard, then redacting 1 KB whole.
func BenchmarkNewAndBytes(b *testing.B) {
	body := []byte(strings.Repeat(`{"id":"ch_3MmlLrLkdIwHu7ix0snN0B15","amount":1999,"currency":"eur","status":"succeeded","card":{"last4":"1111","brand":"visa"}}`, 8))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		g := New([]Secret{{Value: dpan, With: token}, {Value: crypt, With: Mask}})
		g.Bytes(body)
	}
}

// TestFloatCandidatesMaskedLikeTheCVV: a number the merchant wrote as a
// float of a whole CVV-length value is masked like the CVV, as a processor
// that parses it prints it back whole.
func TestFloatCandidatesMaskedLikeTheCVV(t *testing.T) {
	g := NewGuard(Options{Secrets: []Secret{{Value: "123", With: Mask, Whole: true}},
		Request: [][]byte{[]byte(`{"d":[1.23e2,12.4E+1,1250e-1,126.0,1.5e1]}`), []byte(`a=0128&b=00129&c=0`)}})
	out, _ := g.Bytes([]byte(`[123,124,125,126,127,15,128,129]`))
	if want := `[***,***,***,***,127,15,***,***]`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}
