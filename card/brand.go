package card

import (
	"sort"
	"strconv"
)

// Brand names a card scheme. Its values are the lowercase identifiers used in
// configuration, the vault and the network token services.
type Brand string

// The card brands tokengate recognizes (see BRIEF "Domain facts").
const (
	// Visa cards start with 4 and have 13, 16 or 19 digits.
	Visa Brand = "visa"
	// Mastercard cards start with 51-55 or 2221-2720 and have 16 digits.
	Mastercard Brand = "mastercard"
	// Amex (American Express) cards start with 34 or 37, have 15 digits and a
	// four-digit CVV.
	Amex Brand = "amex"
	// Discover cards start with 6011, 644-649 or 65 and have 16 or 19 digits.
	Discover Brand = "discover"
	// JCB cards start with 3528-3589 and have 16 to 19 digits.
	JCB Brand = "jcb"
	// Diners (Diners Club) cards start with 300-305, 36 or 38-39 and have 14
	// to 19 digits.
	Diners Brand = "diners"
	// UnionPay cards start with 62 and have 16 to 19 digits.
	UnionPay Brand = "unionpay"
	// RuPay cards start with 60, 65, 81, 82 or 508 and have 16 digits.
	RuPay Brand = "rupay"
	// Mir cards start with 2200-2204 and have 16 to 19 digits.
	Mir Brand = "mir"
	// Maestro cards start with 50 or 56-69 and have 12 to 19 digits.
	Maestro Brand = "maestro"
)

// brandOrder is the order of the BRIEF's table. It breaks ties between equally
// specific prefixes: 65 is both Discover and RuPay, and Discover wins because
// 65 is Discover's IIN range (RuPay cards there are co-badged on Discover's
// network), which is also how braintree/credit-card-type resolves overlaps
// (first listed type wins).
var brandOrder = []Brand{Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, RuPay, Mir, Maestro}

// Brands returns every brand the package recognizes, in a stable order. It
// returns a fresh slice so callers may sort or modify it.
func Brands() []Brand {
	return append([]Brand(nil), brandOrder...)
}

// CVVLength returns how many digits the brand's card verification value has:
// four for Amex (its CID), three for every other brand.
func CVVLength(b Brand) int {
	if b == Amex {
		return 4
	}
	return 3
}

// lengths is a bit set of allowed PAN lengths: bit n set means n digits.
type lengths uint32

func lens(ns ...int) lengths {
	var l lengths
	for _, n := range ns {
		l |= 1 << n
	}
	return l
}

func lenRange(lo, hi int) lengths {
	var l lengths
	for n := lo; n <= hi; n++ {
		l |= 1 << n
	}
	return l
}

func (l lengths) has(n int) bool { return n >= 0 && n < 32 && l&(1<<n) != 0 }

// rule says that PANs whose first len(lo) digits lie in [lo, hi] may belong to
// brand when their length is in allowed.
type rule struct {
	brand   Brand
	lo, hi  string // same length, digits
	allowed lengths
	width   int // hi-lo, the narrower the more specific
	order   int // position of brand in brandOrder
}

// rules are the BRIEF's prefix and length table (after braintree/credit-card-
// type src/lib/card-types.ts), sorted at init from most to least specific.
var rules = func() []rule {
	r := []rule{
		{brand: Visa, lo: "4", hi: "4", allowed: lens(13, 16, 19)},
		{brand: Mastercard, lo: "51", hi: "55", allowed: lens(16)},
		{brand: Mastercard, lo: "2221", hi: "2720", allowed: lens(16)},
		{brand: Amex, lo: "34", hi: "34", allowed: lens(15)},
		{brand: Amex, lo: "37", hi: "37", allowed: lens(15)},
		{brand: Discover, lo: "6011", hi: "6011", allowed: lens(16, 19)},
		{brand: Discover, lo: "644", hi: "649", allowed: lens(16, 19)},
		{brand: Discover, lo: "65", hi: "65", allowed: lens(16, 19)},
		{brand: JCB, lo: "3528", hi: "3589", allowed: lenRange(16, 19)},
		{brand: Diners, lo: "300", hi: "305", allowed: lenRange(14, 19)},
		{brand: Diners, lo: "36", hi: "36", allowed: lenRange(14, 19)},
		{brand: Diners, lo: "38", hi: "39", allowed: lenRange(14, 19)},
		{brand: UnionPay, lo: "62", hi: "62", allowed: lenRange(16, 19)},
		{brand: RuPay, lo: "60", hi: "60", allowed: lens(16)},
		{brand: RuPay, lo: "65", hi: "65", allowed: lens(16)},
		{brand: RuPay, lo: "81", hi: "81", allowed: lens(16)},
		{brand: RuPay, lo: "82", hi: "82", allowed: lens(16)},
		{brand: RuPay, lo: "508", hi: "508", allowed: lens(16)},
		{brand: Mir, lo: "2200", hi: "2204", allowed: lenRange(16, 19)},
		{brand: Maestro, lo: "50", hi: "50", allowed: lenRange(12, 19)},
		{brand: Maestro, lo: "56", hi: "69", allowed: lenRange(12, 19)},
	}
	for i := range r {
		lo, _ := strconv.Atoi(r[i].lo)
		hi, _ := strconv.Atoi(r[i].hi)
		r[i].width = hi - lo
		for j, b := range brandOrder {
			if b == r[i].brand {
				r[i].order = j
			}
		}
	}
	// Longest prefix first; among equal lengths the narrowest range (62 beats
	// Maestro's 56-69); then the BRIEF's brand order (65: Discover, RuPay).
	sort.SliceStable(r, func(i, j int) bool {
		a, b := r[i], r[j]
		if len(a.lo) != len(b.lo) {
			return len(a.lo) > len(b.lo)
		}
		if a.width != b.width {
			return a.width < b.width
		}
		return a.order < b.order
	})
	return r
}()

// matches reports whether digits starts with a prefix in the rule's range.
func (r *rule) matches(digits string) bool {
	if len(digits) < len(r.lo) {
		return false
	}
	p := digits[:len(r.lo)]
	return p >= r.lo && p <= r.hi
}

// detect returns the most specific brand whose prefix matches and whose
// lengths allow len(digits), or "" and the most specific brand whose prefix
// matched at all (to say "wrong length for visa" instead of "unknown brand").
func detect(digits string) (brand, prefixOnly Brand) {
	for i := range rules {
		r := &rules[i]
		if !r.matches(digits) {
			continue
		}
		if r.allowed.has(len(digits)) {
			return r.brand, r.brand
		}
		if prefixOnly == "" {
			prefixOnly = r.brand
		}
	}
	return "", prefixOnly
}

// ValidLength reports whether brand b issues card numbers of n digits in any
// of its ranges. Network token services use it to check that a token BIN gives
// numbers of the card's brand at every length the card may have.
func ValidLength(b Brand, n int) bool {
	for i := range rules {
		if rules[i].brand == b && rules[i].allowed.has(n) {
			return true
		}
	}
	return false
}

// BrandOfBIN returns the brand a card number starting with bin would have
// (six to nine digits), or "" when no brand's ranges cover it.
func BrandOfBIN(bin string) Brand {
	for _, r := range bin {
		if r < '0' || r > '9' {
			return ""
		}
	}
	brand, prefixOnly := detect(bin)
	if brand == "" {
		brand = prefixOnly
	}
	return brand
}
