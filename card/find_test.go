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
		{`4111  1111 1111 1111`, nil},                    // two spaces break the run
		{`tok_4111111111111111x`, []string{"4111111111111111"}},
		{``, nil},
	}
	for _, tc := range tests {
		var got []string
		FindNumbersString(tc.in, func(s, e int) { got = append(got, tc.in[s:e]) })
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
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
