package responseguard

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// cryptBytes are the 20 bytes of a cryptogram; crypt20 is how it was sent.
var (
	cryptBytes = []byte("\xfb\xff\xbftokengate cryptog")
	crypt20    = base64.StdEncoding.EncodeToString(cryptBytes)
)

// TestSpellings: each spelling issue 15 found reaching the merchant.
func TestSpellings(t *testing.T) {
	g := NewGuard(Options{Secrets: []Secret{{Value: dpan, With: token}, {Value: crypt20, With: Mask}, {Value: "123", With: Mask, Whole: true}}, CVV: true})
	crypt := crypt20
	hexLower := hex.EncodeToString(cryptBytes)
	tests := []struct{ name, in, want string }{
		{"+ as \\u002B", `{"c":"` + strings.ReplaceAll(crypt, "+", `\u002B`) + `"}`, `{"c":"***"}`},
		{"+ as \\u002b, / as \\/", `{"c":"` + strings.ReplaceAll(strings.ReplaceAll(crypt, "+", `\u002b`), "/", `\/`) + `"}`, `{"c":"***"}`},
		{"hex lower", `{"c":"` + hexLower + `"}`, `{"c":"***"}`},
		{"hex upper", `{"c":"` + strings.ToUpper(hexLower) + `"}`, `{"c":"***"}`},
		{"unpadded", `{"c":"` + strings.TrimRight(crypt, "=") + `"}`, `{"c":"***"}`},
		{"base64url", `{"c":"` + base64.URLEncoding.EncodeToString(cryptBytes) + `"}`, `{"c":"***"}`},
		{"base64url unpadded", `c=` + base64.RawURLEncoding.EncodeToString(cryptBytes) + `&x=1`, `c=***&x=1`},
		{"percent lower", `c=` + strings.NewReplacer("+", "%2b", "/", "%2f", "=", "%3d").Replace(crypt), `c=***`},
		{"dotted dpan", `{"n":"4895.3700.1200.3478"}`, `{"n":"4895.37**.****.3478"}`},
		{"dpan split by newlines", "4895\n3700\r\n1200\n3478", "4895\n37**\r\n****\n3478"},
		{"dpan with a suffix", `"4895 3700 1200 3478 03"`, `"4895 37** **** 3478 03"`},
		{"dpan as a float", `{"n":4.895370012003478e15}`, `{"n":4.89537**********e15}`},
		{"dpan as \\u0034 escapes", `{"n":"\u0034\u0038\u0039\u0035370012003478"}`, `{"n":"489537******3478"}`},
		{"dpan as HTML entities", `<td>&#52;&#x38;&#X39;&#53;370012003478</td>`, `<td>489537******3478</td>`},
		{"dpan in UTF-16LE", utf16le("n=" + dpan), utf16le("n=489537******3478")},
		{"cvv member of any value", `{"card":{"CVC":"987","cvv2": 42}}`, `{"card":{"CVC":"***","cvv2": ***}}`},
		{"cvv form field", `a=1&security_code=987&b=2`, `a=1&security_code=***&b=2`},
		{"cvv whole word", `code 123 and 1234 and a123`, `code *** and 1234 and a123`},
		{"escaped quote stays", `{"q":"\u0022\\u0034"}`, `{"q":"\u0022\\u0034"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := g.String(tc.in); got != tc.want {
				t.Errorf("String:\n got %q\nwant %q", got, tc.want)
			}
			out, err := io.ReadAll(g.NewReader(io.NopCloser(iotest.OneByteReader(strings.NewReader(tc.in)))))
			if err != nil || string(out) != tc.want {
				t.Errorf("one byte at a time:\n got %q\nwant %q", out, tc.want)
			}
		})
	}
}

func utf16le(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		b.WriteByte(0)
	}
	return b.String()
}

// TestMerchantValues: what the merchant sent is masked as the secret of its
// class would be, whether or not it equals one.
func TestMerchantValues(t *testing.T) {
	other := base64.StdEncoding.EncodeToString([]byte("twenty bytes, but no"))
	crypt := crypt20
	req := []byte(`{"token":"tok_1","a":"` + other + `","b":"` + crypt + `","cvv_guess":[123,"456"],"amount":"7.50"}`)
	g := NewGuard(Options{Secrets: []Secret{{Value: crypt, With: Mask}, {Value: "321", With: Mask, Whole: true}}, Request: [][]byte{req, []byte("q=789&r=" + hex.EncodeToString([]byte("another twenty bytes")))}, CVV: true})
	in := fmt.Sprintf(`{"a":"%s","b":"%s","h":"%s","v":[123,456,789,321,750,999]}`, other, crypt, hex.EncodeToString([]byte("another twenty bytes")))
	want := `{"a":"***","b":"***","h":"***","v":[***,***,***,***,750,999]}`
	if got, _ := g.String(in); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}

// TestNoOracle is property A at the unit level: two guards whose secrets
// differ, for the same merchant request carrying every candidate, give the
// same output for an echo of that request and of the secrets.
func TestNoOracle(t *testing.T) {
	// Cards with equal first six and last four digits.
	const pan1, pan2 = "4111111111111111", "4111110000091111"
	var req strings.Builder
	req.WriteString(`{"description":[`)
	for _, c := range []string{pan1, pan2, "4111111111111112"} {
		fmt.Fprintf(&req, "%q,%s,", c, c)
	}
	for v := 0; v < 1000; v++ {
		fmt.Fprintf(&req, `"%03d",%d,`, v, v)
	}
	c1 := base64.StdEncoding.EncodeToString([]byte("cryptogram number 01"))
	c2 := base64.StdEncoding.EncodeToString([]byte("cryptogram number 02"))
	fmt.Fprintf(&req, "%q,%q]}", c1, c2)
	merchant := []byte(req.String())
	response := func(pan, cvv, crypt string) string {
		return fmt.Sprintf(`{"echo":%s,"card":{"number":"%s","cvc":"%s","cavv":"%s"},"headers":"%s %s %s"}`, merchant, pan, cvv, crypt, pan, cvv, crypt)
	}
	for _, cvv := range [][2]string{{"123", "456"}, {"1234", "5678"}} {
		g1 := NewGuard(Options{Secrets: []Secret{{Value: pan1, With: "tok_a"}, {Value: c1, With: Mask}, {Value: cvv[0], With: Mask, Whole: true}}, Request: [][]byte{merchant}, CVV: true})
		g2 := NewGuard(Options{Secrets: []Secret{{Value: pan2, With: "tok_a"}, {Value: c2, With: Mask}, {Value: cvv[1], With: Mask, Whole: true}}, Request: [][]byte{merchant}, CVV: true})
		o1, _ := g1.String(response(pan1, cvv[0], c1))
		o2, _ := g2.String(response(pan2, cvv[1], c2))
		if o1 != o2 {
			i := 0
			for i < len(o1) && i < len(o2) && o1[i] == o2[i] {
				i++
			}
			t.Errorf("cvv %d digits: the outputs differ at %d: %q vs %q", len(cvv[0]), i, o1[max(0, i-30):min(len(o1), i+30)], o2[max(0, i-30):min(len(o2), i+30)])
		}
	}
}

// TestReaderLongRun: a run of digits and separators of any length keeps
// the Reader's memory bounded, and a card number inside it, at any offset,
// is still masked when streamed as when whole.
func TestReaderLongRun(t *testing.T) {
	g := New(nil)
	run := strings.Repeat("7 ", 1<<19) // 1 MB
	in := run + "4111 1111 1111 1111 " + run + "4111111111111111 " + run
	r := g.NewReader(io.NopCloser(&fixedChunks{b: []byte(in), n: 4093}))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := g.String(in)
	if string(out) != whole {
		t.Error("streamed differs from whole")
	}
	if strings.Contains(string(out), "1111 1111 1111") || strings.Contains(string(out), "4111111111111111") {
		t.Error("a card number in a long run survived")
	}
	if c := cap(r.in) + cap(r.out) + cap(r.raw) + cap(r.st.mask); c > 8*readChunk {
		t.Errorf("buffers grew to %d bytes", c)
	}
}

// spellings is appendSpellings as strings, for the tests.
func spellings(b []byte, sent string) []string {
	var out []string
	for _, sp := range appendSpellings(nil, b, sent) {
		out = append(out, string(sp))
	}
	return out
}

// spellingsBefore is how spellings were made before appendSpellings
// wrote them into one array: the two must agree, in order.
func spellingsBefore(b []byte, sent string) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, s := range []string{sent,
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
	} {
		if s == "" {
			continue
		}
		add(s)
		q := url.QueryEscape(s)
		add(q)
		add(lowerEscapes(q))
	}
	return out
}

func FuzzAppendSpellings(f *testing.F) {
	for _, s := range []string{"", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "//+/AQIDBAUGBwgJCgsMDQ4PEBE=", "a b~c.d", "\xff\x00%"} {
		f.Add([]byte(s), s)
	}
	f.Fuzz(func(t *testing.T, b []byte, sent string) {
		if got, want := spellings(b, sent), spellingsBefore(b, sent); !slices.Equal(got, want) {
			t.Fatalf("spellings(%x, %q) = %q, want %q", b, sent, got, want)
		}
	})
}
