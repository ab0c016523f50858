package caddymodule

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/tokengate/tokengate/jwe"
)

// juspayLimitsSites: shop_a and shop_b on :9084 with a small ctkn_ quota
// and tokenize=true rate (the client rate high enough for a flood from
// one address); shop_c on :9085 with a small client rate.
func juspayLimitsSites(dir string) string {
	return defaultSites + `
:9084 {
	juspay_api {
		merchant shop_a jp_key_a tenant_a
		merchant shop_b jp_key_b tenant_b
		dev_keys ` + dir + `
		ctkn_max_per_merchant 20
		client_rate 1000 2000
		tokenize_true_rate 4
	}
}
:9085 {
	juspay_api {
		merchant shop_c jp_key_c tenant_a
		dev_keys ` + dir + `
		client_rate 0.01 3
	}
}
`
}

// startJuspayLimits starts the gateway with Caddy trusting X-Forwarded-For
// from localhost, so a test can speak as several clients and the handler
// is seen to key on Caddy's client IP (not the connection's address).
func startJuspayLimits(t *testing.T, extraGlobal, keysDir string) *gateway {
	t.Helper()
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	config := strings.Replace(g.config(extraGlobal, juspayLimitsSites(keysDir)), "{\n",
		"{\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32 ::1/128\n\t}\n", 1)
	g.load(config)
	return g
}

