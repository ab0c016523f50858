package caddymodule

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/apitest"
)

const btURL = "http://localhost:9085"

// btSites adds the Basis Theory API on :9085 to the default test sites.
const btSites = defaultSites + `
:9085 {
	basistheory_api {
		api_key bt_key_all tenant_a network-token:create network-token:read network-token:reveal network-token:cryptogram network-token:suspend network-token:resume network-token:delete
		api_key bt_key_read tenant_a network-token:read
	}
}
`

func seedSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../apitest/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBasisTheoryAPISeed sends the seed's sample requests, as written, to a
// real Caddy and checks every answer against the seed's samples, key by key
// and type by type; then a card tokenized by the gateway inbound becomes a
// network token through token_id, and the API's cryptogram matches what
// the outbound side would use.
func TestBasisTheoryAPISeed(t *testing.T) {
	g := startGatewaySites(t, "", btSites)
	bt := func(method, path, key, body string) reply {
		req, _ := http.NewRequest(method, btURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("BT-API-KEY", key)
		return g.do(req)
	}
	// Optional in our answers: token_id and token_intent_id (only when the
	// token was created from one), and what tokengate has no BIN data for
	// (null, as Basis Theory answers for a BIN it does not know).
	unknown := []string{"token_id", "token_intent_id", "network_token.funding", "network_token.issuer.country",
		"network_token.issuer.name", "network_token.issuer_country", "network_token.segment"}

	created := bt("POST", "/network-tokens", "bt_key_all", string(seedSample(t, "basistheory/create_request_data.json")))
	if created.status != http.StatusCreated {
		t.Fatalf("create from the seed's raw card data: %d %s", created.status, created.body)
	}
	apitest.SameShape(t, "create", seedSample(t, "basistheory/network_token.json"), []byte(created.body), unknown...)
	var obj struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal([]byte(created.body), &obj)

	got := bt("GET", "/network-tokens/"+obj.ID, "bt_key_read", "")
	apitest.SameShape(t, "get", seedSample(t, "basistheory/network_token_get.json"), []byte(got.body), unknown...)
	if strings.Contains(got.body, "4111111111111111") {
		t.Fatal("the answer holds the card number")
	}
	crypt := bt("POST", "/network-tokens/"+obj.ID+"/cryptogram", "bt_key_all", "")
	apitest.SameShape(t, "cryptogram", seedSample(t, "basistheory/cryptogram.json"), []byte(crypt.body))
	if r := bt("DELETE", "/network-tokens/"+obj.ID, "bt_key_all", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}

	// The seed's token_id sample names a token this tenant does not hold:
	// 404, in problem details.
	missing := bt("POST", "/network-tokens", "bt_key_all", string(seedSample(t, "basistheory/create_request_token_id.json")))
	intent := bt("POST", "/network-tokens", "bt_key_all", string(seedSample(t, "basistheory/create_request_token_intent_id.json")))
	if missing.status != http.StatusNotFound || intent.status != http.StatusBadRequest || !strings.Contains(intent.body, `"token_intent_id"`) {
		t.Fatalf("token_id %d %s; token_intent_id %d %s", missing.status, missing.body, intent.status, intent.body)
	}

	// A card the gateway tokenized inbound becomes a network token by its
	// tokengate token; the record is the same, so outbound and the API agree.
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("5555555555554444"))
	token := str(decode(t, in.body), "card.number")
	fromToken := bt("POST", "/network-tokens", "bt_key_all", `{"token_id":"`+token+`"}`)
	if fromToken.status != http.StatusOK || str(decode(t, fromToken.body), "id") != token || str(decode(t, fromToken.body), "token_id") != token {
		t.Fatalf("from the gateway's token: %d %s", fromToken.status, fromToken.body)
	}
	apitest.SameShape(t, "create from token_id", seedSample(t, "basistheory/network_token.json"), []byte(fromToken.body), unknown...)
	if strings.Contains(g.log(), "4111111111111111") || strings.Contains(g.log(), "5555555555554444") {
		t.Fatal("a card number reached the log")
	}
}
