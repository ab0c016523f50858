package card

import (
	"strings"
	"testing"
)

// FuzzValidate checks that, whatever the input, Validate never puts a number
// in an error, errors carry no digit at all, and a number it accepts really is
// digits of a valid length that pass Luhn.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		"4111111111111111", "4111111111111112", "378282246310005", "6011111111111117",
		"", "0", "1", "12", "4111 1111", "abc", "9111111111111110", "6500000000000002",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Validate(s)
		if err != nil {
			msg := err.Error()
			if b != "" {
				t.Fatalf("brand %q returned with error", b)
			}
			// Only inputs with a digit could be card data; "a" is in "card".
			if strings.ContainsAny(s, "0123456789") && strings.Contains(msg, s) {
				t.Fatalf("error %q contains the input", msg)
			}
			if strings.ContainsAny(msg, "0123456789") {
				t.Fatalf("error %q contains a digit", msg)
			}
			return
		}
		if !allDigits(s) || len(s) < MinLength || len(s) > MaxLength || !Luhn(s) || b == "" {
			t.Fatalf("Validate accepted %q as %q", s, b)
		}
	})
}