// ctknCard is the n-th distinct Luhn-valid test card number.
func ctknCard(n int) string {
	prefix := fmt.Sprintf("411111%09d", n)
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

func (g *gateway) cardTokenize(base, form, client string, headers ...string) reply {
	g.t.Helper()
	return g.post(base+"/card/tokenize", "application/x-www-form-urlencoded", form, append([]string{"X-Forwarded-For", client}, headers...)...)
}

// tooMany checks a 429 in Juspay's error shape with a Retry-After.
func tooMany(t *testing.T, what string, r reply) {
	t.Helper()
	var d struct {
		Status    string `json:"status"`
		ErrorCode string `json:"error_code"`
		ErrorInfo struct {
			Code string `json:"code"`
		} `json:"error_info"`
	}
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || json.Unmarshal([]byte(r.body), &d) != nil || d.Status != "error" ||
		d.ErrorCode != "too_many_requests" || d.ErrorInfo.Code != "TOO_MANY_REQUESTS" || err != nil || secs < 1 {
		t.Fatalf("%s: want 429 with Retry-After in Juspay's shape: %d %q %s", what, r.status, r.header.Get("Retry-After"), r.body)
	}
}

// TestJuspayCardTokenizeFlood is issue 15's item 9 through a real Caddy:
// a flood of /card/tokenize for merchant A from many clients fills A's
// quota only (429 past it, A's tokens kept); merchant B's /card/tokenize
// and the gateway's own no-consent checkout (which pays) work throughout;
// tokenize=true is bounded per merchant; one client past its rate gets 429
// while another does not. With the short-lived cards in memory and in
// Redis (where they count against the same per-gateway bounds).
func TestJuspayCardTokenizeFlood(t *testing.T) {
	// The development keys, made before Caddy loads the config, so the
	// load does not spend four RSA-2048 key generations (seconds on a busy
	// machine) before the test can send anything.
	keysDir := t.TempDir()
	for _, name := range []string{"jwe-dev", "merchant-shop_a", "merchant-shop_b", "merchant-shop_c"} {
		if err := jwe.GenerateKeyPair(filepath.Join(keysDir, name+".pem"), filepath.Join(keysDir, name+".pub.pem")); err != nil {
			t.Fatal(err)
		}
	}
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			extra := ""
			if store == "redis" {
				c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second)
				if err != nil {
					t.Skip("no Redis on 127.0.0.1:6379")
				}
				c.Close()
				extra = "cvv_store redis {\n\t\t\tprefix " + t.Name() + fmt.Sprint(time.Now().UnixNano()) + ":\n\t\t}"
			}
			g := startJuspayLimits(t, extra, keysDir)
			const flood = 120
			var mu sync.Mutex
			statuses := map[int]int{}
			var wg sync.WaitGroup
			next := make(chan int)
			for w := 0; w < 6; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range next {
						form := "card_number=" + ctknCard(i) + "&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop_a"
						r := g.cardTokenize(juspayURL, form, fmt.Sprintf("203.0.%d.%d", i/250, i%250+1))
						if r.status == http.StatusTooManyRequests {
							tooMany(t, "A past its quota", r)
						}
						mu.Lock()
						statuses[r.status]++
						mu.Unlock()
					}
				}()
			}
			for i := 0; i < flood; i++ {
				next <- i
			}
			close(next)
			wg.Wait()
			if statuses[http.StatusOK] != 20 || statuses[http.StatusTooManyRequests] != flood-20 {
				t.Fatalf("A's flood: %v, want 20 × 200 (its quota) and the rest 429", statuses)
			}
			// B, from an address the flood never used, is unaffected.
			for i := 0; i < 5; i++ {
				r := g.cardTokenize(juspayURL, "card_number="+ctknCard(1000+i)+"&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop_b", "198.51.100.7")
				if r.status != http.StatusOK || !strings.HasPrefix(str(decode(t, r.body), "token"), "ctkn_") {
					t.Fatalf("B's /card/tokenize during A's flood: %d %s", r.status, r.body)
				}
			}
			// The gateway's own no-consent checkout is unaffected, and pays.
			nc := g.post(inboundURL+"/noconsent/checkout", jsonCT, checkoutJSON("5555555555554444"))
			if nc.status != http.StatusOK || !strings.HasPrefix(str(decode(t, nc.body), "card.number"), "tok_") {
				t.Fatalf("a no-consent checkout during A's flood: %d %s", nc.status, nc.body)
			}
			paid := g.post(outboundURL+"/payments", jsonCT, nc.body, "X-Tokengate-Api-Key", apiKeyA)
			if doc := decode(t, paid.body); paid.header.Get(InjectedHeader) != "card.number=pan;reason=no_consent" || str(doc, "card.number") != "5555555555554444" {
				t.Fatalf("paying the no-consent card during A's flood: %d %q", paid.status, paid.header.Get(InjectedHeader))
			}

			// tokenize=true: 4 per merchant per minute, then 429; B's
			// ctkn_ without consent still goes.
			for i := 0; i < 6; i++ {
				r := g.cardTokenize(juspayURL, "card_number="+ctknCard(2000+i)+"&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop_b&tokenize=true", fmt.Sprintf("192.0.2.%d", i+1))
				switch {
				case i < 4 && r.status != http.StatusOK:
					t.Fatalf("tokenize=true %d within the bound: %d %s", i+1, r.status, r.body)
				case i >= 4:
					tooMany(t, "tokenize=true past the bound", r)
				}
			}
			if r := g.cardTokenize(juspayURL, "card_number="+ctknCard(2004)+"&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop_b", "192.0.2.99"); r.status != http.StatusOK {
				t.Fatalf("tokenize=false past the tokenize=true bound: %d %s", r.status, r.body)
			}

			// One client past its rate on :9085 (burst 3, then one per 100 s:
			// so however slow the three calls, the fourth is past it) gets 429;
			// another client (by X-Forwarded-For, so by Caddy's client IP)
			// does not.
			const site = "http://localhost:9085"
			for i := 0; i < 3; i++ {
				if r := g.cardTokenize(site, "card_number="+ctknCard(3000+i)+"&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop_c", "203.0.113.50"); r.status != http.StatusOK {
					t.Fatalf("client call %d within its burst: %d %s", i+1, r.status, r.body)
				}
			}
			tooMany(t, "a client past its rate", g.cardTokenize(site, "merchant_id=shop_c", "203.0.113.50"))
			if r := g.cardTokenize(site, "card_number="+ctknCard(3010)+"&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop_c", "203.0.113.51"); r.status != http.StatusOK {
				t.Fatalf("another client: %d %s", r.status, r.body)
			}
			if log := g.log(); strings.Contains(log, "411111000") || strings.Contains(log, "5555555555554444") {
				t.Fatal("a card number reached the log")
			}
		})
	}
}

