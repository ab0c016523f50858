package caddymodule

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/apitest"
	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/jwe"
	"github.com/tokengate/tokengate/webhooks"
)

// useRecorder makes every app the test loads record into rec, and stops
// that when the test ends.
func useRecorder(t *testing.T, rec audit.Recorder) {
	t.Helper()
	testRecorder = rec
	forgetKeys() // the last test's keyset is not this one's previous
	t.Cleanup(func() { testRecorder = nil })
}

// countingPSP is a processor on the test's port 9082 that echoes what it
// receives and counts it.
type countingPSP struct {
	mu       sync.Mutex
	received int
}

func (p *countingPSP) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.received
}

func startCountingPSP(t *testing.T, g *gateway) *countingPSP {
	t.Helper()
	p := &countingPSP{}
	l := g.listen(":9082")
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.received++
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// auditSites: tokenize behind an echoing merchant, detokenize (traced)
// toward the counting processor.
const auditSites = `
:9080 {
	tokenize
	respond "{http.request.body}"
}
:9081 {
	tracing
	detokenize
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}`

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestAuditDetokenizeEntries: through a real Caddy, N detokenizations give
// N audit entries, each with its tenant, API key id (the prefix of the
// key's SHA-256), rule set, destination, request id, trace id and its token
// with what it became (network token or PAN, and why), written before the
// request left; no entry holds a PAN, a network token number, a cryptogram
// or a CVV the test used. A request with an unknown token is recorded as
// refused; one with no token is not recorded.
func TestAuditDetokenizeEntries(t *testing.T) {
	collector := &spanCollector{}
	otlp := httptest.NewServer(collector)
	defer otlp.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", otlp.URL+"/v1/traces")

	mem := &audit.Memory{}
	useRecorder(t, mem)
	g := &gateway{t: t}
	psp := startCountingPSP(t, g)
	g.start("", auditSites)

	// Cards paid with a network token, one Basis Theory's simulator finds
	// not eligible, paid with its PAN, and random ones with random CVVs:
	// whatever the card, its entry holds none of it.
	pans := []string{visaPAN, "4539097887163333", "5555555555554444", "4012888888881881"}
	for range 6 {
		partial := "4" + fmt.Sprintf("%014d", mrand.Int64N(1e14))
		pans = append(pans, partial+string(card.LuhnDigit(partial)))
	}
	var secrets []string
	type paid struct{ token, became string }
	var want []paid
	for _, pan := range pans {
		cvv := fmt.Sprintf("%03d", mrand.IntN(1000))
		secrets = append(secrets, cvv)
		in := g.post(inboundURL+"/checkout", jsonCT, strings.Replace(checkoutJSON(pan), `"cvc":"`+testCVV+`"`, `"cvc":"`+cvv+`"`, 1))
		if in.status != http.StatusOK {
			t.Fatalf("checkout: %d %s", in.status, in.body)
		}
		token := str(decode(t, in.body), "card.number")
		out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
		if out.status != http.StatusOK {
			t.Fatalf("payment: %d %s", out.status, out.body)
		}
		got := decode(t, out.body)
		secrets = append(secrets, pan, str(got, "card.number"), str(got, "card.cryptogram"))
		became := "network_token"
		if str(got, "card.number") == pan {
			became = "pan"
		}
		want = append(want, paid{token, became})
	}
	if psp.count() != len(pans) {
		t.Fatalf("the processor received %d requests, want %d", psp.count(), len(pans))
	}

	entries := mem.Entries()
	var detok []audit.Entry
	for _, e := range entries {
		if e.Action == audit.ActionDetokenize {
			detok = append(detok, e)
		}
	}
	if len(detok) != len(pans) {
		t.Fatalf("%d detokenize entries for %d payments: %+v", len(detok), len(pans), detok)
	}
	ids := map[string]bool{}
	sawPAN := false
	for i, e := range detok {
		if e.Outcome != audit.OutcomeOK || e.Tenant != "tenant_a" || e.APIKey != apiKeyHash(apiKeyA)[:12] || e.RuleSet != "psp" ||
			e.Destination != g.addr("localhost:9082") || !uuidRE.MatchString(e.RequestID) || ids[e.RequestID] ||
			len(e.TraceID) != 32 || strings.Trim(e.TraceID, "0") == "" || e.Time.IsZero() || time.Since(e.Time) > time.Minute {
			t.Errorf("entry %d: %+v", i, e)
		}
		ids[e.RequestID] = true
		if len(e.Tokens) != 1 {
			t.Fatalf("entry %d has %d tokens, want 1: %+v", i, len(e.Tokens), e.Tokens)
		}
		tu := e.Tokens[0]
		if tu.Token != want[i].token || tu.Field != "card.number" || tu.Became != want[i].became {
			t.Errorf("entry %d token %+v, want %s became %s", i, tu, want[i].token, want[i].became)
		}
		if tu.Became == "pan" {
			sawPAN = true
			if tu.Reason == "" {
				t.Errorf("entry %d: a PAN sent without its reason: %+v", i, tu)
			}
		}
	}
	if !sawPAN {
		t.Error("no card was paid with its PAN; the test covers the fallback's entry too")
	}

	// Refused: an unknown token. Not recorded: a payment without a token.
	before := psp.count()
	if out := g.post(outboundURL+"/payments", jsonCT, `{"card":{"number":"tok_unknown0000000000000000"}}`, "X-Tokengate-Api-Key", apiKeyA); out.status != http.StatusForbidden {
		t.Fatalf("unknown token: %d %s", out.status, out.body)
	}
	if out := g.post(outboundURL+"/payments", jsonCT, `{"order":"no card"}`, "X-Tokengate-Api-Key", apiKeyA); out.status != http.StatusOK {
		t.Fatalf("no token: %d %s", out.status, out.body)
	}
	if psp.count() != before+1 {
		t.Fatalf("the processor received %d more, want the tokenless one only", psp.count()-before)
	}
	entries = mem.Entries()
	var refused []audit.Entry
	for _, e := range entries {
		if e.Action == audit.ActionDetokenize && e.Outcome == audit.OutcomeRefused {
			refused = append(refused, e)
		}
	}
	if n := len(entries) - len(detok) - len(refused); n != 0 {
		t.Errorf("%d entries besides the payments and the refusal: %+v", n, entries)
	}
	if len(refused) != 1 || refused[0].Detail["code"] != "unknown_token" || refused[0].Tenant != "tenant_a" ||
		len(refused[0].Tokens) != 1 || refused[0].Tokens[0].Field != "card.number" || refused[0].Tokens[0].Became != "none" {
		t.Errorf("the unknown token's entry: %+v", refused)
	}

	assertNoCardData(t, entries, secrets)
}

// assertNoCardData fails if an entry, as JSON, holds any of secrets (card
// numbers, network token numbers, cryptograms; CVVs as a JSON string).
func assertNoCardData(t *testing.T, entries []audit.Entry, secrets []string) {
	t.Helper()
	raw, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		needle := s
		if len(s) <= 4 { // a CVV: as a value, not any three digits of an id
			needle = `"` + s + `"`
		}
		if strings.Contains(string(raw), needle) || len(s) > 4 && lenientReader(string(raw), s) {
			t.Errorf("an audit entry holds card data (%d characters)", len(s))
		}
	}
}

