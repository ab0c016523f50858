package juspayapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/apitest"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/juspayapi"
	"github.com/tokengate/tokengate/vault"
)

const (
	apiKey      = "jp_api_key"
	otherAPIKey = "jp_other_key"
	kid         = "2218168c-ee6b-49d7-a851-8b94e7d0068d"
)

var (
	rsaOnce                 sync.Once
	serverKey, merchantKey_ *rsa.PrivateKey
)

// keysForTests makes the two RSA-2048 key pairs once per test binary.
func keysForTests(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		if serverKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if merchantKey_, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return serverKey, merchantKey_
}

type api struct {
	st         *apitest.Stack
	shortLived *vault.ShortLived
	cvvs       *cvvmem.Store
	t          testing.TB
	srv        *httptest.Server
	server     *rsa.PrivateKey
	merchant   *rsa.PrivateKey
}

func newAPI(t testing.TB, configure ...func(*juspayapi.Server)) *api {
	t.Helper()
	sk, mk := keysForTests(t)
	st := apitest.NewStack(t)
	merchants := map[string]juspayapi.Merchant{
		apiKey:      {ID: "shop", Tenant: "acme", Keys: map[string]*rsa.PublicKey{"key_1": &mk.PublicKey}},
		otherAPIKey: {ID: "other", Tenant: "other", Keys: map[string]*rsa.PublicKey{"key_1": &mk.PublicKey}},
	}
	s := &juspayapi.Server{
		Tokenizer: st.Tokenizer, Vault: st.Vault, Keys: st.Keys, Lifecycle: st.Lifecycle,
		Authenticate: func(k string) (juspayapi.Merchant, bool) { m, ok := merchants[k]; return m, ok },
		MerchantByID: func(id string) (juspayapi.Merchant, bool) {
			for _, m := range merchants {
				if m.ID == id {
					return m, true
				}
			}
			return juspayapi.Merchant{}, false
		},
		DecryptionKeys: map[string]*rsa.PrivateKey{kid: sk},
	}
	for _, c := range configure {
		c(s)
	}
	a := &api{st: st, t: t, srv: httptest.NewServer(s.Handler()), server: sk, merchant: mk, shortLived: st.Vault, cvvs: st.CVVs}
	t.Cleanup(a.srv.Close)
	return a
}

type reply struct {
	status int
	body   string
}

func (a *api) do(method, path, key, body string) reply {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.SetBasicAuth(key, "")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b)}
}

// encryptCard makes cardData as Juspay's clients do: a compact JWE
// (RSA-OAEP-256, A128GCM, kid) of the card JSON, encoded once more as a JSON
// string when double is set (what Hyperswitch and Juspay's samples send).
func (a *api) encryptCard(plain string, double bool, keyID string) string {
	a.t.Helper()
	if double {
		b, _ := json.Marshal(plain)
		plain = string(b)
	}
	opts := (&jose.EncrypterOptions{}).WithHeader("kid", keyID)
	enc, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: &a.server.PublicKey}, opts)
	if err != nil {
		a.t.Fatal(err)
	}
	obj, err := enc.Encrypt([]byte(plain))
	if err != nil {
		a.t.Fatal(err)
	}
	s, _ := obj.CompactSerialize()
	return s
}

func generateBody(cardData, customer string) string {
	return `{"service":"NETWORK_TOKEN","cardData":"` + cardData + `","orderData":{"consentId":"c-1","customerId":"` + customer +
		`"},"audit":{"authRefNo":"test12324"},"shouldSendToken":true}`
}

