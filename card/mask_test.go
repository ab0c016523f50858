package card

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestMaskBINLast4(t *testing.T) {
	for _, tt := range []struct{ pan, mask, bin, last4 string }{
		{"4111111111111111", "411111******1111", "411111", "1111"},
		{"378282246310005", "378282*****0005", "378282", "0005"},
		{"6205500000000000004", "620550*********0004", "620550", "0004"},
		{"501800000009", "501800**0009", "501800", "0009"},
		{"12345678901", "123456*8901", "", ""},
		{"1234567890", "**********", "", ""},
		{"", "", "", ""},
	} {
		if got := Mask(tt.pan); got != tt.mask {
			t.Errorf("Mask(len %d) = %q, want %q", len(tt.pan), got, tt.mask)
		}
		if got := BIN(tt.pan); got != tt.bin {
			t.Errorf("BIN(len %d) = %q, want %q", len(tt.pan), got, tt.bin)
		}
		if got := Last4(tt.pan); got != tt.last4 {
			t.Errorf("Last4(len %d) = %q, want %q", len(tt.pan), got, tt.last4)
		}
	}
}

func TestAliasProperties(t *testing.T) {
	pans := []string{
		"4111111111111111", "378282246310005", "6205500000000000004", "4222222222222",
		"501800000009", "36227206271667", "4111111111111112", // the last one already fails Luhn
		"12345678901", // shortest aliasable: one middle digit
	}
	for _, pan := range pans {
		seen := map[string]bool{}
		for range 10000 {
			a, err := Alias(pan, nil)
			if err != nil {
				t.Fatalf("Alias(len %d): %v", len(pan), err)
			}
			switch {
			case len(a) != len(pan):
				t.Fatalf("alias length %d, want %d", len(a), len(pan))
			case a[:6] != pan[:6] || a[len(a)-4:] != pan[len(pan)-4:]:
				t.Fatalf("alias %s does not keep BIN and last four of %s", a, Mask(pan))
			case !allDigits(a):
				t.Fatalf("alias %q is not all digits", a)
			case Luhn(a):
				t.Fatalf("alias %s passes Luhn", a)
			case a == pan:
				t.Fatalf("alias equals the PAN")
			}
			seen[a] = true
		}
		// The middle must really be random: with five or more middle digits,
		// 10,000 draws give thousands of distinct aliases.
		if mid := len(pan) - 10; mid >= 5 && len(seen) < 5000 {
			t.Errorf("only %d distinct aliases of a %d-digit PAN in 10000 draws", len(seen), len(pan))
		}
	}
}

// zeroReader returns zeros, so every random middle digit is 0: with a PAN
// whose own middle is zeros, the first draw reproduces it and passes Luhn.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestAliasFixesLuhnValidDraw(t *testing.T) {
	// 411111 000000 1111 fails Luhn, so find a BIN/last4 pair where the
	// all-zero middle passes: then Alias must change a middle digit.
	pan := "4111110000001111"
	for i := 0; !Luhn(pan); i++ {
		pan = "4111110000001" + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
	}
	a, err := Alias(pan, zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	if Luhn(a) || a == pan || a[:6] != pan[:6] || a[12:] != pan[12:] {
		t.Fatalf("alias %s of a Luhn-valid all-zero draw is not a valid alias", a)
	}
}

func TestAliasErrors(t *testing.T) {
	for _, tt := range []struct{ in, code string }{
		{"", CodeInvalidCharacters},
		{"4111 1111 1111 1111", CodeInvalidCharacters},
		{"1234567890", CodeInvalidLength},
		{"41111111111111111111", CodeInvalidLength},
	} {
		_, err := Alias(tt.in, rand.Reader)
		if !errors.Is(err, &Error{Code: tt.code}) {
			t.Errorf("Alias(%q) = %v, want code %s", tt.in, err, tt.code)
		}
		assertNoDigits(t, err)
	}
	_, err := Alias("4111111111111111", bytes.NewReader(nil))
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Alias with an empty reader = %v, want a wrapped EOF", err)
	}
	if err != nil && strings.Contains(err.Error(), "4111") {
		t.Errorf("error %q contains PAN digits", err)
	}
}
