package network

import (
	"fmt"
	"strings"

	"github.com/tokengate/tokengate/card"
)

// defaultTokenBINs are the emulator's token BIN ranges. Each is a BIN of the
// card's own brand (so card.Validate of a DPAN gives the card's brand, as
// with real network tokens) that differs from the well-known test cards'
// BINs, so a DPAN is never mistaken for the card it stands for. The Visa to
// UnionPay values are the ones the project brief suggests; Diners, RuPay, Mir
// and Maestro are placeholders picked inside the brand's unambiguous ranges
// (RuPay in 60 rather than 65, which resolves to Discover; Maestro in 67,
// which no other brand shares). None of them is a real issuer's assignment.
var defaultTokenBINs = map[card.Brand][]string{
	card.Visa:       {"489537"},
	card.Mastercard: {"520473", "222300"},
	card.Amex:       {"374850"},
	card.Discover:   {"601199"},
	card.JCB:        {"352800"},
	card.Diners:     {"361890"},
	card.UnionPay:   {"620000"},
	card.RuPay:      {"608100"},
	card.Mir:        {"220430"},
	card.Maestro:    {"675940"},
}

// defaultTokenExpiryMonths follows the networks' habits (BRIEF): Visa tokens
// expire with the card (0), Mastercard tokens 36 months after provisioning;
// every other brand takes the card's expiry.
var defaultTokenExpiryMonths = map[card.Brand]int{
	card.Mastercard: 36,
}

// defaultECI is what Basis Theory returns with its cryptograms (seeds/003):
// "07", no authentication. It is configurable per brand because TSPs differ.
const defaultECI = "07"

// parPrefixes are the BIN controller identifiers that start a PAR. V001 and
// 5001 are Visa's and Mastercard's (BRIEF); Maestro's BIN controller is
// Mastercard, and Diners Club's is Discover Global Network. The others are
// this emulator's own choice (brand initial + 001): real values come from
// EMVCo's registry and only matter to a real TSP.
var parPrefixes = map[card.Brand]string{
	card.Visa:       "V001",
	card.Mastercard: "5001",
	card.Maestro:    "5001",
	card.Amex:       "A001",
	card.Discover:   "D001",
	card.Diners:     "D001",
	card.JCB:        "J001",
	card.UnionPay:   "U001",
	card.RuPay:      "R001",
	card.Mir:        "M001",
}

// maxTokenExpiryMonths bounds TokenExpiryMonths: ten years is beyond any
// network's token lifetime, so a larger value is a configuration mistake.
const maxTokenExpiryMonths = 120

// resolvedConfig is BuiltinConfig with defaults applied and everything checked.
type resolvedConfig struct {
	bins   map[card.Brand][]string
	months map[card.Brand]int
	eci    map[card.Brand]string
}

// resolve fills defaults brand by brand: a brand present in a map (even with
// an empty value) overrides the default, so TokenBINs{"rupay": nil} turns
// RuPay tokenization off while keeping every other brand's default.
func resolve(cfg BuiltinConfig) (resolvedConfig, error) {
	r := resolvedConfig{
		bins:   map[card.Brand][]string{},
		months: map[card.Brand]int{},
		eci:    map[card.Brand]string{},
	}
	for _, b := range card.Brands() {
		r.bins[b] = defaultTokenBINs[b]
		r.months[b] = defaultTokenExpiryMonths[b]
		r.eci[b] = defaultECI
	}
	for k, bins := range cfg.TokenBINs {
		b, err := knownBrand(k)
		if err != nil {
			return r, fmt.Errorf("token_bins: %w", err)
		}
		for _, bin := range bins {
			if err := checkTokenBIN(b, bin); err != nil {
				return r, fmt.Errorf("token_bins: %w", err)
			}
		}
		r.bins[b] = append([]string(nil), bins...)
	}
	for k, m := range cfg.TokenExpiryMonths {
		b, err := knownBrand(k)
		if err != nil {
			return r, fmt.Errorf("token_expiry_months: %w", err)
		}
		if m < 0 || m > maxTokenExpiryMonths {
			return r, fmt.Errorf("token_expiry_months: %s: %d is not between 0 (card expiry) and %d", b, m, maxTokenExpiryMonths)
		}
		r.months[b] = m
	}
	for k, eci := range cfg.ECI {
		b, err := knownBrand(k)
		if err != nil {
			return r, fmt.Errorf("eci: %w", err)
		}
		if len(eci) != 2 || strings.Trim(eci, "0123456789") != "" {
			return r, fmt.Errorf("eci: %s: %q is not two digits", b, eci)
		}
		r.eci[b] = eci
	}
	return r, nil
}

func knownBrand(s string) (card.Brand, error) {
	for _, b := range card.Brands() {
		if string(b) == s {
			return b, nil
		}
	}
	return "", fmt.Errorf("unknown card brand %q", s)
}

// checkTokenBIN makes sure a token BIN is six or eight digits and that the
// numbers it starts are of brand b at every length b issues: a DPAN has the
// card's length, and a DPAN that validates as another brand would be routed
// to the wrong network.
func checkTokenBIN(b card.Brand, bin string) error {
	if (len(bin) != 6 && len(bin) != 8) || strings.Trim(bin, "0123456789") != "" {
		return fmt.Errorf("%s: token BIN %q is not six or eight digits", b, bin)
	}
	for n := card.MinLength; n <= card.MaxLength; n++ {
		if !card.ValidLength(b, n) {
			continue
		}
		partial := bin + strings.Repeat("0", n-len(bin)-1)
		got, err := card.Validate(partial + string(card.LuhnDigit(partial)))
		if err != nil || got != b {
			return fmt.Errorf("%s: token BIN %s does not give %s numbers of %d digits", b, bin, b, n)
		}
	}
	return nil
}

// Check reports what is wrong in cfg's brand settings (token BINs, expiry
// months, ECIs) without building a service, so a configuration can be
// validated before any key is at hand.
func (cfg BuiltinConfig) Check() error {
	_, err := resolve(cfg)
	return err
}