// TestAuditDetokenizeFailsClosed: a recorder that cannot write stops the
// payment: 503 audit_unavailable, the processor receives nothing, and the
// answer says nothing of card data.
func TestAuditDetokenizeFailsClosed(t *testing.T) {
	mem := &audit.Memory{}
	useRecorder(t, mem)
	g := &gateway{t: t}
	psp := startCountingPSP(t, g)
	g.start("", auditSites)
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if in.status != http.StatusOK {
		t.Fatalf("checkout: %d %s", in.status, in.body)
	}
	mem.Err = errors.New("disk full")
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	if out.status != http.StatusServiceUnavailable || str(decode(t, out.body), "error_code") != "audit_unavailable" || strings.Contains(out.body, visaPAN) {
		t.Fatalf("payment with the audit trail down: %d %s; want 503 audit_unavailable", out.status, out.body)
	}
	if n := psp.count(); n != 0 {
		t.Fatalf("the processor received %d requests with the audit trail down", n)
	}
	if !strings.Contains(g.log(), "the audit entry could not be written") {
		t.Error("no log line says why the payment was refused")
	}
}

// entriesOf returns the entries of one action.
func entriesOf(mem *audit.Memory, action string) []audit.Entry {
	var out []audit.Entry
	for _, e := range mem.Entries() {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// TestAuditBasisTheoryAPI: through a real Caddy, the served Basis Theory
// API records a reveal of a network token number, a cryptogram and a
// suspension (before it is made) with the tenant, the token, the API key
// id and the request id; with the audit trail down, a reveal, a cryptogram
// and a resume are answered 503 in problem details, with no card data, and
// the token's state does not change.
func TestAuditBasisTheoryAPI(t *testing.T) {
	mem := &audit.Memory{}
	useRecorder(t, mem)
	g := startGatewaySites(t, "", btSites)
	bt := func(method, path, key string) reply {
		req, _ := http.NewRequest(method, btURL+path, nil)
		req.Header.Set("BT-API-KEY", key)
		return g.do(req)
	}
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("5555555555554444"))
	token := str(decode(t, in.body), "card.number")
	created := g.do(func() *http.Request {
		req, _ := http.NewRequest("POST", btURL+"/network-tokens", strings.NewReader(`{"token_id":"`+token+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("BT-API-KEY", "bt_key_all")
		return req
	}())
	if created.status != http.StatusOK && created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	if n := len(mem.Entries()); n != 0 {
		t.Fatalf("tokenize and a masked create recorded %d entries: %+v", n, mem.Entries())
	}
	got := bt("GET", "/network-tokens/"+token, "bt_key_all")
	dpan := str(decode(t, got.body), "data.number")
	if got.status != http.StatusOK || len(dpan) < 13 {
		t.Fatalf("reveal: %d %s", got.status, got.body)
	}
	crypt := bt("POST", "/network-tokens/"+token+"/cryptogram", "bt_key_all")
	cryptogram := str(decode(t, crypt.body), "cryptogram")
	if crypt.status != http.StatusOK || cryptogram == "" {
		t.Fatalf("cryptogram: %d %s", crypt.status, crypt.body)
	}
	if r := bt("PUT", "/network-tokens/"+token+"/suspend", "bt_key_read"); r.status != http.StatusForbidden {
		t.Fatalf("suspend without the permission: %d", r.status)
	}
	if r := bt("PUT", "/network-tokens/"+token+"/suspend", "bt_key_all"); r.status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.status, r.body)
	}
	keyID := apiKeyHash("bt_key_all")[:12]
	check := func(e audit.Entry, action, became, reason string) {
		t.Helper()
		if e.Action != action || e.Outcome != audit.OutcomeOK || e.Tenant != "tenant_a" || e.APIKey != keyID || !uuidRE.MatchString(e.RequestID) ||
			len(e.Tokens) != 1 || e.Tokens[0].Token != token || e.Tokens[0].Became != became || e.Tokens[0].Reason != reason {
			t.Errorf("entry %+v; want %s of %s by %s, became %s (%s)", e, action, token, keyID, became, reason)
		}
	}
	entries := mem.Entries()
	if len(entries) != 4 {
		t.Fatalf("%d entries, want reveal, cryptogram, token_status, reveal (the suspend's answer): %+v", len(entries), entries)
	}
	check(entries[0], audit.ActionReveal, "network_token", "")
	check(entries[1], audit.ActionCryptogram, "network_token", "")
	check(entries[2], audit.ActionTokenStatus, "SUSPENDED", "api")
	check(entries[3], audit.ActionReveal, "network_token", "")

	// The audit trail down: nothing is revealed, issued or changed.
	mem.Err = errors.New("sink down")
	for _, r := range []reply{bt("GET", "/network-tokens/"+token, "bt_key_all"), bt("PUT", "/network-tokens/"+token+"/resume", "bt_key_all")} {
		if r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != "application/problem+json" || strings.Contains(r.body, dpan) {
			t.Errorf("with the audit trail down: %d %s; want 503 problem details", r.status, r.body)
		}
	}
	rec, err := g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token)
	if err != nil || rec.Network.Status != "SUSPENDED" {
		t.Fatalf("a resume the audit trail could not record changed the token: %s %v", rec.Network.Status, err)
	}
	mem.Err = nil
	if r := bt("PUT", "/network-tokens/"+token+"/resume", "bt_key_read"); r.status != http.StatusForbidden {
		t.Fatalf("resume without the permission: %d", r.status)
	}
	if r := bt("PUT", "/network-tokens/"+token+"/resume", "bt_key_all"); r.status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	mem.Err = errors.New("sink down")
	if r := bt("POST", "/network-tokens/"+token+"/cryptogram", "bt_key_all"); r.status != http.StatusServiceUnavailable || strings.Contains(r.body, "cryptogram\"") {
		t.Errorf("a cryptogram with the audit trail down: %d %s", r.status, r.body)
	}
	mem.Err = nil
	entries = mem.Entries()
	if len(entries) != 6 {
		t.Fatalf("%d entries, want 6: %+v", len(entries), entries)
	}
	check(entries[4], audit.ActionTokenStatus, "ACTIVE", "api")
	assertNoCardData(t, entries, []string{"5555555555554444", dpan, cryptogram, testCVV})
}