// TestJuspayStoredCardTokenCustomer is issue 15's item 13 through a real
// Caddy: a saved card's reference reissues a ctkn_ only for the customer
// it is saved for, with one answer for an unknown reference and for one
// saved for another customer, in seed 001's error shape.
func TestJuspayStoredCardTokenCustomer(t *testing.T) {
	dir := t.TempDir()
	g := startGatewaySites(t, "", defaultSites+`
:9084 {
	juspay_api {
		merchant shop jp_key tenant_a
		dev_keys `+dir+`
	}
}
`)
	serverPub, err := jwe.LoadPublicKey(filepath.Join(dir, "jwe-dev.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	merchantPriv, err := jwe.LoadPrivateKey(filepath.Join(dir, "merchant-shop.pem"))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(`{"cardNumber":"4111111111111111","expMonth":"09","expYear":"2030"}`)
	cardData, err := jwe.Encrypt(serverPub, "dev", plain)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, juspayURL+"/generateToken", strings.NewReader(
		`{"service":"NETWORK_TOKEN","cardData":"`+cardData+`","orderData":{"consentId":"c-1","customerId":"cust_a"},"shouldSendToken":true}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("jp_key", "")
	gen := g.do(req)
	var env struct{ Payload string }
	_ = json.Unmarshal([]byte(gen.body), &env)
	payload, err := jwe.Decrypt(merchantPriv, env.Payload)
	if gen.status != http.StatusOK || err != nil {
		t.Fatalf("generateToken: %d %v", gen.status, err)
	}
	var p struct{ CardReference string }
	_ = json.Unmarshal(payload, &p)

	tokenize := func(ref, customer string) reply {
		form := "stored_card_token=" + ref + "&card_security_code=456&merchant_id=shop"
		if customer != "" {
			form += "&customer_id=" + customer
		}
		return g.post(juspayURL+"/card/tokenize", "application/x-www-form-urlencoded", form)
	}
	answer := func(r reply) string {
		d := decode(t, r.body)
		if info, ok := d["error_info"].(map[string]any); ok {
			delete(info, "request_id")
		}
		return fmt.Sprint(r.status, d)
	}
	if r := tokenize(p.CardReference, ""); r.status != http.StatusBadRequest || !strings.Contains(r.body, `"field_name":"customer_id"`) {
		t.Fatalf("no customer named: %d %s", r.status, r.body)
	}
	unknown := tokenize("token_0000000000000000", "cust_a")
	apitest_shape := seedSample(t, "juspay/001_tokenize_response_400_invalid_exp_year.json")
	var want, got map[string]any
	_ = json.Unmarshal(apitest_shape, &want)
	_ = json.Unmarshal([]byte(unknown.body), &got)
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Fatalf("the unknown reference's answer lacks seed 001's %q: %s", k, unknown.body)
		}
	}
	if other := tokenize(p.CardReference, "cust_b"); unknown.status != http.StatusBadRequest || answer(other) != answer(unknown) {
		t.Fatalf("saved for another customer: %s; an unknown reference: %s", answer(other), answer(unknown))
	}
	ok := tokenize(p.CardReference, "cust_a")
	tok := str(decode(t, ok.body), "token")
	if ok.status != http.StatusOK || !strings.HasPrefix(tok, "ctkn_") {
		t.Fatalf("the card's own customer: %d %s", ok.status, ok.body)
	}
	rec, err := g.app().stack.Load().Records.Get(t.Context(), "tenant_a", tok)
	if _, has := rec.Metadata["juspay.customer:cust_a"]; err != nil || !has {
		t.Fatalf("the ctkn_ does not keep its customer: %v %v", err, rec.Metadata)
	}
}

// The limits' Caddyfile options adapt to their JSON fields, and bad values
// are refused naming the option.
func TestJuspayAPILimitsCaddyfile(t *testing.T) {
	adapt := func(block string) (string, error) {
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte("{\n\ttokengate {\n\t}\n}\n:8080 {\n\tjuspay_api {\n\t\tmerchant m k t\n"+block+"\n\t}\n}\n"), map[string]any{"filename": "Caddyfile"})
		return string(out), err
	}
	out, err := adapt("\t\tctkn_max_per_merchant 500\n\t\tclient_rate 2.5 7\n\t\ttokenize_true_rate 30")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ctkn_max_per_merchant":500`, `"client_rate":2.5`, `"client_burst":7`, `"tokenize_true_rate":30`} {
		if !strings.Contains(out, want) {
			t.Errorf("adapted JSON lacks %s: %s", want, out)
		}
	}
	for block, want := range map[string]string{
		"ctkn_max_per_merchant 0":   "ctkn_max_per_merchant",
		"ctkn_max_per_merchant x":   "ctkn_max_per_merchant",
		"tokenize_true_rate -1":     "tokenize_true_rate",
		"client_rate 0":             "client_rate",
		"client_rate NaN":           "client_rate",
		"client_rate 10 0":          "burst",
		"client_rate":               "wrong argument count",
		"client_rate 1 2 3":         "wrong argument count",
		"ctkn_max_per_merchant 1 2": "wrong argument count",
	} {
		if _, err := adapt("\t\t" + block); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Caddyfile:") {
			t.Errorf("%q: %v, want an error about %s with file:line", block, err, want)
		}
	}
	// Validate refuses a quota beyond the merchants' share of the pool.
	h := &JuspayAPI{Merchants: []JuspayMerchant{{ID: "m", APIKey: "k", Tenant: "t"}}, CardTokenTTL: caddy.Duration(time.Minute),
		JWEKeys: []JuspayJWEKey{{KID: "k"}}, CardTokensPerMerchant: 60_000}
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "ctkn_max_per_merchant") {
		t.Fatalf("a quota of 60000: %v", err)
	}
}
