package card

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"
)

// Mask returns the PAN with everything but the first six and last four
// digits replaced by '*', the most PCI DSS 3.4.1 allows to be displayed
// ("411111******1111"). A string of ten characters or fewer would be shown
// whole that way, so it is masked completely.
func Mask(pan string) string {
	if len(pan) <= 10 {
		return strings.Repeat("*", len(pan))
	}
	return pan[:6] + strings.Repeat("*", len(pan)-10) + pan[len(pan)-4:]
}

// BIN returns the first six digits of the PAN (the issuer identification
// number), or "" when pan is shorter than MinLength: on a short string the
// BIN and the last four would together reveal almost everything.
func BIN(pan string) string {
	if len(pan) < MinLength {
		return ""
	}
	return pan[:6]
}

// Last4 returns the last four digits of the PAN, or "" when pan is shorter
// than MinLength (see BIN).
func Last4(pan string) string {
	if len(pan) < MinLength {
		return ""
	}
	return pan[len(pan)-4:]
}

// Alias returns a format-preserving alias of pan: the same length, the same
// first six and last four digits, random digits in between, and a check digit
// that FAILS Luhn, so the alias can never be mistaken for (or charged as) a
// card number, while systems that only look at BIN, last four and length keep
// working. pan must be digits, at most MaxLength long and long enough to keep
// at least one middle digit (eleven). random supplies the randomness
// (crypto/rand when nil). Errors are *Error, or a wrapped read error.
func Alias(pan string, random io.Reader) (string, error) {
	if !allDigits(pan) {
		return "", newError(CodeInvalidCharacters, "card number must contain only digits")
	}
	if len(pan) < 11 || len(pan) > MaxLength {
		return "", newError(CodeInvalidLength, "card number is too short or too long to alias")
	}
	if random == nil {
		random = rand.Reader
	}
	out := []byte(pan)
	middle := out[6 : len(out)-4]
	if err := randomDigits(random, middle); err != nil {
		return "", err
	}
	// Any single-digit change flips the Luhn result of a valid number, so one
	// change is enough; the loop also covers the (astronomically unlikely)
	// case of reproducing a Luhn-invalid input exactly.
	for Luhn(string(out)) || string(out) == pan {
		var b [2]byte
		if err := randomDigits(random, b[:]); err != nil {
			return "", err
		}
		i := int(b[0]-'0') % len(middle)
		delta := 1 + int(b[1]-'0')%9
		middle[i] = byte('0' + (int(middle[i]-'0')+delta)%10)
	}
	return string(out), nil
}

// randomDigits fills dst with uniformly random ASCII digits, rejecting bytes
// >= 250 so that every digit is equally likely.
func randomDigits(random io.Reader, dst []byte) error {
	var buf [32]byte
	n := 0
	for n < len(dst) {
		want := min(len(buf), len(dst)-n+4)
		if _, err := io.ReadFull(random, buf[:want]); err != nil {
			return fmt.Errorf("card: reading random digits: %w", err)
		}
		for _, c := range buf[:want] {
			if c < 250 && n < len(dst) {
				dst[n] = '0' + c%10
				n++
			}
		}
	}
	return nil
}