// TestAuditWebhookStatus: a provider's signed event that suspends a token
// is recorded once applied (token_status, reason webhook); with the audit
// trail down the change stands (the network's truth) and the event is
// answered 503, so the provider sends it again, and the failure is logged.
func TestAuditWebhookStatus(t *testing.T) {
	mem := &audit.Memory{}
	useRecorder(t, mem)
	sandbox := apitest.BasisTheorySandbox(t, "sandbox_key")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubFile := filepath.Join(t.TempDir(), "bt-webhooks.pub.pem")
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	g := startGatewaySites(t, "network basistheory {\n\t\t\tbase_url "+sandbox.URL+"\n\t\t\tapi_key sandbox_key\n\t\t}", defaultSites+`
:9085 {
	tokengate_webhooks basistheory {
		public_key `+pubFile+`
	}
}
`)
	var tokens []string
	var ids []string
	for _, pan := range []string{visaPAN, "5555555555554444"} {
		in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(pan))
		token := str(decode(t, in.body), "card.number")
		rec, err := g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token)
		if err != nil || rec.Network.ID == "" {
			t.Fatalf("tokenize: %v", err)
		}
		tokens, ids = append(tokens, token), append(ids, rec.Network.ID)
	}
	event := func(id string) reply {
		body := `{"event":{"id":"ev-1","type":"network-token.updated","timestamp":"` + time.Now().UTC().Format(time.RFC3339Nano) +
			`","data":{"network_token":{"id":"` + id + `","status":"suspended"}}},"delivered_at":"now"}`
		stable, _ := webhooks.StableStringify([]byte(body))
		sum := sha256.Sum256(stable)
		sig, _ := rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], nil)
		r, _ := http.NewRequest(http.MethodPost, "http://localhost:9085/", strings.NewReader(body))
		r.Header.Set("BT-SIGNATURE", base64.StdEncoding.EncodeToString(sig))
		return g.do(r)
	}
	if r := event(ids[0]); r.status != http.StatusOK || !strings.Contains(r.body, "updated") {
		t.Fatalf("the event: %d %s", r.status, r.body)
	}
	got := entriesOf(mem, audit.ActionTokenStatus)
	if len(got) != 1 || got[0].Tenant != "tenant_a" || got[0].Outcome != audit.OutcomeOK || !uuidRE.MatchString(got[0].RequestID) ||
		len(got[0].Tokens) != 1 || got[0].Tokens[0] != (audit.TokenUse{Token: tokens[0], Became: "SUSPENDED", Reason: "webhook"}) ||
		got[0].Detail["provider"] != "basistheory" {
		t.Fatalf("the webhook's entries: %+v", got)
	}
	if r := event(ids[0]); r.status != http.StatusOK || len(entriesOf(mem, audit.ActionTokenStatus)) != 1 {
		t.Fatalf("the same event again (no change): %d %s, %d entries", r.status, r.body, len(entriesOf(mem, audit.ActionTokenStatus)))
	}

	mem.Err = errors.New("sink down")
	if r := event(ids[1]); r.status != http.StatusServiceUnavailable {
		t.Fatalf("an event whose entry cannot be written: %d %s; want 503 so that the provider retries", r.status, r.body)
	}
	rec, _ := g.app().stack.Load().Records.Get(t.Context(), "tenant_a", tokens[1])
	if rec.Network.Status != "SUSPENDED" {
		t.Fatalf("the network's suspension was not applied: %s", rec.Network.Status)
	}
	if !strings.Contains(g.log(), "the audit entry of a token state change could not be written") {
		t.Error("no log line says the entry was not written")
	}
}

