package card

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateErrors(t *testing.T) {
	for _, tt := range []struct {
		in, code string
	}{
		{"", CodeInvalidLength},
		{"4111 1111 1111 1111", CodeInvalidCharacters},
		{"4111-1111-1111-1111", CodeInvalidCharacters},
		{"411111111111111x", CodeInvalidCharacters},
		{"４１１１１１１１１１１１１１１１", CodeInvalidCharacters}, // full-width digits
		{"41111111111", CodeInvalidLength},
		{"41111111111111111111", CodeInvalidLength},
		{"4111111111111112", CodeInvalidLuhn},
		{"9111111111111110", CodeUnknownBrand}, // Luhn-valid, no brand
	} {
		b, err := Validate(tt.in)
		var ce *Error
		if b != "" || !errors.As(err, &ce) || ce.Code != tt.code {
			t.Errorf("Validate(%q) = %q, %v; want code %s", tt.in, b, err, tt.code)
			continue
		}
		if !errors.Is(err, &Error{Code: tt.code}) {
			t.Errorf("errors.Is does not match code %s", tt.code)
		}
		assertNoDigits(t, err)
	}
}

// assertNoDigits fails if an error message contains any digit: that is the
// simplest proof it holds none of a PAN, CVV or expiry.
func assertNoDigits(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if i := strings.IndexAny(err.Error(), "0123456789"); i >= 0 {
		t.Errorf("error message %q contains a digit", err.Error())
	}
}

func TestErrorsHoldNoDigitsOfThePAN(t *testing.T) {
	// Each of these reaches a different check; none may echo the number.
	for _, pan := range []string{
		"4111111111111112", "411111111111", "4111111111111111111111", "41111111111111a1",
		"9111111111111110", "378282246310006", makePAN("4", 15), makePAN("81", 19),
	} {
		_, err := Validate(pan)
		if err == nil {
			t.Fatalf("Validate accepted an invalid number of length %d", len(pan))
		}
		assertNoDigits(t, err)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"4111 1111-1111 1111": "4111111111111111",
		"4111111111111111":    "4111111111111111",
		" - ":                 "",
		"4111.1111":           "4111.1111",
		"4111\t1111":          "4111\t1111",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Normalize("4111111111111111") }); n != 0 {
		t.Errorf("Normalize of a clean number allocates %v times", n)
	}
}

func TestValidateCVV(t *testing.T) {
	for _, tt := range []struct {
		cvv  string
		b    Brand
		want bool
	}{
		{"123", Visa, true},
		{"000", Mastercard, true},
		{"1234", Amex, true},
		{"123", Amex, false},
		{"1234", Visa, false},
		{"12", Discover, false},
		{"", Visa, false},
		{"12a", Visa, false},
		{" 123", Visa, false},
	} {
		err := ValidateCVV(tt.cvv, tt.b)
		if (err == nil) != tt.want {
			t.Errorf("ValidateCVV(%q, %s) = %v, want ok=%v", tt.cvv, tt.b, err, tt.want)
		}
		if err != nil {
			if !errors.Is(err, &Error{Code: CodeInvalidCVV}) {
				t.Errorf("ValidateCVV error %v has the wrong code", err)
			}
			assertNoDigits(t, err)
		}
	}
}

func TestValidateExpiry(t *testing.T) {
	now := time.Date(2026, time.March, 31, 23, 59, 59, 0, time.UTC)
	for _, tt := range []struct {
		m, y, code string
	}{
		{"3", "2026", ""}, // valid through the end of the expiry month
		{"03", "26", ""},
		{"04", "2026", ""},
		{"12", "2030", ""},
		{"1", "27", ""},
		{"02", "2026", CodeExpired},
		{"12", "2025", CodeExpired},
		{"12", "25", CodeExpired},
		{"0", "2030", CodeInvalidExpMonth},
		{"00", "2030", CodeInvalidExpMonth},
		{"13", "2030", CodeInvalidExpMonth},
		{"003", "2030", CodeInvalidExpMonth},
		{"", "2030", CodeInvalidExpMonth},
		{"a", "2030", CodeInvalidExpMonth},
		{"03", "203", CodeInvalidExpYear},
		{"03", "", CodeInvalidExpYear},
		{"03", "20x0", CodeInvalidExpYear},
		{"03", "9999", CodeInvalidExpYear},
		{"03", "2076", ""},
		{"03", "2077", CodeInvalidExpYear},
	} {
		err := ValidateExpiry(tt.m, tt.y, now)
		if tt.code == "" {
			if err != nil {
				t.Errorf("ValidateExpiry(%q, %q) = %v, want nil", tt.m, tt.y, err)
			}
			continue
		}
		if !errors.Is(err, &Error{Code: tt.code}) {
			t.Errorf("ValidateExpiry(%q, %q) = %v, want code %s", tt.m, tt.y, err, tt.code)
		}
		assertNoDigits(t, err)
	}
	// One second into April the March card has expired.
	if err := ValidateExpiry("03", "2026", now.Add(time.Second)); !errors.Is(err, &Error{Code: CodeExpired}) {
		t.Errorf("a March card is still valid in April: %v", err)
	}
}

func BenchmarkValidate(b *testing.B) {
	pans := []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "6200000000000005"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Validate(pans[i%len(pans)]); err != nil {
			b.Fatal(err)
		}
	}
}
