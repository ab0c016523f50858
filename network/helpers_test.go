package network

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/card"
)

var (
	testKey = bytes.Repeat([]byte{0x42}, 32)
	testNow = time.Date(2026, time.March, 15, 12, 0, 0, 0, time.UTC)
	ctx     = context.Background()
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestBuiltin(t testing.TB, store StateStore, mod ...func(*BuiltinConfig)) *Builtin {
	t.Helper()
	cfg := BuiltinConfig{Key: testKey, Now: func() time.Time { return testNow }}
	for _, m := range mod {
		m(&cfg)
	}
	b, err := NewBuiltin(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cardPrefixes are card (not token) BINs per brand, used to build test PANs.
var cardPrefixes = map[card.Brand]string{
	card.Visa:       "411111",
	card.Mastercard: "555555",
	card.Amex:       "378282",
	card.Discover:   "601111",
	card.JCB:        "353011",
	card.Diners:     "362272",
	card.UnionPay:   "620550",
	card.RuPay:      "608001",
	card.Mir:        "220000",
	card.Maestro:    "501800",
}

// makePAN builds a Luhn-valid number of length n from prefix and a serial,
// so that different serials give different PANs.
func makePAN(prefix string, n, serial int) string {
	s := strings.Repeat("0", n) + itoa(serial)
	partial := prefix + s[len(s)-(n-len(prefix)-1):]
	return partial + string(card.LuhnDigit(partial))
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func cvvFor(b card.Brand) string { return "1234"[:card.CVVLength(b)] }

func provisionReq(pan string) ProvisionRequest {
	b, _ := card.Validate(pan)
	return ProvisionRequest{PAN: pan, ExpMonth: "12", ExpYear: "2030", CVV: cvvFor(b), Brand: string(b)}
}

// assertClean fails if s contains any of the secrets.
func assertClean(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("%s contains card data (%d chars)", what, len(sec))
		}
	}
}