// forgetKeys makes the next load the process's first, for a test.
func forgetKeys() {
	keysSeen.mu.Lock()
	defer keysSeen.mu.Unlock()
	keysSeen.set, keysSeen.ids, keysSeen.primary = false, nil, 0
}

// TestAuditKeysetChange: a config reloaded with the keyset rotated
// (caddy tokengate rotate) records a keys entry with the key ids and the
// primary, new and previous; a reload with the same keyset records none.
func TestAuditKeysetChange(t *testing.T) {
	mem := &audit.Memory{}
	useRecorder(t, mem)
	g := &gateway{t: t, dir: t.TempDir()}
	first := filepath.Join(g.dir, "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", first); err != nil {
		t.Fatal(err)
	}
	g.start("keyset_file "+first, defaultSites)
	before := g.app().keys
	if in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); in.status != http.StatusOK {
		t.Fatalf("checkout: %d %s", in.status, in.body)
	}
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	rotated := filepath.Join(g.dir, "rotated.json")
	if err := os.WriteFile(rotated, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runTokengate(t, "rotate", "--keyset", rotated); err != nil {
		t.Fatal(err)
	}
	if n := len(entriesOf(mem, audit.ActionKeys)); n != 0 {
		t.Fatalf("the first load recorded %d keys entries; that is config_load's", n)
	}
	g.load(g.config("keyset_file "+rotated, defaultSites))
	if in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); in.status != http.StatusOK {
		t.Fatalf("checkout after the reload: %d %s", in.status, in.body)
	}
	after := g.app().keys
	got := entriesOf(mem, audit.ActionKeys)
	if len(got) != 1 {
		t.Fatalf("%d keys entries after the rotated keyset was loaded, want 1: %+v", len(got), got)
	}
	d := got[0].Detail
	if d["key_ids"] != joinIDs(after.KeyIDs()) || d["primary"] != strconv.FormatUint(uint64(after.PrimaryKeyID()), 10) ||
		d["previous_key_ids"] != joinIDs(before.KeyIDs()) || d["previous_primary"] != strconv.FormatUint(uint64(before.PrimaryKeyID()), 10) ||
		d["primary"] == d["previous_primary"] || len(after.KeyIDs()) != 2 {
		t.Fatalf("the keys entry: %+v (before %v/%d, after %v/%d)", d, before.KeyIDs(), before.PrimaryKeyID(), after.KeyIDs(), after.PrimaryKeyID())
	}
	// The same keyset again (another config): nothing new.
	g.load(g.config("keyset_file "+rotated+"\n\t\tmax_body_size 1MB", defaultSites))
	if in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); in.status != http.StatusOK {
		t.Fatalf("checkout after the second reload: %d %s", in.status, in.body)
	}
	if n := len(entriesOf(mem, audit.ActionKeys)); n != 1 {
		t.Fatalf("%d keys entries after a reload with the same keyset, want still 1", n)
	}
}

