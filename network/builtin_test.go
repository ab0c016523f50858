package network

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/card"
)

func TestName(t *testing.T) {
	if got := newTestBuiltin(t, NewMemoryStore()).Name(); got != "builtin" {
		t.Fatalf("Name() = %q", got)
	}
}

func TestDPANProperties(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore())
	for _, brand := range card.Brands() {
		bins := b.cfg.bins[brand]
		if len(bins) == 0 {
			t.Fatalf("%s has no default token BINs", brand)
		}
		for n := card.MinLength; n <= card.MaxLength; n++ {
			if !card.ValidLength(brand, n) {
				continue
			}
			for serial := range 5 {
				pan := makePAN(cardPrefixes[brand], n, serial)
				if got, err := card.Validate(pan); err != nil || got != brand {
					t.Fatalf("test PAN for %s/%d is %q, %v", brand, n, got, err)
				}
				tok, err := b.Provision(ctx, provisionReq(pan))
				if err != nil {
					t.Fatalf("Provision(%s, %d digits): %v", brand, n, err)
				}
				d := tok.DPAN
				switch got, err := card.Validate(d); {
				case err != nil || got != brand:
					t.Errorf("%s/%d: DPAN validates as %q, %v", brand, n, got, err)
				case len(d) != len(pan):
					t.Errorf("%s/%d: DPAN has %d digits", brand, n, len(d))
				case d == pan || card.BIN(d) == card.BIN(pan):
					t.Errorf("%s/%d: DPAN shares the card's BIN", brand, n)
				case !hasAnyPrefix(d, bins):
					t.Errorf("%s/%d: DPAN BIN %s is not a token BIN", brand, n, card.BIN(d))
				}
				if tok.Brand != string(brand) || tok.Status != StatusActive || !isTokenID(tok.ID) {
					t.Errorf("%s/%d: token %v", brand, n, tok)
				}
			}
		}
	}
}

func hasAnyPrefix(s string, ps []string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func TestDPANAvoidsTheCardsOwnBIN(t *testing.T) {
	// A card issued from one of the token BINs gets a DPAN from the other.
	b := newTestBuiltin(t, NewMemoryStore())
	for i := range 50 {
		pan := makePAN("520473", 16, i)
		tok, err := b.Provision(ctx, provisionReq(pan))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok.DPAN, "222300") {
			t.Fatalf("DPAN BIN %s for a card from token BIN 520473", card.BIN(tok.DPAN))
		}
	}
	// With no other BIN, the card is not eligible.
	b = newTestBuiltin(t, NewMemoryStore(), func(c *BuiltinConfig) {
		c.TokenBINs = map[string][]string{"visa": {"489537"}}
	})
	_, err := b.Provision(ctx, provisionReq(makePAN("489537", 16, 1)))
	var ne *Error
	if !errors.As(err, &ne) || ne.Code != CodeCardNotEligible {
		t.Fatalf("card from the only token BIN: %v", err)
	}
}

var parPattern = regexp.MustCompile(`^[A-Z0-9]{29}$`)

func TestPAR(t *testing.T) {
	store := NewMemoryStore()
	b := newTestBuiltin(t, store)
	for brand, prefix := range parPrefixes {
		pan := makePAN(cardPrefixes[brand], 16, 7)
		if brand == card.Amex {
			pan = makePAN(cardPrefixes[brand], 15, 7)
		}
		t1, err := b.Provision(ctx, provisionReq(pan))
		if err != nil {
			t.Fatal(err)
		}
		t2, err := b.Provision(ctx, provisionReq(pan))
		if err != nil {
			t.Fatal(err)
		}
		other, err := b.Provision(ctx, provisionReq(makePAN(cardPrefixes[brand], len(pan), 8)))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !parPattern.MatchString(t1.PAR):
			t.Errorf("%s: PAR %q is not 29 uppercase alphanumerics", brand, t1.PAR)
		case t1.PAR[:4] != prefix:
			t.Errorf("%s: PAR prefix %q, want %q", brand, t1.PAR[:4], prefix)
		case t1.ID == t2.ID || t1.DPAN == t2.DPAN:
			t.Errorf("%s: two provisions gave the same token", brand)
		case t1.PAR != t2.PAR:
			t.Errorf("%s: PAR differs between two tokens of the same PAN", brand)
		case t1.PAR == other.PAR:
			t.Errorf("%s: two PANs share a PAR", brand)
		}
	}
	if parPrefixes[card.Visa] != "V001" || parPrefixes[card.Mastercard] != "5001" {
		t.Error("Visa and Mastercard BIN controller ids must be V001 and 5001")
	}
	// The same Key gives the same PAR in another instance; another Key not.
	pan := "4111111111111111"
	t1, _ := b.Provision(ctx, provisionReq(pan))
	t2, _ := newTestBuiltin(t, NewMemoryStore()).Provision(ctx, provisionReq(pan))
	other := newTestBuiltin(t, NewMemoryStore(), func(c *BuiltinConfig) { c.Key = make([]byte, 32) })
	t3, _ := other.Provision(ctx, provisionReq(pan))
	if t1.PAR != t2.PAR || t1.PAR == t3.PAR {
		t.Errorf("PAR must depend on Key and PAN only")
	}
}

