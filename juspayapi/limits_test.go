package juspayapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/juspayapi"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// formFrom posts a /card/tokenize form with the given headers (the test's
// client is named by X-Test-Client, which the servers below read as the
// client IP, as Caddy's client_ip variable would give it).
func (a *api) formFrom(body string, headers map[string]string) (reply, http.Header) {
	a.t.Helper()
	req, _ := http.NewRequest("POST", a.srv.URL+"/card/tokenize", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b)}, resp.Header
}

func testClientIP(s *juspayapi.Server) {
	s.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
}

// cardForm returns a /card/tokenize form for the n-th distinct test card
// (Luhn-valid 16-digit numbers) of merchant.
func cardForm(n int, merchant, extra string) string {
	return "card_number=" + cardPAN(n) + "&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=" + merchant + extra
}

func cardPAN(n int) string { return luhn(fmt.Sprintf("411111%09d", n)) }

func luhn(prefix string) string {
	sum := 0
	for i := len(prefix) - 1; i >= 0; i-- {
		d := int(prefix[i] - '0')
		if (len(prefix)-i)%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return prefix + strconv.Itoa((10-sum%10)%10)
}

// isTooMany checks a 429 in Juspay's error shape with a Retry-After.
func isTooMany(t *testing.T, r reply, h http.Header) {
	t.Helper()
	d := decode(t, r.body)
	info, _ := d["error_info"].(map[string]any)
	secs, err := strconv.Atoi(h.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || d["status"] != "error" || d["error_code"] != "too_many_requests" || info["code"] != "TOO_MANY_REQUESTS" ||
		err != nil || secs < 1 {
		t.Fatalf("want 429 with Retry-After in Juspay's shape: %d %q %s", r.status, h.Get("Retry-After"), r.body)
	}
}

// A client over its bucket gets 429 with Retry-After, whatever it sends
// (bad forms count too); another client is unaffected; the bucket refills.
// An IPv6 client is one bucket per /64.
func TestCardTokenizeClientRate(t *testing.T) {
	a := newAPI(t, testClientIP, func(s *juspayapi.Server) { s.ClientRate, s.ClientBurst = 5, 3 })
	one := map[string]string{"X-Test-Client": "203.0.113.7"}
	for i := 0; i < 3; i++ {
		if r, _ := a.formFrom(cardForm(i, "shop", ""), one); r.status != 200 {
			t.Fatalf("call %d within the burst: %d %s", i+1, r.status, r.body)
		}
	}
	r, h := a.formFrom("merchant_id=shop", one)
	isTooMany(t, r, h)
	if r, _ := a.formFrom(cardForm(10, "other", ""), map[string]string{"X-Test-Client": "198.51.100.1"}); r.status != 200 {
		t.Fatalf("another client: %d %s", r.status, r.body)
	}
	time.Sleep(250 * time.Millisecond) // 5/s: one token back
	if r, _ := a.formFrom(cardForm(11, "shop", ""), one); r.status != 200 {
		t.Fatalf("after the bucket refilled: %d %s", r.status, r.body)
	}
	for i := 0; i < 3; i++ {
		a.formFrom("merchant_id=shop", map[string]string{"X-Test-Client": fmt.Sprintf("2001:db8:1:2::%d", i+1)})
	}
	r, h = a.formFrom("merchant_id=shop", map[string]string{"X-Test-Client": "2001:db8:1:2:ffff::9"})
	isTooMany(t, r, h)
}

// Merchant A's callers flooding it past its ctkn_ quota get 429, while
// merchant B's /card/tokenize and the gateway's own no-consent cards (put
// with no pool) go on; A's tokens live on (nothing is dropped).
func TestCardTokenizeMerchantQuota(t *testing.T) {
	a := newAPI(t, testClientIP, func(s *juspayapi.Server) { s.CardTokensPerMerchant = 4 })
	var first string
	for i := 0; i < 30; i++ {
		r, h := a.formFrom(cardForm(i, "shop", ""), map[string]string{"X-Test-Client": fmt.Sprintf("10.0.%d.1", i)})
		switch {
		case i < 4 && r.status != 200:
			t.Fatalf("A's card %d within its quota: %d %s", i+1, r.status, r.body)
		case i == 0:
			first, _ = decode(t, r.body)["token"].(string)
		case i >= 4:
			isTooMany(t, r, h)
		}
	}
	if got := a.shortLived.PoolHeld("juspay/shop"); got != 4 {
		t.Fatalf("A's pool holds %d, want 4", got)
	}
	if _, err := a.shortLived.Get(t.Context(), "acme", first); err != nil {
		t.Fatalf("A's first ctkn_ was dropped: %v", err)
	}
	for i := 0; i < 4; i++ {
		if r, _ := a.formFrom(cardForm(100+i, "other", ""), map[string]string{"X-Test-Client": "10.9.9.9"}); r.status != 200 {
			t.Fatalf("B's card %d while A is at its quota: %d %s", i+1, r.status, r.body)
		}
	}
	// The gateway's own no-consent checkout cards come without a pool.
	for i := 0; i < 10; i++ {
		if err := a.shortLived.PutShortLived(t.Context(), vaulttest.Sample("acme", fmt.Sprintf("tok_own_%d", i), "fp"), time.Minute); err != nil {
			t.Fatalf("the gateway's own short-lived card %d: %v", i+1, err)
		}
	}
}

// tokenize=true (a permanent record and a provisioning each) is bounded per
// merchant per minute; another merchant, and tokenize=false, go on.
func TestCardTokenizeTrueRate(t *testing.T) {
	a := newAPI(t, testClientIP, func(s *juspayapi.Server) { s.TokenizeTruePerMinute = 3 })
	for i := 0; i < 3; i++ {
		if r, _ := a.formFrom(cardForm(i, "shop", "&tokenize=true"), map[string]string{"X-Test-Client": fmt.Sprintf("10.1.%d.1", i)}); r.status != 200 {
			t.Fatalf("tokenize=true %d: %d %s", i+1, r.status, r.body)
		}
	}
	r, h := a.formFrom(cardForm(3, "shop", "&tokenize=true"), map[string]string{"X-Test-Client": "10.1.99.1"})
	isTooMany(t, r, h)
	if secs, _ := strconv.Atoi(h.Get("Retry-After")); secs > 20 {
		t.Fatalf("Retry-After %d s: one save comes back every 20 s at 3 per minute", secs)
	}
	if _, err := a.shortLived.Vault.GetByFingerprint(t.Context(), "acme", a.st.Keys.Fingerprint("acme", cardPAN(3))); err == nil {
		t.Fatal("the refused tokenize=true card was kept")
	}
	if r, _ := a.formFrom(cardForm(3, "shop", "&tokenize=false"), map[string]string{"X-Test-Client": "10.1.99.1"}); r.status != 200 {
		t.Fatalf("tokenize=false past the tokenize=true bound: %d %s", r.status, r.body)
	}
	if r, _ := a.formFrom(cardForm(50, "other", "&tokenize=true"), map[string]string{"X-Test-Client": "10.1.98.1"}); r.status != 200 {
		t.Fatalf("another merchant's tokenize=true: %d %s", r.status, r.body)
	}
}

// stored_card_token reissues a saved card only for the customer it is
// saved for: the customer must be named (customer_id, or x-routing-id), and
// a reference saved for another customer, of another merchant's tenant, or
// unknown, all get the same answer. The ctkn_ keeps the customer.
func TestStoredCardTokenNeedsItsCustomer(t *testing.T) {
	a := newAPI(t)
	const pan = "4111111111111111"
	gen := a.do("POST", "/generateToken", apiKey, generateBody(a.encryptCard(`{"cardNumber":"`+pan+`","expMonth":"09","expYear":"2030"}`, true, kid), "cust_a"))
	ref, _ := a.decryptPayload(gen.body)["cardReference"].(string)
	if ref == "" {
		t.Fatalf("generateToken: %s", gen.body)
	}
	stored := func(ref, extra string, headers map[string]string) reply {
		r, _ := a.formFrom("stored_card_token="+ref+"&card_security_code=456&merchant_id=shop"+extra, headers)
		return r
	}
	// No customer at all: the field is missing (before the reference is read).
	r := stored(ref, "", nil)
	d := decode(t, r.body)
	if r.status != 400 || d["error_code"] != "nullable" || !strings.Contains(r.body, `"field_name":"customer_id"`) {
		t.Fatalf("no customer: %d %s", r.status, r.body)
	}
	if r2 := stored("token_unknown", "", nil); r2.status != r.status || decode(t, r2.body)["error_message"] != d["error_message"] {
		t.Fatalf("no customer, unknown reference: %d %s", r2.status, r2.body)
	}
	// Every refusal the same answer (but its request id).
	same := func(r reply) string {
		d := decode(t, r.body)
		if info, ok := d["error_info"].(map[string]any); ok {
			delete(info, "request_id")
		}
		return fmt.Sprint(r.status, d)
	}
	unknown := same(stored("token_unknown", "&customer_id=cust_a", nil))
	if !strings.Contains(unknown, "stored_card_token") || !strings.HasPrefix(unknown, "400") {
		t.Fatalf("unknown reference: %s", unknown)
	}
	for name, got := range map[string]reply{
		"another customer":                 stored(ref, "&customer_id=cust_b", nil),
		"another customer by x-routing-id": stored(ref, "", map[string]string{"x-routing-id": "cust_b"}),
		"the body's customer wins":         stored(ref, "&customer_id=cust_b", map[string]string{"x-routing-id": "cust_a"}),
	} {
		if same(got) != unknown {
			t.Errorf("%s: %s, want the unknown reference's answer %s", name, same(got), unknown)
		}
	}
	other, _ := a.formFrom("stored_card_token="+ref+"&card_security_code=456&merchant_id=other&customer_id=cust_a", nil)
	if same(other) != unknown {
		t.Errorf("another merchant's tenant: %s", same(other))
	}
	for name, r := range map[string]reply{
		"customer_id":  stored(ref, "&customer_id=cust_a", nil),
		"x-routing-id": stored(ref, "", map[string]string{"x-routing-id": "cust_a"}),
	} {
		tok, _ := decode(t, r.body)["token"].(string)
		if r.status != 200 || !strings.HasPrefix(tok, "ctkn_") {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
		rec, err := a.shortLived.Get(t.Context(), "acme", tok)
		if _, ok := rec.Metadata["juspay.customer:cust_a"]; err != nil || !ok || !vault.IsShortLived(rec) || len(rec.Metadata) != 2 {
			t.Fatalf("%s: the ctkn_ does not carry its customer (only): %v %v", name, err, rec.Metadata)
		}
		if cvv, ok, _ := a.cvvs.TakeCVV(t.Context(), "acme", tok); !ok || cvv != "456" {
			t.Fatalf("%s: the new CVV is not held", name)
		}
	}
}

// A merchant at its ctkn_ quota is refused tokenize=true before the card is
// kept (no permanent record, no provisioning for a token it cannot have).
func TestCardTokenizeTrueAtQuota(t *testing.T) {
	a := newAPI(t, testClientIP, func(s *juspayapi.Server) { s.CardTokensPerMerchant = 1 })
	if r, _ := a.formFrom(cardForm(0, "shop", ""), map[string]string{"X-Test-Client": "10.2.0.1"}); r.status != 200 {
		t.Fatalf("the quota's one card: %d %s", r.status, r.body)
	}
	r, h := a.formFrom(cardForm(1, "shop", "&tokenize=true"), map[string]string{"X-Test-Client": "10.2.0.1"})
	isTooMany(t, r, h)
	if _, err := a.shortLived.Vault.GetByFingerprint(t.Context(), "acme", a.st.Keys.Fingerprint("acme", cardPAN(1))); err == nil {
		t.Fatal("the card was kept although its ctkn_ was refused")
	}
}