// TestAuditBackup: a backup through the admin endpoint is recorded before
// it streams (records, key ids, primary); with the audit trail down it is
// refused (503) and nothing is streamed.
func TestAuditBackup(t *testing.T) {
	mem := &audit.Memory{}
	useRecorder(t, mem)
	g := startGateway(t, "")
	for i := range 3 {
		if in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(newPAN(i))); in.status != http.StatusOK {
			t.Fatalf("checkout: %d %s", in.status, in.body)
		}
	}
	r := g.do(mustRequest(t, http.MethodGet, g.addr("http://localhost:2999"+backupPath)))
	if r.status != http.StatusOK || r.header.Get(headerBackupRecords) != "3" {
		t.Fatalf("backup: %d %v", r.status, r.header)
	}
	got := entriesOf(mem, audit.ActionBackup)
	ks := g.app().keys
	if len(got) != 1 || got[0].Detail["records"] != "3" || got[0].Detail["key_ids"] != joinIDs(ks.KeyIDs()) ||
		got[0].Detail["primary"] != strconv.FormatUint(uint64(ks.PrimaryKeyID()), 10) || got[0].Outcome != audit.OutcomeOK {
		t.Fatalf("the backup's entries: %+v", got)
	}
	mem.Err = errors.New("sink down")
	r = g.do(mustRequest(t, http.MethodGet, g.addr("http://localhost:2999"+backupPath)))
	if r.status != http.StatusServiceUnavailable || r.header.Get(headerBackupSize) != "" || !strings.Contains(r.body, "audit trail") {
		t.Fatalf("a backup with the audit trail down: %d %q", r.status, r.body)
	}
	var pans []string
	for i := range 3 {
		pans = append(pans, newPAN(i))
	}
	assertNoCardData(t, mem.Entries(), pans)
}