func TestTokenExpiry(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore(), func(c *BuiltinConfig) {
		c.TokenExpiryMonths = map[string]int{"amex": 24}
	})
	for _, tt := range []struct {
		pan, m, y, wantM, wantY string
	}{
		{"4111111111111111", "3", "27", "03", "2027"},    // visa: card expiry
		{"5555555555554444", "03", "2027", "03", "2029"}, // mastercard: +36 months from 2026-03
		{"378282246310005", "12", "2030", "03", "2028"},  // amex configured to 24
		{"6011111111111117", "7", "2031", "07", "2031"},  // discover: card expiry
	} {
		tok, err := b.Provision(ctx, ProvisionRequest{PAN: tt.pan, ExpMonth: tt.m, ExpYear: tt.y})
		if err != nil {
			t.Fatal(err)
		}
		if tok.ExpMonth != tt.wantM || tok.ExpYear != tt.wantY {
			t.Errorf("%s token expiry %s/%s, want %s/%s", tok.Brand, tok.ExpMonth, tok.ExpYear, tt.wantM, tt.wantY)
		}
	}
	if m, y := tokenExpiry("", "", 10, time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)); m != "01" || y != "2027" {
		t.Errorf("10 months after March 2026 is %s/%s", m, y)
	}
}

func TestProvisionInvalidCards(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore())
	for _, tt := range []struct {
		req  ProvisionRequest
		code string
	}{
		{ProvisionRequest{PAN: "4111111111111112", ExpMonth: "12", ExpYear: "2030"}, card.CodeInvalidLuhn},
		{ProvisionRequest{PAN: "4111-1111-1111-111x", ExpMonth: "12", ExpYear: "2030"}, card.CodeInvalidCharacters},
		{ProvisionRequest{PAN: "4111111111111111", ExpMonth: "02", ExpYear: "2026"}, card.CodeExpired},
		{ProvisionRequest{PAN: "4111111111111111", ExpMonth: "13", ExpYear: "2030"}, card.CodeInvalidExpMonth},
		{ProvisionRequest{PAN: "4111111111111111", ExpMonth: "12", ExpYear: "2030", CVV: "1234"}, card.CodeInvalidCVV},
		{ProvisionRequest{PAN: "378282246310005", ExpMonth: "12", ExpYear: "2030", CVV: "123"}, card.CodeInvalidCVV},
	} {
		_, err := b.Provision(ctx, tt.req)
		if !errors.Is(err, &card.Error{Code: tt.code}) {
			t.Errorf("Provision: %v, want card error %s", err, tt.code)
		}
		if err != nil {
			assertClean(t, "error", err.Error(), tt.req.PAN, card.Normalize(tt.req.PAN), tt.req.CVV)
		}
	}
	// Spaces and dashes are fine: Provision normalizes.
	if _, err := b.Provision(ctx, ProvisionRequest{PAN: "4111 1111-1111 1111", ExpMonth: "12", ExpYear: "2030"}); err != nil {
		t.Errorf("Provision with a formatted PAN: %v", err)
	}
	_, err := b.Provision(ctx, ProvisionRequest{PAN: "4111111111111111", ExpMonth: "12", ExpYear: "2030", Brand: "mastercard"})
	var ne *Error
	if !errors.As(err, &ne) || ne.Code != CodeBrandMismatch {
		t.Errorf("brand mismatch: %v", err)
	}
}

