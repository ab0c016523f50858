package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokengate/tokengate/jwe"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// tokenizeCard tokenizes pan through the inbound site and returns the
// merchant's body and the token.
func tokenizeCard(t *testing.T, g *gateway, pan string) (string, string) {
	t.Helper()
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(pan))
	if in.status != http.StatusOK {
		t.Fatalf("tokenize: %d %s", in.status, in.body)
	}
	return in.body, str(decode(t, in.body), "card.number")
}

// pays detokenizes the merchant's body and reports whether it paid; a
// refusal must be unknown_token.
func pays(t *testing.T, g *gateway, checkout string) bool {
	t.Helper()
	out := g.post(outboundURL+"/payments", jsonCT, checkout, "X-Tokengate-Api-Key", apiKeyA)
	switch {
	case out.status == http.StatusOK:
		return true
	case out.status == http.StatusForbidden && strings.Contains(out.body, "unknown_token"):
		return false
	}
	t.Fatalf("detokenize: %d %s", out.status, out.body)
	return false
}

// backendRecord reads a record from the backend under the stack (no cache).
func backendRecord(t *testing.T, g *gateway, token string) (vault.Record, error) {
	t.Helper()
	return g.app().opened.vault.Get(context.Background(), "tenant_a", token)
}

// setMetadata writes a Metadata entry into a record through the backend.
func setMetadata(t *testing.T, g *gateway, token, k, v string) {
	t.Helper()
	rec, err := backendRecord(t, g, token)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Metadata == nil {
		rec.Metadata = map[string]string{}
	}
	rec.Metadata[k] = v
	if _, err := g.app().opened.vault.Update(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	vault.Invalidate(g.app().stack.Load().Records, "tenant_a", token)
}

// networkStatus asks the builtin service for the network token's status.
func networkStatus(t *testing.T, g *gateway, id string) string {
	t.Helper()
	svc, _ := g.app().networks.Lookup("builtin")
	tok, err := svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Status
}

func retentionGateways(t *testing.T, run func(t *testing.T, g *gateway)) {
	global := "retention {\n\t\t\tdefault 365d\n\t\t\ttenant tenant_b 30d\n\t\t\tsweep_interval 200ms\n\t\t\trate 1000\n\t\t}"
	t.Run("bolt", func(t *testing.T) {
		g := &gateway{t: t}
		run(t, g.start(global, defaultSites))
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := vaulttest.PostgresDatabase(t)
		g := &gateway{t: t, vault: "vault postgres {\n\t\t\tdsn " + dsn + "\n\t\t}"}
		run(t, g.start(global, defaultSites))
	})
}

// TestRetentionErasesUnusedCard: a card used records the day; a card whose
// last use is past its tenant's period is erased by the sweep: its network
// token DELETED at the builtin service, its record gone, its token no
// longer pays; a card used today stays and pays.
func TestRetentionErasesUnusedCard(t *testing.T) {
	retentionGateways(t, func(t *testing.T, g *gateway) {
		oldBody, oldTok := tokenizeCard(t, g, visaPAN)
		newBody, newTok := tokenizeCard(t, g, "5555555555554444")
		if !pays(t, g, oldBody) || !pays(t, g, newBody) {
			t.Fatal("fresh cards do not pay")
		}
		rec, err := backendRecord(t, g, oldTok)
		if err != nil || vault.LastUsed(rec).IsZero() || rec.Metadata[vault.LastUsedKey] == "" {
			t.Fatalf("the use was not recorded: %v %v", rec.Metadata, err)
		}
		ntID := rec.Network.ID
		if ntID == "" || networkStatus(t, g, ntID) != network.StatusActive {
			t.Fatalf("no active network token: %+v", rec.Network)
		}
		before := testutil.ToFloat64(purgedRecords.WithLabelValues("retention"))
		setMetadata(t, g, oldTok, vault.LastUsedKey, "2020-01-01")
		// Counted once the erasure is complete (cache invalidated, held CVV
		// dropped): a payment racing the erasure itself may still go.
		waitFor(t, "the unused card erased", func() bool {
			return testutil.ToFloat64(purgedRecords.WithLabelValues("retention")) >= before+1
		})
		if _, err := backendRecord(t, g, oldTok); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("the record is still in the vault: %v", err)
		}
		if st := networkStatus(t, g, ntID); st != network.StatusDeleted {
			t.Fatalf("network token %s after retention, want DELETED", st)
		}
		if pays(t, g, oldBody) {
			_, err := backendRecord(t, g, oldTok)
			t.Fatalf("an erased card still pays (backend: %v)", err)
		}
		if !pays(t, g, newBody) {
			t.Fatal("a card used today was erased")
		}
		if _, err := backendRecord(t, g, newTok); err != nil {
			t.Fatal(err)
		}
	})
}

