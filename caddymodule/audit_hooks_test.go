package caddymodule

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/audit"
)

// useRecorder makes every app the test loads record into rec, and stops
// that when the test ends.
func useRecorder(t *testing.T, rec audit.Recorder) {
	t.Helper()
	testRecorder = rec
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

	// Cards paid with a network token, and one Basis Theory's simulator
	// finds not eligible, paid with its PAN.
	const cvv = "947"
	pans := []string{visaPAN, "4539097887163333", "5555555555554444", "4012888888881881"}
	secrets := []string{cvv}
	type paid struct{ token, became string }
	var want []paid
	for _, pan := range pans {
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
		if strings.Contains(string(raw), needle) {
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