// decryptPayload opens generateToken's payload with the merchant's key.
func (a *api) decryptPayload(body string) map[string]any {
	a.t.Helper()
	var env struct {
		Status  string `json:"status"`
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil || env.Status != "SUCCESS" {
		a.t.Fatalf("envelope: %v %s", err, body)
	}
	obj, err := jose.ParseEncrypted(env.Payload, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A128GCM})
	if err != nil {
		a.t.Fatal(err)
	}
	plain, err := obj.Decrypt(a.merchant)
	if err != nil {
		a.t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(plain, &out); err != nil {
		a.t.Fatal(err)
	}
	return out
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	return out
}

// The Hyperswitch path: generateToken (double-encoded and plain
// plaintexts, YY and YYYY years), the same card for the same customer gives
// the same cardReference, /v4/card/get gives the token and a fresh
// cryptogram, the status check, then delete.
func TestGenerateGetDelete(t *testing.T) {
	a := newAPI(t)
	const pan = "4111111111111111"
	card := `{"cardNumber":"` + pan + `","expMonth":"09","expYear":"2030","cardSecurityCode":"123","nameOnCard":"Rohit Singh"}`
	r := a.do("POST", "/generateToken", apiKey, generateBody(a.encryptCard(card, true, kid), "cth_1"))
	if r.status != 200 || strings.Contains(r.body, pan) {
		t.Fatalf("generateToken: %d %s", r.status, r.body)
	}
	p := a.decryptPayload(r.body)
	for _, k := range []string{"cardBrand", "cardReference", "correlationId", "customerId", "par", "token", "tokenExpiryMonth", "tokenExpiryYear", "tokenIsin", "tokenLastFour", "tokenStatus"} {
		if v, ok := p[k].(string); !ok || v == "" {
			t.Errorf("payload %s = %v: Hyperswitch requires a non-empty string", k, p[k])
		}
	}
	if p["cardBrand"] != "VISA" || p["tokenStatus"] != "ACTIVE" || p["token"] == pan || len(p["token"].(string)) != 16 || p["customerId"] != "cth_1" {
		t.Fatalf("payload: %v", p["cardBrand"])
	}
	ref := p["cardReference"].(string)

	plainYY := `{"CardNumber":"` + pan + `","ExpMonth":"09","ExpYear":"30"}` // the docs' PascalCase and YY
	again := a.decryptPayload(a.do("POST", "/generateToken", apiKey, generateBody(a.encryptCard(plainYY, false, kid), "cth_1")).body)
	if again["cardReference"] != ref || again["token"] != p["token"] {
		t.Fatal("the same card for the same customer got another cardReference or token")
	}

	get := func(customer string) reply {
		return a.do("POST", "/v4/card/get", apiKey, `{"card_reference":"`+ref+`","customer_id":"`+customer+`","submerchantId":"airline1"}`)
	}
	g1, g2 := get("cth_1"), get("cth_1")
	d1, d2 := decode(t, g1.body), decode(t, g2.body)
	auth1 := d1["authentication_details"].(map[string]any)
	if g1.status != 200 || auth1["token"] != p["token"] || auth1["cryptogram"] == d2["authentication_details"].(map[string]any)["cryptogram"] ||
		d1["eci"] != "07" || d1["network"] != "VISA" || d1["name_on_card"] != "Rohit Singh" || strings.Contains(g1.body, pan) {
		t.Fatalf("card/get: %d %s", g1.status, g1.body)
	}
	if r := get("cth_2"); r.status != 400 || decode(t, r.body)["user_message"] != "Stored Card Entry Not Found" {
		t.Fatalf("another customer's card: %d %s", r.status, r.body)
	}
	if r := a.do("POST", "/v4/card/get", otherAPIKey, `{"card_reference":"`+ref+`","customer_id":"cth_1"}`); r.status != 400 || decode(t, r.body)["user_message"] != "Stored Card Entry Not Found" {
		t.Fatalf("another merchant's tenant: %d %s", r.status, r.body)
	}

	st := a.do("POST", "/v4/card/status", apiKey, `{"card_reference":"`+ref+`","customer_id":"cth_1"}`)
	if st.status != 200 || decode(t, st.body)["payload"].(map[string]any)["tokenStatus"] != "ACTIVE" {
		t.Fatalf("status: %d %s", st.status, st.body)
	}
	list := a.do("GET", "/cards?customer_id=cth_1", apiKey, "")
	cards := decode(t, list.body)["cards"].([]any)
	if list.status != 200 || len(cards) != 1 || strings.Contains(list.body, pan) {
		t.Fatalf("cards: %d %s", list.status, list.body)
	}
	// Saved for a second customer too: deleting it for one keeps it for
	// the other; deleting it for the last erases the card and deletes its
	// network token.
	second := a.decryptPayload(a.do("POST", "/generateToken", apiKey, generateBody(a.encryptCard(card, true, kid), "cth_2")).body)
	if second["cardReference"] != ref {
		t.Fatalf("the same card for another customer: %v", second["cardReference"])
	}
	del := func(customer string) reply {
		return a.do("POST", "/v4/card/delete", apiKey, `{"card_reference":"`+ref+`","customer_id":"`+customer+`"}`)
	}
	if r := del("cth_1"); r.status != 200 || r.body != "{\"status\":\"SUCCESS\"}\n" {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := get("cth_1"); r.status != 400 {
		t.Fatalf("get after delete: %d %s", r.status, r.body)
	}
	if r := get("cth_2"); r.status != 200 {
		t.Fatalf("the other customer's get after the first's delete: %d %s", r.status, r.body)
	}
	rec, err := a.st.Bolt.Get(context.Background(), "acme", ref)
	if err != nil || rec.Network.Status != "ACTIVE" {
		t.Fatalf("the card after one of two customers deleted it: %+v %v", rec.Network, err)
	}
	if r := del("cth_2"); r.status != 200 || r.body != "{\"status\":\"SUCCESS\"}\n" {
		t.Fatalf("the last customer's delete: %d %s", r.status, r.body)
	}
	if _, err := a.st.Bolt.Get(context.Background(), "acme", ref); err == nil {
		t.Fatal("the record is still in the vault after the last customer's delete")
	}
	if nt, err := a.st.Builtin.Get(context.Background(), rec.Network.ID); err != nil || nt.Status != "DELETED" {
		t.Fatalf("network token after the last delete: %+v %v", nt.Status, err)
	}
	if r := del("cth_2"); r.status != 400 {
		t.Fatalf("delete again: %d %s", r.status, r.body)
	}
}

// Bad input gets Juspay's error shapes, never a 500, and never the card.
func TestGenerateErrors(t *testing.T) {
	a := newAPI(t)
	good := `{"cardNumber":"4111111111111111","expMonth":"09","expYear":"2030"}`
	for _, tc := range []struct {
		name, body, field string
	}{
		{"not a JWE", generateBody("not-a-jwe", "c"), "cardData"},
		{"unknown kid", generateBody(a.encryptCard(good, true, "other-kid"), "c"), "cardData"},
		{"plaintext not JSON", generateBody(a.encryptCard("4111111111111111", false, kid), "c"), "cardData"},
		{"Luhn", generateBody(a.encryptCard(`{"cardNumber":"4111111111111112","expMonth":"09","expYear":"2030"}`, true, kid), "c"), "cardData.cardNumber"},
		{"month", generateBody(a.encryptCard(`{"cardNumber":"4111111111111111","expMonth":"13","expYear":"2030"}`, true, kid), "c"), "cardData.expMonth"},
		{"missing year", generateBody(a.encryptCard(`{"cardNumber":"4111111111111111","expMonth":"09"}`, true, kid), "c"), "cardData.expYear"},
		{"no customer", `{"service":"NETWORK_TOKEN","cardData":"x","orderData":{"consentId":"c"}}`, "orderData.customerId"},
		{"no consent", `{"service":"NETWORK_TOKEN","cardData":"x","orderData":{"customerId":"c"}}`, "orderData.consentId"},
		{"Amex without audit", `{"service":"NETWORK_TOKEN","cardData":"` + a.encryptCard(`{"cardNumber":"378282246310005","expMonth":"09","expYear":"2030"}`, true, kid) + `","orderData":{"consentId":"c","customerId":"c"}}`, "audit"},
		{"duplicate member", `{"cardData":"a","cardData":"b"}`, "cardData"},
	} {
		r := a.do("POST", "/generateToken", apiKey, tc.body)
		d := decode(t, r.body)
		info, _ := d["error_info"].(map[string]any)
		fields, _ := info["fields"].([]any)
		if r.status != 400 || len(fields) != 1 || fields[0].(map[string]any)["field_name"] != tc.field || d["status"] != "error" {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, r.status, r.body, tc.field)
		}
		if strings.Contains(r.body, "4111111111111112") || strings.Contains(r.body, "378282246310005") {
			t.Errorf("%s: the answer echoes the card number", tc.name)
		}
	}
	if r := a.do("POST", "/generateToken", "", generateBody("x", "c")); r.status != 401 || decode(t, r.body)["error_code"] != "access_denied" {
		t.Fatalf("no auth: %d %s", r.status, r.body)
	}
	// A test card the network refuses: SUCCESS is not claimed.
	r := a.do("POST", "/generateToken", apiKey, generateBody(a.encryptCard(`{"cardNumber":"4539097887163333","expMonth":"09","expYear":"2030"}`, true, kid), "c"))
	if d := decode(t, r.body); r.status != 200 || d["status"] != "FAILURE" || d["errorCode"] != "CARD_NOT_ELIGIBLE" || d["payload"] != nil {
		t.Fatalf("not eligible: %d %s", r.status, r.body)
	}
}

func TestCardBin(t *testing.T) {
	a := newAPI(t)
	r := a.do("GET", "/cardbins/411111", apiKey, "")
	d := decode(t, r.body)
	if r.status != 200 || d["brand"] != "VISA" || d["tokenize_support"] != true || d["object"] != "cardbin" {
		t.Fatalf("cardbin: %d %s", r.status, r.body)
	}
	if r := a.do("GET", "/cardbins/12", apiKey, ""); r.status != 400 {
		t.Fatalf("short bin: %d", r.status)
	}
}

func (a *api) form(body string) reply {
	a.t.Helper()
	req, _ := http.NewRequest("POST", a.srv.URL+"/card/tokenize", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("x-routing-id", "customer_1122")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b)}
}