// TestAuditJuspayAPI: through a real Caddy, the served Juspay API records
// generateToken's network token number (reveal) and /v4/card/get's
// cryptogram with the tenant, the token, the API key id, the merchant and
// the request id, and the last customer's delete as a state change; with
// the audit trail down both are answered 503 in Juspay's envelope without
// the number or a cryptogram.
func TestAuditJuspayAPI(t *testing.T) {
	mem := &audit.Memory{}
	useRecorder(t, mem)
	dir := t.TempDir()
	g := startGatewaySites(t, "", defaultSites+`
:9084 {
	juspay_api {
		merchant shop jp_key tenant_a
		dev_keys `+dir+`
	}
}
`)
	jp := func(path, body string) reply {
		req, _ := http.NewRequest(http.MethodPost, juspayURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
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
	generate := func() reply {
		plain, _ := json.Marshal(`{"cardNumber":"` + visaPAN + `","expMonth":"09","expYear":"2030","cardSecurityCode":"321"}`)
		cardData, err := jwe.Encrypt(serverPub, "dev", plain)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"service": "NETWORK_TOKEN", "cardData": cardData,
			"orderData": map[string]any{"consentId": "consent-1", "customerId": "cust_1"}})
		return jp("/generateToken", string(body))
	}
	gen := generate()
	var env struct{ Payload string }
	if gen.status != http.StatusOK || json.Unmarshal([]byte(gen.body), &env) != nil {
		t.Fatalf("generateToken: %d %s", gen.status, gen.body)
	}
	payload, err := jwe.Decrypt(merchantPriv, env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ CardReference, Token string }
	_ = json.Unmarshal(payload, &p)
	get := jp("/v4/card/get", `{"card_reference":"`+p.CardReference+`","customer_id":"cust_1"}`)
	if get.status != http.StatusOK {
		t.Fatalf("card/get: %d %s", get.status, get.body)
	}
	cryptogram := str(decode(t, get.body), "authentication_details.cryptogram")
	keyID := apiKeyHash("jp_key")[:12]
	check := func(e audit.Entry, action string) {
		t.Helper()
		if e.Action != action || e.Outcome != audit.OutcomeOK || e.Tenant != "tenant_a" || e.APIKey != keyID || e.Detail["merchant_id"] != "shop" ||
			!uuidRE.MatchString(e.RequestID) || len(e.Tokens) != 1 || e.Tokens[0].Token != p.CardReference {
			t.Errorf("entry %+v; want %s of %s by %s", e, action, p.CardReference, keyID)
		}
	}
	entries := mem.Entries()
	if len(entries) != 2 {
		t.Fatalf("%d entries, want reveal and cryptogram: %+v", len(entries), entries)
	}
	check(entries[0], audit.ActionReveal)
	check(entries[1], audit.ActionCryptogram)

	mem.Err = errors.New("sink down")
	for name, r := range map[string]reply{"generateToken": generate(), "card/get": jp("/v4/card/get", `{"card_reference":"`+p.CardReference+`","customer_id":"cust_1"}`)} {
		if r.status != http.StatusServiceUnavailable || str(decode(t, r.body), "errorCode") != "SERVICE_UNAVAILABLE" || strings.Contains(r.body, p.Token) {
			t.Errorf("%s with the audit trail down: %d %s; want 503 SERVICE_UNAVAILABLE", name, r.status, r.body)
		}
	}
	mem.Err = nil
	if del := jp("/v4/card/delete", `{"card_reference":"`+p.CardReference+`","customer_id":"cust_1"}`); del.status != http.StatusOK {
		t.Fatalf("delete: %d %s", del.status, del.body)
	}
	st := entriesOf(mem, audit.ActionTokenStatus)
	if len(st) != 1 || st[0].APIKey != keyID || st[0].Tokens[0] != (audit.TokenUse{Token: p.CardReference, Became: "DELETED", Reason: "api"}) {
		t.Fatalf("the delete's entries: %+v", st)
	}
	assertNoCardData(t, mem.Entries(), []string{visaPAN, p.Token, cryptogram, "321"})
}
