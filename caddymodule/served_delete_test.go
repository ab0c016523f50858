package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/jwe"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// servedDeleteGateways runs fn against a gateway serving sites over the
// bolt vault and over PostgreSQL, each recording its audit trail in mem.
func servedDeleteGateways(t *testing.T, sites string, fn func(t *testing.T, g *gateway, mem *audit.Memory)) {
	t.Run("bolt", func(t *testing.T) {
		mem := &audit.Memory{}
		useRecorder(t, mem)
		fn(t, (&gateway{t: t}).start("", sites), mem)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := vaulttest.PostgresDatabase(t)
		mem := &audit.Memory{}
		useRecorder(t, mem)
		fn(t, (&gateway{t: t, vault: "vault postgres {\n\t\t\tdsn " + dsn + "\n\t\t}"}).start("", sites), mem)
	})
}

// checkErasureEntry checks that mem holds exactly one purge entry, for
// token, with reason api, the caller's API key id and the request's id.
func checkErasureEntry(t *testing.T, mem *audit.Memory, token, keyID string) {
	t.Helper()
	es := entriesOf(mem, audit.ActionPurge)
	if len(es) != 1 {
		t.Fatalf("%d purge entries, want 1: %+v", len(es), es)
	}
	e := es[0]
	if e.Outcome != audit.OutcomeOK || e.Tenant != "tenant_a" || e.Detail["reason"] != purge.ReasonAPI || e.APIKey != keyID ||
		!uuidRE.MatchString(e.RequestID) || len(e.Tokens) != 1 || e.Tokens[0] != (audit.TokenUse{Token: token, Became: "erased", Reason: purge.ReasonAPI}) {
		t.Fatalf("purge entry %+v; want the erasure of %s by %s, reason api", e, token, keyID)
	}
}

// TestBasisTheoryDeleteErases: through a real Caddy, Basis Theory's DELETE
// /network-tokens/{id} of a card the merchant also tokenized inbound (one
// record) erases the card: with the audit trail down it answers 503 and
// nothing changes (the card still pays once the trail is back); then the
// network token is DELETED at the builtin service, the record is gone from
// the backend vault, the gateway token no longer pays (unknown token), the
// id answers 404 to GET and to a second DELETE, one purge entry (reason
// api) holds the token and no card data, and
// tokengate_purged_records_total{reason="api"} counts it.
func TestBasisTheoryDeleteErases(t *testing.T) {
	servedDeleteGateways(t, btSites, func(t *testing.T, g *gateway, mem *audit.Memory) {
		bt := func(method, path, body string) reply {
			req, _ := http.NewRequest(method, btURL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("BT-API-KEY", "bt_key_all")
			return g.do(req)
		}
		checkout, token := tokenizeCard(t, g, visaPAN)
		created := bt("POST", "/network-tokens", `{"token_id":"`+token+`"}`)
		if created.status != http.StatusOK && created.status != http.StatusCreated || str(decode(t, created.body), "id") != token {
			t.Fatalf("create from the gateway token: %d %s", created.status, created.body)
		}
		revealed := bt("GET", "/network-tokens/"+token, "")
		dpan := str(decode(t, revealed.body), "data.number")
		rec, err := backendRecord(t, g, token)
		if err != nil || rec.Network.ID == "" || networkStatus(t, g, rec.Network.ID) != network.StatusActive {
			t.Fatalf("no active network token: %+v %v", rec.Network, err)
		}
		if !pays(t, g, checkout) {
			t.Fatal("the card does not pay before the delete")
		}

		mem.Err = errors.New("sink down")
		if r := bt("DELETE", "/network-tokens/"+token, ""); r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("delete with the audit trail down: %d %s; want 503 problem details", r.status, r.body)
		}
		mem.Err = nil
		if _, err := backendRecord(t, g, token); err != nil {
			t.Fatalf("a delete the audit trail could not record erased the record: %v", err)
		}
		if st := networkStatus(t, g, rec.Network.ID); st != network.StatusActive {
			t.Fatalf("a delete the audit trail could not record changed the network token: %s", st)
		}
		if !pays(t, g, checkout) {
			t.Fatal("the card stopped paying after a refused delete")
		}

		before := testutil.ToFloat64(purgedRecords.WithLabelValues(purge.ReasonAPI))
		if r := bt("DELETE", "/network-tokens/"+token, ""); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if _, err := backendRecord(t, g, token); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("the record is still in the backend vault: %v", err)
		}
		if st := networkStatus(t, g, rec.Network.ID); st != network.StatusDeleted {
			t.Fatalf("network token %s after the delete, want DELETED", st)
		}
		if pays(t, g, checkout) {
			t.Fatal("the gateway token still pays after the delete")
		}
		for _, r := range []reply{bt("GET", "/network-tokens/"+token, ""), bt("DELETE", "/network-tokens/"+token, ""),
			bt("POST", "/network-tokens/"+token+"/cryptogram", "")} {
			if r.status != http.StatusNotFound {
				t.Errorf("after the delete: %d %s; want 404", r.status, r.body)
			}
		}
		if got := testutil.ToFloat64(purgedRecords.WithLabelValues(purge.ReasonAPI)); got != before+1 {
			t.Errorf("purged_records_total{reason=api} went from %v to %v, want +1", before, got)
		}
		checkErasureEntry(t, mem, token, apiKeyHash("bt_key_all")[:12])
		assertNoCardData(t, mem.Entries(), []string{visaPAN, dpan, testCVV})
	})
}