// /card/tokenize answers seed 001's errors field by field (the field, the
// error_code, the reason), and a ctkn_ token that holds the card and the CVV
// in memory only.
func TestCardTokenize(t *testing.T) {
	a := newAPI(t)
	for _, tc := range []struct {
		name, body, field, code string
	}{
		{"month", "card_number=4111111111111111&card_exp_year=2030&card_exp_month=13&card_security_code=123&merchant_id=shop", "card_exp_month", "invalidRange"},
		{"year", "card_number=4111111111111111&card_exp_year=2015&card_exp_month=07&card_security_code=123&merchant_id=shop", "card_exp_year", "invalid"},
		{"missing cvv", "card_number=4111111111111111&card_exp_year=2030&card_exp_month=07&merchant_id=shop", "card_security_code", "nullable"},
		{"Luhn", "card_number=4111111111111112&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop", "card_number", "invalid"},
		{"unknown merchant", "card_number=4111111111111111&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=nope", "merchant_id", "invalid"},
		{"repeated field", "card_number=4111111111111111&card_number=5555555555554444&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop", "card_number", "invalid"},
	} {
		r := a.form(tc.body)
		d := decode(t, r.body)
		info, _ := d["error_info"].(map[string]any)
		fields, _ := info["fields"].([]any)
		if r.status != 400 || d["error_code"] != tc.code || len(fields) != 1 || fields[0].(map[string]any)["field_name"] != tc.field ||
			strings.Contains(r.body, "411111111111111") {
			t.Errorf("%s: %d %s, want 400 %s on %s", tc.name, r.status, r.body, tc.code, tc.field)
		}
	}
	r := a.form("card_number=4111111111111111&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop&name_on_card=Ada")
	tok, _ := decode(t, r.body)["token"].(string)
	if r.status != 200 || !strings.HasPrefix(tok, "ctkn_") {
		t.Fatalf("tokenize: %d %s", r.status, r.body)
	}
	rec, err := a.shortLived.Get(t.Context(), "acme", tok)
	if err != nil || rec.Last4 != "1111" || rec.Network.ID != "" {
		t.Fatalf("the ctkn_ record: %v", err)
	}
	if _, err := a.shortLived.Vault.Get(t.Context(), "acme", tok); err == nil {
		t.Fatal("a ctkn_ token was written to the vault")
	}
	if cvv, ok, _ := a.cvvs.TakeCVV(t.Context(), "acme", tok); !ok || cvv != "123" {
		t.Fatal("the CVV is not held with the ctkn_ token")
	}

	// tokenize=true: the customer consented; the card is kept and gets a
	// network token, and the ctkn_ token serves this payment.
	r = a.form("card_number=5555555555554444&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop&tokenize=true")
	tok, _ = decode(t, r.body)["token"].(string)
	rec, err = a.shortLived.Get(t.Context(), "acme", tok)
	if r.status != 200 || err != nil || rec.Network.ID == "" {
		t.Fatalf("tokenize=true: %d %s", r.status, r.body)
	}
	if saved, err := a.shortLived.Vault.GetByFingerprint(t.Context(), "acme", rec.Fingerprint); err != nil || saved.Network.ID != rec.Network.ID {
		t.Fatalf("tokenize=true did not keep the card: %v", err)
	}
	if r := a.form("card_number=5555555555554444&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop&tokenize=maybe"); r.status != 400 {
		t.Fatalf("tokenize=maybe: %d", r.status)
	}
}