// failingDelete is a network service whose deletes fail (an outage).
type failingDelete struct{ network.Service }

func (f failingDelete) SetStatus(ctx context.Context, id, status string) error {
	if status == network.StatusDeleted {
		return errors.New("service unavailable")
	}
	return f.Service.SetStatus(ctx, id, status)
}

// TestPurgeKeepsCardWhenNetworkFails: a purge whose network token cannot be
// deleted keeps the card (it still pays), counts it, and exits non-zero; run
// again once the service is back, it erases the card.
func TestPurgeKeepsCardWhenNetworkFails(t *testing.T) {
	g := startGateway(t, "")
	body, tok := tokenizeCard(t, g, visaPAN)
	rec, _ := backendRecord(t, g, tok)
	builtin := g.app().networks["builtin"]
	g.app().networks["builtin"] = failingDelete{builtin}
	kept := testutil.ToFloat64(purgeKept.WithLabelValues("purge"))
	out, _, err := runTokengate(t, "purge", "--tenant", "tenant_a", "--tokens", tok, "--address", g.addr("localhost:2999"))
	if err == nil || !strings.Contains(out, "1 kept") {
		t.Fatalf("purge with the service down: %v\n%s", err, out)
	}
	if testutil.ToFloat64(purgeKept.WithLabelValues("purge")) != kept+1 {
		t.Fatal("the kept card was not counted")
	}
	if !pays(t, g, body) {
		t.Fatal("a kept card does not pay")
	}
	g.app().networks["builtin"] = builtin
	out, _, err = runTokengate(t, "purge", "--tenant", "tenant_a", "--tokens", tok, "--address", g.addr("localhost:2999"))
	if err != nil || !strings.Contains(out, "1 erased") {
		t.Fatalf("purge again: %v\n%s", err, out)
	}
	if pays(t, g, body) {
		t.Fatal("a purged card still pays")
	}
	if st := networkStatus(t, g, rec.Network.ID); st != network.StatusDeleted {
		t.Fatalf("network token %s", st)
	}
	if strings.Contains(out, visaPAN) || strings.Contains(g.log(), visaPAN) {
		t.Fatal("card data in the output or the log")
	}
}

