package card

import (
	"strings"
	"time"
)

// Error codes. They are stable machine-readable strings, so an API can put
// them in a response body and clients can branch on them.
const (
	// CodeInvalidCharacters means the input holds something other than digits.
	CodeInvalidCharacters = "invalid_characters"
	// CodeInvalidLength means the number is too short or too long, in general
	// or for its brand.
	CodeInvalidLength = "invalid_length"
	// CodeInvalidLuhn means the check digit is wrong (usually a typo).
	CodeInvalidLuhn = "invalid_luhn"
	// CodeUnknownBrand means no known brand issues numbers with this prefix.
	CodeUnknownBrand = "unknown_brand"
	// CodeInvalidCVV means the security code is not the brand's number of digits.
	CodeInvalidCVV = "invalid_cvv"
	// CodeInvalidExpMonth means the expiry month is not 1-12.
	CodeInvalidExpMonth = "invalid_exp_month"
	// CodeInvalidExpYear means the expiry year is malformed or absurdly far away.
	CodeInvalidExpYear = "invalid_exp_year"
	// CodeExpired means the card's expiry month is over.
	CodeExpired = "expired"
)

// Length limits of a PAN as Validate accepts it. ISO/IEC 7812 says 13-19,
// but Maestro issues 12-digit cards.
const (
	// MinLength is the shortest PAN Validate accepts (Maestro's 12).
	MinLength = 12
	// MaxLength is the longest PAN Validate accepts.
	MaxLength = 19
)

// maxExpiryYears bounds how far in the future an expiry may be: cards are
// issued for a few years, so a year decades away is a typo or a probe.
const maxExpiryYears = 50

// Error is a validation failure. Code is one of the Code constants; Reason is
// a short English explanation. Neither ever contains the card data (nor any
// digit at all), so an Error is safe to log and to show a client.
type Error struct {
	Code   string
	Reason string
}

// Error returns the reason followed by the code in parentheses.
func (e *Error) Error() string { return "card: " + e.Reason + " (" + e.Code + ")" }

// Is reports whether target is an *Error with the same Code, so callers can
// write errors.Is(err, &card.Error{Code: card.CodeExpired}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func newError(code, reason string) *Error { return &Error{Code: code, Reason: reason} }

// Normalize removes the spaces and dashes people type inside card numbers
// ("4111 1111-1111 1111"). It does not remove anything else, so that Validate
// still rejects letters and other punctuation.
func Normalize(s string) string {
	if !strings.ContainsAny(s, " -") {
		return s // the common case: no allocation
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '-' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Validate checks a PAN (digits only: run Normalize first) and returns its
// brand. The checks run in this order and the first failure is returned as an
// *Error: characters, length (MinLength-MaxLength), Luhn, and then a known
// brand prefix whose lengths include this one. Prefixes overlap, so the most
// specific prefix that allows the length wins. On error the brand is "".
func Validate(pan string) (Brand, error) {
	if pan == "" {
		return "", newError(CodeInvalidLength, "card number is empty")
	}
	if !allDigits(pan) {
		return "", newError(CodeInvalidCharacters, "card number must contain only digits")
	}
	if len(pan) < MinLength || len(pan) > MaxLength {
		return "", newError(CodeInvalidLength, "card number must be twelve to nineteen digits long")
	}
	if !Luhn(pan) {
		return "", newError(CodeInvalidLuhn, "card number check digit is wrong")
	}
	brand, prefix := detect(pan)
	if brand != "" {
		return brand, nil
	}
	if prefix != "" {
		return "", newError(CodeInvalidLength, "card number length is not valid for "+string(prefix))
	}
	return "", newError(CodeUnknownBrand, "card number does not belong to a known card brand")
}

// ValidateCVV checks that cvv is exactly CVVLength(b) digits. It never
// returns the value in its error: a CVV is sensitive authentication data.
func ValidateCVV(cvv string, b Brand) error {
	if !allDigits(cvv) {
		return newError(CodeInvalidCVV, "security code must contain only digits")
	}
	if len(cvv) != CVVLength(b) {
		if CVVLength(b) == 4 {
			return newError(CodeInvalidCVV, "security code must be four digits for "+string(b))
		}
		return newError(CodeInvalidCVV, "security code must be three digits")
	}
	return nil
}

// ValidateExpiry checks an expiry month ("3" or "03") and year ("30" or
// "2030", a two-digit year meaning 20YY) against now. A card is valid through
// the last day of its expiry month, compared in now's location: pass
// now.UTC() for the networks' view. Years more than fifty years ahead are
// rejected as typos.
func ValidateExpiry(month, year string, now time.Time) error {
	m, ok := ParseExpMonth(month)
	if !ok {
		return newError(CodeInvalidExpMonth, "expiry month must be one to twelve, with or without a leading zero")
	}
	y, ok := ParseExpYear(year)
	if !ok {
		return newError(CodeInvalidExpYear, "expiry year must have two or four digits")
	}
	ny, nm := now.Year(), int(now.Month())
	if y > ny+maxExpiryYears {
		return newError(CodeInvalidExpYear, "expiry year is too far in the future")
	}
	if y < ny || (y == ny && m < nm) {
		return newError(CodeExpired, "card has expired")
	}
	return nil
}

// ParseExpMonth parses an expiry month of one or two digits ("3", "03",
// "12") and reports whether it is 1-12.
func ParseExpMonth(s string) (int, bool) {
	if len(s) < 1 || len(s) > 2 || !allDigits(s) {
		return 0, false
	}
	m := int(s[0] - '0')
	if len(s) == 2 {
		m = m*10 + int(s[1]-'0')
	}
	return m, m >= 1 && m <= 12
}

// ParseExpYear parses a two-digit (20YY) or four-digit expiry year and
// reports whether it had one of those forms.
func ParseExpYear(s string) (int, bool) {
	if (len(s) != 2 && len(s) != 4) || !allDigits(s) {
		return 0, false
	}
	y := 0
	for i := 0; i < len(s); i++ {
		y = y*10 + int(s[i]-'0')
	}
	if len(s) == 2 {
		y += 2000
	}
	return y, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
