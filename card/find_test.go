package card

import (
	"strings"
	"testing"
)

func TestFindNumbers(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`{"n":"4111111111111111"}`, []string{"4111111111111111"}},
		{`4111 1111 1111 1111`, []string{"4111 1111 1111 1111"}},
		{`4111-1111-1111-1111 and 5555555555554444`, []string{"4111-1111-1111-1111", "5555555555554444"}},
		{`qty 5 4111111111111111`, []string{"4111111111111111"}},
		{`4111111111111112`, nil},                        // Luhn
		{`41111111111111111111`, nil},                    // 20 digits
		{`order 1234567890123`, nil},                     // no brand
		{`378282246310005`, []string{"378282246310005"}}, // Amex, 15
		{`4111  1111 1111 1111`, []string{"4111  1111 1111 1111"}},
		{`4111    1111 1111 1111`, nil}, // four separators break the run
		{`tok_4111111111111111x`, []string{"4111111111111111"}},
		{``, nil},

		// Every window of whole groups with 13 to 19 digits.
		{`my card 4111 1111 1111 1111 123 exp 03/30`, []string{"4111 1111 1111 1111"}},
		{`4111-1111-1111-1111-0330`, []string{"4111-1111-1111-1111"}},
		{`"4895 3787 1662 1107 03"`, []string{"4895 3787 1662 1107"}},
		{`12 4111 1111 1111 1111`, []string{"4111 1111 1111 1111"}},
		{`1 2 3 4 5 6 7 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1`, []string{"6 7 4 1 1 1 1 1 1 1 1 1 1"}}, // Maestro, 13: the window that ends first wins
		// Separators.
		{`4111.1111.1111.1111`, []string{"4111.1111.1111.1111"}},
		{`4111/1111/1111/1111`, []string{"4111/1111/1111/1111"}},
		{"4111\t1111\n1111\r\n1111", []string{"4111\t1111\n1111\r\n1111"}},
		{"4111\u00a01111\u00a01111\u00a01111", []string{"4111\u00a01111\u00a01111\u00a01111"}},
		{"4111. 1111. 1111. 1111", []string{"4111. 1111. 1111. 1111"}},
		{"4\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x00", []string{"4\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001"}},
		{"4111\r\n\r\n1111 1111 1111", nil}, // four separators
		// Exponent notation, read as parsers read it.
		// ('.' separates groups too, so the mantissa alone is found first.)
		{`{"n":4.111111111111111e15}`, []string{"4.111111111111111"}},
		{`{"n":4.111111111111111E+15}`, []string{"4.111111111111111"}},
		{`{"n":4.8953787166211e+15}`, nil},  // 4895378716621100: not Luhn-valid
		{`{"n":4.11111111111111e+15}`, nil}, // 4111111111111110: not Luhn-valid
		{`{"n":5.10510510510510e15}`, []string{"5.10510510510510e15"}},
		{`{"n":5.1051051051051e15}`, []string{"5.1051051051051e15"}},
		{`{"n":41111111111111110e-1}`, []string{"41111111111111110e-1"}},
		{`{"n":0.4111111111111111e16}`, []string{"4111111111111111"}},
		{`{"n":4.111111111111112e16}`, nil}, // 41111111111111120: not Luhn-valid
		{`{"n":4.111111111111112e25}`, nil}, // 26 digits
		{`{"n":4.111111111111112e}`, nil},
		{`{"n":4.11111111111111e14}`, nil}, // 411111111111111: not Luhn-valid
		// Negative: a group of 20, Luhn-invalid, too few digits.
		{`41111111111111111111 1111`, nil},
		{`1111 41111111111111111111`, nil},
		{`4111 1111 1111 1112`, nil},
		{`4111 1111 1111`, nil},
	}
	for _, tc := range tests {
		var got []string
		FindNumbersString(tc.in, func(s, e int) { got = append(got, tc.in[s:e]) })
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestFindAllNumbers reports overlapping windows too.
func TestFindAllNumbers(t *testing.T) {
	in := "5105 1051 0510 5100 4111 1111 1111 1111"
	var got []string
	FindAllNumbers([]byte(in), Edges{}, func(s, e int) { got = append(got, in[s:e]) })
	want := []string{"5105 1051 0510 5100", "4111 1111 1111 1111"}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("%q: got %q, want %q among them", in, got, w)
		}
	}
}

// TestFindExponent: FindAllNumbers reports a number in exponent notation
// as a whole, whether or not its mantissa is a card number by itself.
func TestFindExponent(t *testing.T) {
	for _, in := range []string{"4.111111111111111e15", "4.111111111111111E+15", "5.1051051051051e15", "0.4111111111111111e16", "41111111111111110e-1"} {
		found := false
		FindAllNumbers([]byte(" "+in+" "), Edges{}, func(s, e int) { found = found || s == 1 && e == 1+len(in) })
		if !found {
			t.Errorf("%q not found whole", in)
		}
	}
	for _, in := range []string{"4.111111111111112e14", "4.111111111111112e25", "1.4.111111111111111e15x", "4.111111111111112e1234"} {
		FindAllNumbers([]byte(in), Edges{}, func(s, e int) {
			if strings.ContainsAny(in[s:e], "eE") {
				t.Errorf("%q: found %q", in, in[s:e])
			}
		})
	}
}

func TestFindNumbersEdges(t *testing.T) {
	in := "4111111111111111"
	for _, e := range []Edges{{StartMidGroup: true}, {EndMidGroup: true}} {
		FindNumbersIn([]byte(in), e, func(s, end int) { t.Errorf("%+v: found %q in a cut group", e, in[s:end]) })
	}
	in = "4111111111111111 4111111111111111"
	var got []string
	FindNumbersIn([]byte(in), Edges{StartMidGroup: true}, func(s, end int) { got = append(got, in[s:end]) })
	if len(got) != 1 || got[0] != "4111111111111111" {
		t.Errorf("mid group start: %q", got)
	}
}

func TestDigits(t *testing.T) {
	for in, want := range map[string]string{
		"4111 1111.1111-1111":   "4111111111111111",
		"4.111111111111111e15":  "4111111111111111",
		"5.1051051051051E+15":   "5105105105105100",
		"41111111111111110e-1":  "4111111111111111",
		"0.4111111111111111e16": "4111111111111111",
	} {
		if got := Digits([]byte(in)); got != want {
			t.Errorf("Digits(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkFindNumbers(b *testing.B) {
	text := []byte(strings.Repeat(`{"id":"ch_3MmlLrLkdIwHu7ix0snN0B15","amount":1999,"currency":"eur","status":"succeeded","card":{"last4":"1111","brand":"visa"}}`, 8))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		FindNumbers(text, func(int, int) { b.Fatal("found one") })
	}
}

// BenchmarkFindNumbersDigits is the finder on text dense with digits and
// separators (order ids, amounts, timestamps, phone numbers, one card).
func BenchmarkFindNumbersDigits(b *testing.B) {
	text := []byte(strings.Repeat(`{"id":"1234 5678 9012","amount":"19.99","ts":"2026-12-07 01:02:03","tel":"+1 555-123-4567","n":"4111 1111 1111 1111"}`, 8))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		FindNumbers(text, func(int, int) {})
	}
}

// BenchmarkFindNumbersRun is the finder's worst case: one run of one-digit
// groups, where 7 windows end at every group (an attacker's body).
func BenchmarkFindNumbersRun(b *testing.B) {
	text := []byte(strings.Repeat("7 ", 32<<10))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		FindNumbers(text, func(int, int) {})
	}
}