// TestPurgeCommand: dry run erases nothing; by token list (a file), by
// Juspay customer (a card another customer saved too only loses this
// customer), and by tenant; every purged token answers unknown; the
// endpoint refuses bad requests naming the field.
func TestPurgeCommand(t *testing.T) {
	for _, backend := range []string{"bolt", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			g := &gateway{t: t}
			if backend == "postgres" {
				g.vault = "vault postgres {\n\t\t\tdsn " + vaulttest.PostgresDatabase(t) + "\n\t\t}"
			}
			g.start("", defaultSites)
			addr := g.addr("localhost:2999")
			pans := []string{visaPAN, "5555555555554444", "4012888888881881", "5105105105105100", "4000000000000002"}
			bodies, toks := make([]string, len(pans)), make([]string, len(pans))
			for i, p := range pans {
				bodies[i], toks[i] = tokenizeCard(t, g, p)
			}
			out, errOut, err := runTokengate(t, "purge", "--tenant", "tenant_a", "--dry-run", "--address", addr)
			if err != nil || !strings.Contains(out, "5 selected, 5 would be erased") || !strings.Contains(errOut, "records") {
				t.Fatalf("dry run: %v\n%s\n%s", err, out, errOut)
			}
			for i := range pans {
				if !pays(t, g, bodies[i]) {
					t.Fatal("a dry run erased a card")
				}
			}
			list := filepath.Join(t.TempDir(), "tokens.txt")
			if err := os.WriteFile(list, []byte(toks[0]+"\n"+"tok_nosuch\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			out, errOut, err = runTokengate(t, "purge", "--tenant", "tenant_a", "--tokens", list, "--address", addr)
			if err != nil || !strings.Contains(out, "1 selected, 1 erased") {
				t.Fatalf("by tokens: %v\n%s\n%s", err, out, errOut)
			}
			if pays(t, g, bodies[0]) || !pays(t, g, bodies[1]) {
				t.Fatal("by tokens: wrong cards erased")
			}

			setMetadata(t, g, toks[1], "juspay.customer:cust_1", "")
			setMetadata(t, g, toks[2], "juspay.customer:cust_1", "")
			setMetadata(t, g, toks[2], "juspay.customer:cust_2", "")
			out, _, err = runTokengate(t, "purge", "--tenant", "tenant_a", "--customer", "cust_1", "--address", addr)
			if err != nil || !strings.Contains(out, "2 selected, 1 erased") || !strings.Contains(out, "1 kept for another customer") {
				t.Fatalf("by customer: %v\n%s", err, out)
			}
			if pays(t, g, bodies[1]) || !pays(t, g, bodies[2]) {
				t.Fatal("by customer: wrong cards erased")
			}
			rec, err := backendRecord(t, g, toks[2])
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := rec.Metadata["juspay.customer:cust_1"]; ok {
				t.Fatal("the customer's mark stayed")
			}

			out, _, err = runTokengate(t, "purge", "--tenant", "tenant_a", "--address", addr)
			if err != nil || !strings.Contains(out, "3 selected, 3 erased") {
				t.Fatalf("by tenant: %v\n%s", err, out)
			}
			for i := range pans {
				if pays(t, g, bodies[i]) {
					t.Fatalf("card %d still pays after the tenant's purge", i)
				}
			}
			for _, args := range [][]string{
				{"purge", "--address", addr},
				{"purge", "--tenant", "tenant_a", "--customer", "c", "--tokens", "a,b", "--address", addr},
			} {
				if _, _, err := runTokengate(t, args...); err == nil {
					t.Fatalf("%v: accepted", args)
				}
			}
			r := g.do(mustRequest(t, http.MethodGet, g.addr("http://localhost:2999"+purgePath)))
			if r.status != http.StatusMethodNotAllowed {
				t.Fatalf("GET: %d", r.status)
			}
			// A body that does not say what to erase, or misspells it, erases
			// nothing (never the whole tenant).
			for _, body := range []string{`{"tenant":"tenant_b"}`, `{"tenant":"tenant_b","tokens":[]}`, `{"tenant":"tenant_b","token":["x"]}`,
				`{"tenant":"tenant_b","all":true,"customer":"c"}`} {
				r := g.post(g.addr("http://localhost:2999"+purgePath), jsonCT, body)
				if r.status != http.StatusBadRequest {
					t.Fatalf("%s: %d %s", body, r.status, r.body)
				}
			}
		})
	}
}

// TestPurgeOffline: with --vault, a purge works on a bbolt file without a
// gateway: a card without a live network token is erased, one with a live
// network token is kept (no service to delete it at) and the exit status
// says so.
func TestPurgeOffline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	b, err := boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, nt := range []vault.NetworkToken{{}, {Provider: "builtin", ID: "nt_1", Status: network.StatusActive}, {Provider: "builtin", ID: "nt_2", Status: network.StatusDeleted}} {
		rec := vault.Record{Tenant: "tenant_a", Token: "tok_" + string(rune('a'+i)), Fingerprint: "fp" + string(rune('a'+i)), Sealed: []byte("sealed"), Brand: "visa", Last4: "1111", Network: nt}
		if _, _, err := b.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	out, _, err := runTokengate(t, "purge", "--tenant", "tenant_a", "--vault", "bolt:"+path)
	if err == nil || !strings.Contains(out, "3 selected, 2 erased") || !strings.Contains(out, "1 kept") {
		t.Fatalf("offline purge: %v\n%s", err, out)
	}
	b, err = boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	page, err := b.List(ctx, "tenant_a", vault.ListOptions{})
	if err != nil || len(page.Records) != 1 || page.Records[0].Token != "tok_b" {
		t.Fatalf("left: %+v %v", page.Records, err)
	}
}

