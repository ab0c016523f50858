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

// FuzzFindNumbers: whatever the text, the finder reports ordered,
// non-overlapping ranges that Digits turns into valid card numbers, and a
// card number written into the text with the fuzzed separators is found.
func FuzzFindNumbers(f *testing.F) {
	f.Add([]byte("4111 1111 1111 1111 123"), []byte(" "), uint8(4))
	f.Add([]byte(`{"n":4.111111111111111e15}`), []byte("\r\n"), uint8(1))
	f.Add([]byte("4\x001\x00"), []byte("\xc2\xa0"), uint8(2))
	f.Fuzz(func(t *testing.T, text, sep []byte, every uint8) {
		last := 0
		FindNumbers(text, func(s, e int) {
			if s < last || e <= s {
				t.Fatalf("range %d-%d after %d", s, e, last)
			}
			last = e
			if _, err := Validate(Digits(text[s:e])); err != nil {
				t.Fatalf("reported %q, which is not a card number: %v", text[s:e], err)
			}
		})
		// Separators: 1-3 of the finder's.
		if len(sep) == 0 || len(sep) > 3 || every == 0 {
			return
		}
		for i := range sep {
			if !IsSeparator(sep, i) || sep[i] == 0xC2 {
				return
			}
		}
		const pan = "4111111111111111"
		spaced := []byte("x ")
		for i := range pan {
			if i > 0 && i%int(every) == 0 {
				spaced = append(spaced, sep...)
			}
			spaced = append(spaced, pan[i])
		}
		spaced = append(spaced, " x"...)
		if !HasNumber(string(spaced)) {
			t.Fatalf("%q not found", spaced)
		}
	})
}
