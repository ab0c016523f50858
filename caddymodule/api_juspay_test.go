package caddymodule

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/apitest"
	"github.com/tokengate/tokengate/jwe"
)

const juspayURL = "http://localhost:9084"

// TestJuspayAPISeed sends the seeds' sample requests, with their
// placeholders filled (a real JWE for cardData, the card_reference the
// server gave), to a real Caddy, and checks every answer against the seeds'
// samples key by key and type by type: generateToken (envelope and
// decrypted payload, seed 000), /v4/card/get (seed 002), GET /cards and
// GET /cardbins (seed 004). The development keys are made by dev_keys.
func TestJuspayAPISeed(t *testing.T) {
	dir := t.TempDir()
	sites := defaultSites + `
:9084 {
	juspay_api {
		merchant shop jp_key tenant_a
		merchant myshop jp_key_myshop tenant_a
		dev_keys ` + dir + `
	}
}
`
	g := startGatewaySites(t, "", sites)
	jp := func(method, path, body string) reply {
		req, _ := http.NewRequest(method, juspayURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-routing-id", "juspaytest_cust")
		req.SetBasicAuth("jp_key", "")
		return g.do(req)
	}
	serverPub, err := jwe.LoadPublicKey(filepath.Join(dir, "jwe-dev.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	merchantPriv, err := jwe.LoadPrivateKey(filepath.Join(dir, "merchant-shop.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// cardData as Hyperswitch sends it: the card JSON, encoded once more as
	// a JSON string, in a JWE to the server's key.
	plain, _ := json.Marshal(`{"cardNumber":"4111111111111111","expMonth":"09","expYear":"2030","cardSecurityCode":"123"}`)
	cardData, err := jwe.Encrypt(serverPub, "dev", plain)
	if err != nil {
		t.Fatal(err)
	}
	var req map[string]any
	_ = json.Unmarshal(seedSample(t, "juspay/000_generate_token_request.json"), &req)
	req["cardData"] = cardData
	req["orderData"] = map[string]any{"consentId": "consent-1", "customerId": "juspaytest_cust"}
	body, _ := json.Marshal(req)
	gen := jp("POST", "/generateToken", string(body))
	if gen.status != http.StatusOK {
		t.Fatalf("generateToken: %d %s", gen.status, gen.body)
	}
	apitest.SameShape(t, "generateToken envelope", seedSample(t, "juspay/000_generate_token_response_encrypted.json"), []byte(gen.body))
	var env struct{ Payload string }
	_ = json.Unmarshal([]byte(gen.body), &env)
	payload, err := jwe.Decrypt(merchantPriv, env.Payload)
	if err != nil {
		t.Fatalf("the payload does not decrypt with the merchant's key: %v", err)
	}
	apitest.SameShape(t, "generateToken payload", seedSample(t, "juspay/000_generate_token_response_decrypted.json"), payload)
	var p struct{ CardReference, Token string }
	_ = json.Unmarshal(payload, &p)

	var get map[string]any
	_ = json.Unmarshal(seedSample(t, "juspay/002_fetch_token_request.json"), &get)
	get["card_reference"] = p.CardReference
	body, _ = json.Marshal(get)
	fetched := jp("POST", "/v4/card/get", string(body))
	if fetched.status != http.StatusOK || !strings.Contains(fetched.body, p.Token) {
		t.Fatalf("card/get: %d %s", fetched.status, fetched.body)
	}
	// What tokengate has no BIN database for is null (unknown), as the
	// seed's own sample has for some of these.
	apitest.SameShape(t, "card/get", seedSample(t, "juspay/002_fetch_token_response.json"), []byte(fetched.body),
		"card_type", "issuer")

	// Seed 002's error answers: an unknown reference (400) and a bad key (401).
	var notFound map[string]any
	if r := jp("POST", "/v4/card/get", string(seedSample(t, "juspay/002_fetch_token_request.json"))); r.status != http.StatusBadRequest ||
		json.Unmarshal([]byte(r.body), &notFound) != nil || notFound["error"] != true || notFound["user_message"] != "Stored Card Entry Not Found" || notFound["error_message"] != "Not Found" {
		t.Fatalf("seed 002's sample reference (unknown here): %d %s", r.status, r.body)
	}
	badKey, _ := http.NewRequest(http.MethodPost, juspayURL+"/v4/card/get", strings.NewReader(string(body)))
	badKey.SetBasicAuth("wrong", "")
	var denied map[string]any
	if r := g.do(badKey); r.status != http.StatusUnauthorized || json.Unmarshal([]byte(r.body), &denied) != nil || denied["status"] != "error" || denied["error_code"] != "access_denied" {
		t.Fatalf("a bad API key: %d %s", r.status, r.body)
	}

	cards := jp("GET", "/cards?customer_id=juspaytest_cust", "")
	if cards.status != http.StatusOK || strings.Count(cards.body, `"card_reference":"`+p.CardReference+`"`) != 2 {
		t.Fatalf("cards: %d %s", cards.status, cards.body)
	}
	apitest.SameShape(t, "cards", seedSample(t, "juspay/004_list_cards_response.json"), []byte(cards.body),
		"cards.card_type", "cards.card_issuer", "cards.juspay_bank_code", "cards.card_sub_type", "cards.card_issuer_country")
	bin := jp("GET", "/cardbins/541919", "")
	apitest.SameShape(t, "cardbins", seedSample(t, "juspay/004_card_info_response.json"), []byte(bin.body),
		"bank", "country", "type", "card_sub_type", "juspay_bank_code")

	if del := jp("POST", "/v4/card/delete", `{"card_reference":"`+p.CardReference+`","customer_id":"juspaytest_cust"}`); del.status != 200 || !strings.Contains(del.body, `"SUCCESS"`) {
		t.Fatalf("delete: %d %s", del.status, del.body)
	}
	// Seed 001's request as written (its card_exp_year 2015 has passed: the
	// seed's "Invalid Card Expiry Year" answer), then with the other
	// mistakes the seed shows, then valid.
	form := func(body string) reply {
		req, _ := http.NewRequest(http.MethodPost, juspayURL+"/card/tokenize", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("x-routing-id", "customer_1122")
		return g.do(req)
	}
	seed001 := "card_number=4111111111111111&card_exp_year=2015&card_exp_month=07&card_security_code=123&merchant_id=myshop&name_on_card=123"
	for _, tc := range []struct{ body, sample string }{
		{seed001, "juspay/001_tokenize_response_400_invalid_exp_year.json"},
		{strings.Replace(strings.Replace(seed001, "2015", "2030", 1), "_month=07", "_month=13", 1), "juspay/001_tokenize_response_400_invalid_exp_month.json"},
		{strings.Replace(strings.Replace(seed001, "2015", "2030", 1), "&card_security_code=123", "", 1), "juspay/001_tokenize_response_400_missing_param.json"},
		{strings.Replace(seed001, "2015", "2030", 1), "juspay/001_tokenize_response_200.json"},
	} {
		r := form(tc.body)
		apitest.SameShape(t, tc.sample, seedSample(t, tc.sample), []byte(r.body))
		var want, got struct {
			ErrorCode string `json:"error_code"`
			ErrorInfo struct {
				Fields []struct {
					FieldName string `json:"field_name"`
					Reason    string
				} `json:"fields"`
			} `json:"error_info"`
		}
		_ = json.Unmarshal(seedSample(t, tc.sample), &want)
		_ = json.Unmarshal([]byte(r.body), &got)
		if got.ErrorCode != want.ErrorCode || len(got.ErrorInfo.Fields) != len(want.ErrorInfo.Fields) ||
			len(want.ErrorInfo.Fields) > 0 && got.ErrorInfo.Fields[0] != want.ErrorInfo.Fields[0] {
			t.Errorf("%s: error_code %q fields %+v, want %q %+v", tc.sample, got.ErrorCode, got.ErrorInfo.Fields, want.ErrorCode, want.ErrorInfo.Fields)
		}
	}

	if strings.Contains(g.log(), "4111111111111111") || strings.Contains(g.log(), p.Token) {
		t.Fatal("a card number or network token reached the log")
	}
}
