package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/tokengate/tokengate/demopsp" // Caddyfile.example's demo PSP
)

// TestQuickStart runs the repository's Caddyfile.example, as the README's
// quick start does, and makes the README's requests against it. Only the
// ports (the test's own, so that it runs beside a user's quick start) and
// the data directory change: see quickStartConfig.
func TestQuickStart(t *testing.T) {
	g := &gateway{t: t}
	g.load(g.quickStartConfig(""))

	in := g.post("http://localhost:8080/checkout", jsonCT, `{"card":{"number":"4111111111111111","exp_month":"03","exp_year":"2030","cvc":"123"}}`)
	if in.status != http.StatusOK || strings.Contains(in.body, visaPAN) || strings.Contains(in.body, `"123"`) {
		t.Fatalf("merchant got %d %s", in.status, in.body)
	}
	token := str(decode(t, in.body), "card.number")
	out := g.post("http://localhost:8081/payments", jsonCT, in.body, "X-Tokengate-Api-Key", "demo_merchant_key")
	if out.header.Get(InjectedHeader) != "card.number=network_token" {
		t.Fatalf("injected header %q", out.header.Get(InjectedHeader))
	}
	// The merchant sees the PSP's echo redacted: the network token masked
	// to its first six and last four digits, a masked cryptogram.
	echo := decode(t, out.body)
	// The README's look at what the PSP received.
	psp := decode(t, lastReceived(t, g, "http://localhost:8082/received"))
	if str(echo, "card.number") != masked(str(psp, "card.number")) || str(echo, "card.cryptogram") != "***" || str(echo, "card.eci") != "07" || strings.Contains(out.body, token) {
		t.Fatalf("merchant got the echo %s", out.body)
	}
	assertNetworkToken(t, str(psp, "card.number"), visaPAN)
	if len(str(psp, "card.cryptogram")) != 28 || str(psp, "card.eci") != "07" || str(psp, "card.exp_year") == "" {
		t.Fatal("the PSP did not receive a network token, cryptogram, ECI and expiry")
	}

	in = g.post("http://localhost:8080/checkout", formCT, "card_number=4111111111111111&card_exp_month=03&card_exp_year=2030&card_cvc=123")
	form, _ := url.ParseQuery(in.body)
	if !strings.HasPrefix(form.Get("card_number"), "tok_") || form.Has("card_cvc") {
		t.Fatalf("merchant got form %s", in.body)
	}
	out = g.post("http://localhost:8081/payments", formCT, in.body, "X-Tokengate-Api-Key", "demo_merchant_key")
	pspForm, _ := url.ParseQuery(lastReceived(t, g, "http://localhost:8082/received"))
	if echo, _ := url.ParseQuery(out.body); echo.Get("card_number") != masked(pspForm.Get("card_number")) || echo.Get("card_cryptogram") != "***" {
		t.Fatalf("merchant got the echo %s", out.body)
	}
	assertNetworkToken(t, pspForm.Get("card_number"), visaPAN)
	if len(pspForm.Get("card_cryptogram")) != 28 {
		t.Fatalf("PSP got form %s", out.body)
	}

	// A card sent without consent to keep it (card.save=false): a
	// short-lived token that pays through the PAN fallback, and no network
	// token.
	noSave := g.post("http://localhost:8080/checkout", jsonCT, `{"card":{"number":"378282246310005","exp_month":"03","exp_year":"2030","cvc":"1234","save":false}}`)
	paidOnce := g.post("http://localhost:8081/payments", jsonCT, noSave.body, "X-Tokengate-Api-Key", "demo_merchant_key")
	if paidOnce.header.Get(InjectedHeader) != "card.number=pan;reason=no_consent" || strings.Contains(noSave.body, "378282246310005") {
		t.Fatalf("a card without consent: %s %q", noSave.body, paidOnce.header.Get(InjectedHeader))
	}

	// The README's "Already on Basis Theory?" calls.
	bt := func(method, path, body string) reply {
		req, _ := http.NewRequest(method, "http://localhost:8083"+path, strings.NewReader(body))
		req.Header.Set("BT-API-KEY", "demo_bt_key")
		req.Header.Set("Content-Type", "application/json")
		return g.do(req)
	}
	nt := bt("POST", "/network-tokens", `{"data":{"number":"4111111111111111","expiration_month":"03","expiration_year":"2030","cvc":"123"},"cardholder_info":{"name":"Jonh Doe"}}`)
	id := str(decode(t, nt.body), "id")
	if nt.status/100 != 2 || id == "" || str(decode(t, nt.body), "status") != "active" {
		t.Fatalf("Basis Theory create: %d %s", nt.status, nt.body)
	}
	if c := bt("POST", "/network-tokens/"+id+"/cryptogram", ""); c.status != 200 || str(decode(t, c.body), "eci") != "07" {
		t.Fatalf("Basis Theory cryptogram: %d %s", c.status, c.body)
	}
	if r := bt("POST", "/network-tokens", `{"data":{"number":"4539097887163333","expiration_month":3,"expiration_year":2030}}`); r.status != 422 || str(decode(t, r.body), "title") != "CARD_NOT_ELIGIBLE" {
		t.Fatalf("Basis Theory test card: %d %s", r.status, r.body)
	}

	// The README's "Already on Juspay?" calls, with the commands it shows.
	keys := filepath.Join(g.dir, "juspay-dev-keys")
	var plain bytes.Buffer
	if _, err := jweCommand("jwe-encrypt", "", filepath.Join(keys, "jwe-dev.pub.pem"), "dev",
		strings.NewReader(`"{\"cardNumber\":\"5555555555554444\",\"expMonth\":\"12\",\"expYear\":\"2031\"}"`), &plain); err != nil {
		t.Fatal(err)
	}
	jp := func(path, body string) reply {
		req, _ := http.NewRequest(http.MethodPost, "http://localhost:8084"+path, strings.NewReader(body))
		req.SetBasicAuth("demo_juspay_key", "")
		req.Header.Set("Content-Type", "application/json")
		return g.do(req)
	}
	gen := jp("/generateToken", `{"service":"NETWORK_TOKEN","cardData":"`+strings.TrimSpace(plain.String())+`","orderData":{"consentId":"consent-1","customerId":"cust_1"},"shouldSendToken":true}`)
	var payload bytes.Buffer
	if _, err := jweCommand("jwe-decrypt", filepath.Join(keys, "merchant-demo_merchant.pem"), "", "",
		strings.NewReader(str(decode(t, gen.body), "payload")), &payload); err != nil {
		t.Fatalf("generateToken: %d %s (%v)", gen.status, gen.body, err)
	}
	ref := str(decode(t, payload.String()), "cardReference")

	// A ctkn_ card token from the browser (no API key), paid through the
	// gateway's outbound side: the PAN and the CVV go to the PSP, as the
	// rules' fallback allows for a card without a network token.
	req, _ := http.NewRequest(http.MethodPost, "http://localhost:8084/card/tokenize",
		strings.NewReader("card_number=4111111111111111&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=demo_merchant"))
	req.Header.Set("Content-Type", formCT)
	ctkn := str(decode(t, g.do(req).body), "token")
	paid := g.post("http://localhost:8081/payments", jsonCT, `{"card":{"number":"`+ctkn+`","exp_month":"07","exp_year":"2030"}}`, "X-Tokengate-Api-Key", "demo_merchant_key")
	if !strings.HasPrefix(ctkn, "ctkn_") || paid.header.Get(InjectedHeader) != "card.number=pan;reason=short_lived_card" {
		t.Fatalf("paying with a ctkn_ token: %d %s %q", paid.status, paid.body, paid.header.Get(InjectedHeader))
	}
	psp = decode(t, lastReceived(t, g, "http://localhost:8082/received"))
	if str(psp, "card.number") != "4111111111111111" || str(psp, "card.cvc") != "123" {
		t.Fatal("the PSP did not get the ctkn_ token's card and CVV")
	}
	got := jp("/v4/card/get", `{"card_reference":"`+ref+`","customer_id":"cust_1"}`)
	if got.status != 200 || str(decode(t, got.body), "network") != "MASTERCARD" || len(str(decode(t, got.body), "authentication_details.cryptogram")) != 28 {
		t.Fatalf("card/get: %d %s", got.status, got.body)
	}
}

// lastReceived is the body of the last request the demo PSP received.
func lastReceived(t *testing.T, g *gateway, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	var received []struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal([]byte(g.do(req).body), &received); err != nil || len(received) == 0 {
		t.Fatalf("demo PSP received nothing (%v)", err)
	}
	return received[len(received)-1].Body
}
