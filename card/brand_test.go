package card

import (
	"errors"
	"strings"
	"testing"
)

// makePAN builds a Luhn-valid number of length n that starts with prefix.
func makePAN(prefix string, n int) string {
	partial := prefix + strings.Repeat("0", n-len(prefix)-1)
	return partial + string(LuhnDigit(partial))
}

func TestValidateBrands(t *testing.T) {
	tests := []struct {
		prefix string
		n      int
		want   Brand
		code   string // expected error code when want == ""
	}{
		// Visa: 4, 13/16/19.
		{"4", 13, Visa, ""},
		{"4", 16, Visa, ""},
		{"4", 19, Visa, ""},
		{"4", 15, "", CodeInvalidLength},
		{"4", 18, "", CodeInvalidLength},
		// Mastercard: 51-55 and 2221-2720, 16 only.
		{"51", 16, Mastercard, ""},
		{"55", 16, Mastercard, ""},
		{"2221", 16, Mastercard, ""},
		{"2500", 16, Mastercard, ""},
		{"2720", 16, Mastercard, ""},
		{"2220", 16, "", CodeUnknownBrand},
		{"2721", 16, "", CodeUnknownBrand},
		{"55", 19, "", CodeInvalidLength},
		// Mir: 2200-2204 sits just below Mastercard's 2221; 16-19.
		{"2200", 16, Mir, ""},
		{"2204", 19, Mir, ""},
		{"2205", 16, "", CodeUnknownBrand},
		// Amex: 34, 37, 15.
		{"34", 15, Amex, ""},
		{"37", 15, Amex, ""},
		{"37", 16, "", CodeInvalidLength},
		{"35", 15, "", CodeUnknownBrand},
		// Discover: 6011, 644-649, 65; 16/19.
		{"6011", 16, Discover, ""},
		{"6011", 19, Discover, ""},
		{"644", 16, Discover, ""},
		{"649", 19, Discover, ""},
		{"65", 16, Discover, ""}, // 65 is also RuPay: tie goes to Discover
		{"6521", 16, Discover, ""},
		{"65", 19, Discover, ""},
		{"65", 17, Maestro, ""}, // neither Discover nor RuPay allows 17
		{"643", 16, Maestro, ""},
		{"6011", 17, Maestro, ""},
		// JCB: 3528-3589, 16-19.
		{"3528", 16, JCB, ""},
		{"3589", 19, JCB, ""},
		{"3527", 16, "", CodeUnknownBrand},
		{"3590", 16, "", CodeUnknownBrand},
		// Diners: 300-305, 36, 38-39; 14-19.
		{"300", 14, Diners, ""},
		{"305", 19, Diners, ""},
		{"36", 14, Diners, ""},
		{"38", 16, Diners, ""},
		{"39", 14, Diners, ""},
		{"306", 14, "", CodeUnknownBrand},
		{"36", 13, "", CodeInvalidLength},
		// UnionPay: 62, 16-19; a twelve-digit 62 is Maestro's.
		{"62", 16, UnionPay, ""},
		{"62", 19, UnionPay, ""},
		{"62", 12, Maestro, ""},
		// RuPay: 60, 65, 81, 82, 508; 16.
		{"60", 16, RuPay, ""},
		{"6000", 16, RuPay, ""},
		{"81", 16, RuPay, ""},
		{"82", 16, RuPay, ""},
		{"508", 16, RuPay, ""},
		{"508", 19, Maestro, ""},
		{"60", 19, Maestro, ""},
		{"81", 19, "", CodeInvalidLength},
		// Maestro: 50, 56-69; 12-19.
		{"50", 12, Maestro, ""},
		{"5018", 16, Maestro, ""},
		{"56", 19, Maestro, ""},
		{"69", 13, Maestro, ""},
		{"67", 16, Maestro, ""},
		// Nobody.
		{"1", 16, "", CodeUnknownBrand},
		{"9", 16, "", CodeUnknownBrand},
		{"7", 16, "", CodeUnknownBrand},
	}
	for _, tt := range tests {
		pan := makePAN(tt.prefix, tt.n)
		got, err := Validate(pan)
		if got != tt.want {
			t.Errorf("Validate(%s…, len %d) = %q, want %q (err %v)", tt.prefix, tt.n, got, tt.want, err)
			continue
		}
		if tt.want != "" {
			if err != nil {
				t.Errorf("Validate(%s…, len %d): unexpected error %v", tt.prefix, tt.n, err)
			}
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Code != tt.code {
			t.Errorf("Validate(%s…, len %d) error = %v, want code %s", tt.prefix, tt.n, err, tt.code)
		}
	}
}

// seedPANs are the Basis Theory network token test cards (seeds/003), which
// must all be valid cards of the listed brand.
var seedPANs = map[Brand][]string{
	Visa: {"4111111111111111", "4012888888881881", "4330251207506660", "4539097887163333",
		"4929980395567582", "4929544240318920", "4916725297925395", "4711358892785746"},
	Mastercard: {"5555555555554444", "5105105105105100", "5461310156953048", "5325191087030619",
		"5580422612666704", "5157204564548129", "5336475987107024", "5233580618829955"},
	Discover: {"6011111111111117", "6011601160116611", "6011168802268945", "6011690151507086",
		"6011444770992901", "6011760519541711", "6011490740263725", "6011000990139424"},
	Amex: {"378282246310005", "371449635398431", "370488998077498", "373555735376156",
		"378025849667382", "348322853530243", "375155165213132", "348835199015504"},
}

func TestValidateSeedPANs(t *testing.T) {
	for brand, pans := range seedPANs {
		for _, pan := range pans {
			got, err := Validate(pan)
			if err != nil || got != brand {
				t.Errorf("Validate(%s) = %q, %v; want %q", Mask(pan), got, err, brand)
			}
		}
	}
}

func TestValidateWellKnownTestCards(t *testing.T) {
	for pan, brand := range map[string]Brand{
		"4222222222222":       Visa,
		"4000056655665556":    Visa,
		"2223003122003222":    Mastercard,
		"3530111333300000":    JCB,
		"3566002020360505":    JCB,
		"36227206271667":      Diners,
		"30569309025904":      Diners,
		"38520000023237":      Diners,
		"6200000000000005":    UnionPay,
		"6205500000000000004": UnionPay,
		"6011000990139424":    Discover,
		"6445644564456445":    Discover,
	} {
		if got, err := Validate(pan); err != nil || got != brand {
			t.Errorf("Validate(%s) = %q, %v; want %q", Mask(pan), got, err, brand)
		}
	}
}

func TestBrandsAndCVVLength(t *testing.T) {
	bs := Brands()
	if len(bs) != 10 {
		t.Fatalf("Brands() has %d brands, want 10", len(bs))
	}
	bs[0] = "x" // a copy: must not affect the package
	if Brands()[0] != Visa {
		t.Fatal("Brands() returned the package's own slice")
	}
	for _, b := range Brands() {
		want := 3
		if b == Amex {
			want = 4
		}
		if got := CVVLength(b); got != want {
			t.Errorf("CVVLength(%s) = %d, want %d", b, got, want)
		}
	}
}

func TestValidLength(t *testing.T) {
	for _, tt := range []struct {
		b    Brand
		n    int
		want bool
	}{
		{Visa, 13, true}, {Visa, 14, false}, {Visa, 19, true},
		{Amex, 15, true}, {Amex, 16, false},
		{Maestro, 12, true}, {Mastercard, 12, false},
		{Diners, 14, true}, {RuPay, 19, false}, {"nope", 16, false},
	} {
		if got := ValidLength(tt.b, tt.n); got != tt.want {
			t.Errorf("ValidLength(%s, %d) = %v, want %v", tt.b, tt.n, got, tt.want)
		}
	}
}
