package card

import (
	"math/rand/v2"
	"testing"
)

func TestLuhn(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"79927398713", true}, // the textbook example
		{"79927398710", false},
		{"0", true},
		{"00", true},
		{"18", true},
		{"", false},
		{"4111 1111 1111 1111", false},
		{"411111111111111a", false},
	} {
		if got := Luhn(tt.in); got != tt.want {
			t.Errorf("Luhn(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestLuhnDigit(t *testing.T) {
	if got := LuhnDigit("7992739871"); got != '3' {
		t.Errorf("LuhnDigit(7992739871) = %q, want '3'", got)
	}
	if got := LuhnDigit("411111111111111"); got != '1' {
		t.Errorf("LuhnDigit(411111111111111) = %q, want '1'", got)
	}
	if got := LuhnDigit("41x"); got != 0 {
		t.Errorf("LuhnDigit with a letter = %q, want 0", got)
	}
	if got := LuhnDigit(""); got != '0' {
		t.Errorf("LuhnDigit(\"\") = %q, want '0'", got)
	}
	// Property: appending LuhnDigit always yields a valid number, and every
	// other final digit yields an invalid one.
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		n := 1 + r.IntN(19)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		d := LuhnDigit(string(b))
		for c := byte('0'); c <= '9'; c++ {
			if got := Luhn(string(b) + string(c)); got != (c == d) {
				t.Fatalf("Luhn(%s%c) = %v with check digit %c", b, c, got, d)
			}
		}
	}
}