// jpSites adds the Juspay API on :9084, with development keys in dir.
func jpSites(dir string) string {
	return defaultSites + `
:9084 {
	juspay_api {
		merchant shop jp_key tenant_a
		dev_keys ` + dir + `
	}
}
`
}

// jpSave saves pan for customer through generateToken and returns the
// card reference.
func jpSave(t *testing.T, g *gateway, dir, pan, customer string) string {
	t.Helper()
	serverPub, err := jwe.LoadPublicKey(filepath.Join(dir, "jwe-dev.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	merchantPriv, err := jwe.LoadPrivateKey(filepath.Join(dir, "merchant-shop.pem"))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(`{"cardNumber":"` + pan + `","expMonth":"03","expYear":"2030","cardSecurityCode":"` + testCVV + `"}`)
	cardData, err := jwe.Encrypt(serverPub, "dev", plain)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"service": "NETWORK_TOKEN", "cardData": cardData,
		"orderData": map[string]any{"consentId": "consent-1", "customerId": customer}})
	gen := jpCall(g, "/generateToken", string(body))
	var env struct{ Payload string }
	if gen.status != http.StatusOK || json.Unmarshal([]byte(gen.body), &env) != nil {
		t.Fatalf("generateToken: %d %s", gen.status, gen.body)
	}
	payload, err := jwe.Decrypt(merchantPriv, env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ CardReference string }
	_ = json.Unmarshal(payload, &p)
	return p.CardReference
}

func jpCall(g *gateway, path, body string) reply {
	req, _ := http.NewRequest(http.MethodPost, juspayURL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("jp_key", "")
	return g.do(req)
}

// TestJuspayDeleteErases: through a real Caddy, a card the merchant
// tokenized inbound and saved through Juspay's generateToken for two
// customers (one record): /v4/card/delete for one customer keeps the card
// (the other's /v4/card/get works, the gateway token pays); for the last
// customer with the audit trail down it answers 503 and nothing changes;
// then it erases the card: the network token DELETED, the record gone, the
// gateway token no longer pays, one purge entry (reason api) with no card
// data, and the answer is still Juspay's SUCCESS.
func TestJuspayDeleteErases(t *testing.T) {
	dir := t.TempDir()
	servedDeleteGateways(t, jpSites(dir), func(t *testing.T, g *gateway, mem *audit.Memory) {
		checkout, token := tokenizeCard(t, g, visaPAN)
		ref := jpSave(t, g, dir, visaPAN, "cust_1")
		if ref2 := jpSave(t, g, dir, visaPAN, "cust_2"); ref != token || ref2 != ref {
			t.Fatalf("one card, one record: token %s, references %s and %s", token, ref, ref2)
		}
		rec, err := backendRecord(t, g, token)
		if err != nil || rec.Network.ID == "" {
			t.Fatalf("saved card: %+v %v", rec.Network, err)
		}
		del := func(customer string) reply {
			return jpCall(g, "/v4/card/delete", `{"card_reference":"`+ref+`","customer_id":"`+customer+`"}`)
		}
		get := func(customer string) reply {
			return jpCall(g, "/v4/card/get", `{"card_reference":"`+ref+`","customer_id":"`+customer+`"}`)
		}
		if r := del("cust_1"); r.status != http.StatusOK || str(decode(t, r.body), "status") != "SUCCESS" {
			t.Fatalf("delete for one of two customers: %d %s", r.status, r.body)
		}
		if r := get("cust_1"); r.status == http.StatusOK {
			t.Fatalf("card/get for the customer who deleted it: %d %s", r.status, r.body)
		}
		if r := get("cust_2"); r.status != http.StatusOK {
			t.Fatalf("card/get for the customer who still has it: %d %s", r.status, r.body)
		}
		if st := networkStatus(t, g, rec.Network.ID); st != network.StatusActive || !pays(t, g, checkout) {
			t.Fatalf("after one of two customers deleted it: network token %s, or the card no longer pays", st)
		}
		if n := len(entriesOf(mem, audit.ActionPurge)); n != 0 {
			t.Fatalf("%d purge entries for a card kept", n)
		}

		mem.Err = errors.New("sink down")
		if r := del("cust_2"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("the last customer's delete with the audit trail down: %d %s; want 503", r.status, r.body)
		}
		mem.Err = nil
		if st := networkStatus(t, g, rec.Network.ID); st != network.StatusActive || !pays(t, g, checkout) {
			t.Fatalf("after a refused delete: network token %s, or the card no longer pays", st)
		}
		if r := get("cust_2"); r.status != http.StatusOK {
			t.Fatalf("card/get after a refused delete: %d %s", r.status, r.body)
		}

		if r := del("cust_2"); r.status != http.StatusOK || str(decode(t, r.body), "status") != "SUCCESS" {
			t.Fatalf("the last customer's delete: %d %s", r.status, r.body)
		}
		if _, err := backendRecord(t, g, token); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("the record is still in the backend vault: %v", err)
		}
		if st := networkStatus(t, g, rec.Network.ID); st != network.StatusDeleted {
			t.Fatalf("network token %s after the last delete, want DELETED", st)
		}
		if pays(t, g, checkout) {
			t.Fatal("the gateway token of the deleted card still pays")
		}
		if r := get("cust_2"); r.status == http.StatusOK {
			t.Fatalf("card/get after the last delete: %d %s", r.status, r.body)
		}
		checkErasureEntry(t, mem, token, apiKeyHash("jp_key")[:12])
		assertNoCardData(t, mem.Entries(), []string{visaPAN, testCVV})
	})
}