// FuzzGenerateToken: whatever a client encrypts as cardData, and whatever
// body it sends, the API answers without a 500 or a panic.
func FuzzGenerateToken(f *testing.F) {
	f.Add(`{"cardNumber":"4111111111111111","expMonth":"09","expYear":"2030"}`, true, `{"service":"NETWORK_TOKEN"}`)
	f.Add(`"{\"cardNumber\":1}"`, false, `{"orderData":[]}`)
	f.Add(`null`, false, `{"cardData":5}`)
	a := newAPI(f)
	f.Fuzz(func(t *testing.T, plain string, double bool, raw string) {
		a.t = t
		if r := a.do("POST", "/generateToken", apiKey, generateBody(a.encryptCard(plain, double, kid), "c")); r.status >= 500 {
			t.Fatalf("cardData: %d %s", r.status, r.body)
		}
		if r := a.do("POST", "/generateToken", apiKey, raw); r.status >= 500 {
			t.Fatalf("body: %d %s", r.status, r.body)
		}
	})
}

// Names the caller chose never come back when they are card numbers, and a
// ctkn_ cannot renew itself through stored_card_token.
func TestNoEchoAndNoRenewal(t *testing.T) {
	a := newAPI(t)
	for _, r := range []reply{
		a.do("POST", "/generateToken", apiKey, `{"4111111111111111":1,"4111111111111111":2}`),
		a.form("4111111111111111=1&4111111111111111=2&merchant_id=shop"),
	} {
		if r.status != 400 || strings.Contains(r.body, "4111111111111111") {
			t.Errorf("%d %s", r.status, r.body)
		}
	}
	ctkn, _ := decode(t, a.form("card_number=4111111111111111&card_exp_year=2030&card_exp_month=07&card_security_code=123&merchant_id=shop").body)["token"].(string)
	if r := a.form("stored_card_token=" + ctkn + "&card_security_code=123&merchant_id=shop"); r.status != 400 {
		t.Fatalf("a ctkn_ renewed itself: %d %s", r.status, r.body)
	}
}