// TestBasisTheoryDeleteThenPurge: Basis Theory's DELETE erases the card
// (not only its network token, as Basis Theory itself does: the object
// does not stay readable as inactive): the API answers 404 at once, and a
// purge of its token afterwards has nothing left to erase.
func TestBasisTheoryDeleteThenPurge(t *testing.T) {
	g := startGatewaySites(t, "", btSites)
	bt := func(method, path, body string) reply {
		req, _ := http.NewRequest(method, g.addr(btURL+path), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("BT-API-KEY", "bt_key_all")
		return g.do(req)
	}
	created := bt("POST", "/network-tokens", string(seedSample(t, "basistheory/create_request_data.json")))
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	id := str(decode(t, created.body), "id")
	if n := str(decode(t, bt("GET", "/network-tokens/"+id, "").body), "data.number"); strings.Contains(n, "X") {
		t.Fatalf("an active token's number with reveal: %q", n)
	}
	if r := bt("DELETE", "/network-tokens/"+id, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := bt("GET", "/network-tokens/"+id, ""); r.status != http.StatusNotFound {
		t.Fatalf("after delete: %d %s", r.status, r.body)
	}
	if out, _, err := runTokengate(t, "purge", "--tenant", "tenant_a", "--tokens", id, "--address", g.addr("localhost:2999")); err != nil || !strings.Contains(out, "0 erased") {
		t.Fatalf("purge after delete: %v\n%s", err, out)
	}
}

// TestRetentionCaddyfile: the retention block adapts to its JSON (Caddy
// durations, days included), and a bad one is refused naming the option.
func TestRetentionCaddyfile(t *testing.T) {
	got, err := adaptTokengate(t, "rules r.yaml\nretention {\ndefault 730d\ntenant acme 365d\nsweep_interval 30m\nrate 50\n}")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := got["retention"].(map[string]any)
	day := float64(24 * time.Hour)
	if r["default"] != 730*day || r["tenants"].(map[string]any)["acme"] != 365*day || r["sweep_interval"] != float64(30*time.Minute) || r["rate"] != float64(50) {
		t.Fatalf("adapted: %v", got["retention"])
	}
	for src, want := range map[string]string{
		"rules r.yaml\nretention {\ndefault forever\n}":          "retention default: want a positive duration",
		"rules r.yaml\nretention {\ntenant acme\n}":              "retention tenant wants <tenant> <duration>",
		"rules r.yaml\nretention {\ntenant a 1d\ntenant a 2d\n}": "retention tenant a is set twice",
		"rules r.yaml\nretention {\nrate 0\n}":                   "retention rate",
		"rules r.yaml\nretention {\nkeep 1d\n}":                  `unrecognized retention option "keep"`,
		"rules r.yaml\nretention 1d":                             "retention takes a block",
	} {
		if _, err := adaptTokengate(t, src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want one containing %q", src, err, want)
		}
	}
	a := &App{Retention: &Retention{Rate: -1}}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "retention rate") {
		t.Fatalf("JSON rate -1: %v", err)
	}
}

// TestJuspayCustomerPurge: a card saved through Juspay's generateToken for a
// customer is erased by `purge --customer`: the card reference no longer
// fetches, the /cards list is empty, the network token is DELETED.
func TestJuspayCustomerPurge(t *testing.T) {
	dir := t.TempDir()
	g := startGatewaySites(t, "", defaultSites+`
:9084 {
	juspay_api {
		merchant shop jp_key tenant_a
		dev_keys `+dir+`
	}
}
`)
	jp := func(method, path, body string) reply {
		req, _ := http.NewRequest(method, juspayURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-routing-id", "cust_9")
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
	plain, _ := json.Marshal(`{"cardNumber":"4111111111111111","expMonth":"09","expYear":"2030","cardSecurityCode":"123"}`)
	cardData, err := jwe.Encrypt(serverPub, "dev", plain)
	if err != nil {
		t.Fatal(err)
	}
	var req map[string]any
	_ = json.Unmarshal(seedSample(t, "juspay/000_generate_token_request.json"), &req)
	req["cardData"] = cardData
	req["orderData"] = map[string]any{"consentId": "consent-1", "customerId": "cust_9"}
	body, _ := json.Marshal(req)
	gen := jp("POST", "/generateToken", string(body))
	if gen.status != http.StatusOK {
		t.Fatalf("generateToken: %d %s", gen.status, gen.body)
	}
	var env struct{ Payload string }
	_ = json.Unmarshal([]byte(gen.body), &env)
	payload, err := jwe.Decrypt(merchantPriv, env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ CardReference string }
	_ = json.Unmarshal(payload, &p)
	rec, err := backendRecord(t, g, p.CardReference)
	if err != nil || rec.Network.ID == "" {
		t.Fatalf("saved card: %+v %v", rec.Network, err)
	}
	var get map[string]any
	_ = json.Unmarshal(seedSample(t, "juspay/002_fetch_token_request.json"), &get)
	get["card_reference"] = p.CardReference
	get["customer_id"] = "cust_9"
	fetch, _ := json.Marshal(get)
	if r := jp("POST", "/v4/card/get", string(fetch)); r.status != http.StatusOK {
		t.Fatalf("fetch before purge: %d %s", r.status, r.body)
	}
	out, _, err := runTokengate(t, "purge", "--tenant", "tenant_a", "--customer", "cust_9", "--address", g.addr("localhost:2999"))
	if err != nil || !strings.Contains(out, "1 selected, 1 erased") {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	if st := networkStatus(t, g, rec.Network.ID); st != network.StatusDeleted {
		t.Fatalf("network token %s", st)
	}
	if r := jp("POST", "/v4/card/get", string(fetch)); r.status == http.StatusOK {
		t.Fatalf("fetch after purge: %d %s", r.status, r.body)
	}
	if r := jp("GET", "/cards?customer_id=cust_9", ""); strings.Contains(r.body, p.CardReference) {
		t.Fatalf("cards after purge: %s", r.body)
	}
}

// toggledDelete fails network token deletes while fail is set.
type toggledDelete struct {
	network.Service
	fail *atomic.Bool
}

func (f toggledDelete) SetStatus(ctx context.Context, id, status string) error {
	if status == network.StatusDeleted && f.fail.Load() {
		return errors.New("service unavailable")
	}
	return f.Service.SetStatus(ctx, id, status)
}

// TestRetentionRetriesWhenNetworkFails: while the network token service
// fails, an expired card is kept (it still pays) and counted at every sweep;
// once the service is back, the next sweep erases it.
func TestRetentionRetriesWhenNetworkFails(t *testing.T) {
	g := (&gateway{t: t}).start("retention {\n\t\t\tdefault 30d\n\t\t\tsweep_interval 100ms\n\t\t}", defaultSites)
	fail := new(atomic.Bool)
	fail.Store(true)
	// Set before any card is due: the sweep looks a service up only to
	// delete a due card's token.
	g.app().networks["builtin"] = toggledDelete{g.app().networks["builtin"], fail}
	body, tok := tokenizeCard(t, g, visaPAN)
	kept := testutil.ToFloat64(purgeKept.WithLabelValues("retention"))
	erased := testutil.ToFloat64(purgedRecords.WithLabelValues("retention"))
	setMetadata(t, g, tok, vault.LastUsedKey, "2020-01-01")
	waitFor(t, "two sweeps keeping the card", func() bool {
		return testutil.ToFloat64(purgeKept.WithLabelValues("retention")) >= kept+2
	})
	if _, err := backendRecord(t, g, tok); err != nil {
		t.Fatalf("the card was not kept: %v", err)
	}
	if !pays(t, g, body) {
		t.Fatal("a kept card does not pay")
	}
	// Paying used the card: make it due again, and bring the service back.
	setMetadata(t, g, tok, vault.LastUsedKey, "2020-01-01")
	fail.Store(false)
	waitFor(t, "the card erased once the service is back", func() bool {
		return testutil.ToFloat64(purgedRecords.WithLabelValues("retention")) >= erased+1
	})
	if pays(t, g, body) {
		t.Fatal("an erased card still pays")
	}
}