func TestBrandWithoutBINsIsNotEligible(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore(), func(c *BuiltinConfig) {
		c.TokenBINs = map[string][]string{"rupay": nil}
	})
	_, err := b.Provision(ctx, provisionReq(makePAN("608001", 16, 1)))
	var ne *Error
	if !errors.As(err, &ne) || *ne != (Error{CodeCardNotEligible, "Card Not Eligible"}) {
		t.Fatalf("rupay without BINs: %v", err)
	}
	// Other brands keep their defaults.
	if _, err := b.Provision(ctx, provisionReq("4111111111111111")); err != nil {
		t.Fatal(err)
	}
}

func TestNewBuiltinConfigErrors(t *testing.T) {
	for name, mod := range map[string]func(*BuiltinConfig){
		"no key":            func(c *BuiltinConfig) { c.Key = nil },
		"short key":         func(c *BuiltinConfig) { c.Key = make([]byte, 16) },
		"unknown brand":     func(c *BuiltinConfig) { c.TokenBINs = map[string][]string{"vissa": {"489537"}} },
		"other brand's BIN": func(c *BuiltinConfig) { c.TokenBINs = map[string][]string{"visa": {"520473"}} },
		"short BIN":         func(c *BuiltinConfig) { c.TokenBINs = map[string][]string{"visa": {"4895"}} },
		"ambiguous BIN":     func(c *BuiltinConfig) { c.TokenBINs = map[string][]string{"rupay": {"650000"}} },
		"length gap":        func(c *BuiltinConfig) { c.TokenBINs = map[string][]string{"maestro": {"601234"}} },
		"negative months":   func(c *BuiltinConfig) { c.TokenExpiryMonths = map[string]int{"visa": -1} },
		"huge months":       func(c *BuiltinConfig) { c.TokenExpiryMonths = map[string]int{"visa": 1000} },
		"bad ECI":           func(c *BuiltinConfig) { c.ECI = map[string]string{"visa": "7"} },
		"ECI unknown brand": func(c *BuiltinConfig) { c.ECI = map[string]string{"VISA": "07"} },
	} {
		cfg := BuiltinConfig{Key: testKey}
		mod(&cfg)
		if _, err := NewBuiltin(cfg, NewMemoryStore()); err == nil {
			t.Errorf("%s: NewBuiltin accepted the config", name)
		}
	}
	if _, err := NewBuiltin(BuiltinConfig{Key: testKey}, nil); err == nil {
		t.Error("NewBuiltin accepted a nil store")
	}
	// Eight-digit BINs are fine.
	if _, err := NewBuiltin(BuiltinConfig{Key: testKey, TokenBINs: map[string][]string{"visa": {"48953712"}}}, NewMemoryStore()); err != nil {
		t.Error(err)
	}
}

func TestKeyIsCopied(t *testing.T) {
	key := append([]byte(nil), testKey...)
	b := newTestBuiltin(t, NewMemoryStore(), func(c *BuiltinConfig) { c.Key = key })
	tok, _ := b.Provision(ctx, provisionReq("4111111111111111"))
	clear(key)
	b.cache.m = map[string]*cached{}
	got, err := b.Get(ctx, tok.ID)
	if err != nil || got.DPAN != tok.DPAN {
		t.Fatalf("changing the caller's key slice changed the service: %v", err)
	}
}

// Two emulators over one store (two gateways on one database): a status
// change made through one is served stale by the other only until it is
// told to Forget the token (a change announcement), not for its cache TTL.
func TestForgetSeesAnotherInstancesChange(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	a, b := newTestBuiltin(t, store), newTestBuiltin(t, store)
	tok, err := a.Provision(ctx, provisionReq(makePAN(cardPrefixes[card.Visa], 16, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, tok.ID); err != nil || got.Status != StatusActive {
		t.Fatalf("the other instance: %v %v", got.Status, err)
	}
	if err := a.SetStatus(ctx, tok.ID, StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Get(ctx, tok.ID); got.Status != StatusActive {
		t.Fatalf("expected the other instance to serve its cached state before Forget, got %s", got.Status)
	}
	b.Forget(tok.ID)
	if got, _ := b.Get(ctx, tok.ID); got.Status != StatusSuspended {
		t.Fatalf("after Forget the other instance still says %s", got.Status)
	}
	if err := a.SetStatus(ctx, tok.ID, StatusDeleted); err != nil {
		t.Fatal(err)
	}
	b.Forget("")
	if got, _ := b.Get(ctx, tok.ID); got.Status != StatusDeleted {
		t.Fatalf("after Forget(\"\") the other instance still says %s", got.Status)
	}
}
