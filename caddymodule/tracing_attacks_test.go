package caddymodule

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// spanCollector is an OTLP/HTTP trace receiver: it keeps the raw export
// requests. OTLP's protobuf carries attribute values and span names as
// plain bytes, so a card number in any of them is found by a substring
// search without decoding the protobuf.
type spanCollector struct {
	mu      sync.Mutex
	exports [][]byte
}

func (c *spanCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var src io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		src = zr
	}
	b, _ := io.ReadAll(src)
	c.mu.Lock()
	c.exports = append(c.exports, b)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (c *spanCollector) all() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Join(c.exports, nil)
}

// TestTracesCarryNoCardDataUnderAttack runs the attacks with
// Caddy's tracing directive on, exporting to a local OTLP receiver, and
// checks that no span (Caddy's server span, whose url.path and url.query
// come from the request, nor tokengate's) carries a card number, a DPAN or
// a cryptogram. A refused request is traced too: a PAN in its path or
// query must not reach the tracing backend, as it must not reach the logs.
func TestTracesCarryNoCardDataUnderAttack(t *testing.T) {
	collector := &spanCollector{}
	srv := httptest.NewServer(collector)
	defer srv.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL+"/v1/traces")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")

	// The merchant echoes what it received, through a real proxy hop
	// (respond "{http.request.body}" works under tracing too: see
	// TestTracedRequestsLogAndEcho).
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) }))
	defer merchant.Close()
	g := startGatewaySites(t, "", `
:9080 {
	tracing
	tokenize
	reverse_proxy `+strings.TrimPrefix(merchant.URL, "http://")+`
}
:9081 {
	tracing
	detokenize
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}
:9082 {
	demo_psp
}`)

	const fallbackPAN = "4539097887163333" // Basis Theory's "not eligible": paid with its PAN
	do := func(method, url, contentType, body string, header ...string) reply {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return g.do(req)
	}
	spaced := "4111 1111 1111 1111"
	attacks := []struct {
		name, method, path, contentType, body string
		header                                []string
	}{
		{"stray in a note", "POST", "/checkout", jsonCT, `{"note":"my card ` + spaced + ` 123 exp 03/30"}`, nil},
		{"float spelling", "POST", "/checkout", jsonCT, `{"n":4.111111111111111e15}`, nil},
		{"card as a member name", "POST", "/checkout", jsonCT, `{"` + spaced + `":1}`, nil},
		{"in the path", "POST", "/checkout/" + visaPAN, jsonCT, `{}`, nil},
		{"in the query", "GET", "/checkout?card_number=" + visaPAN + "&card_cvc=" + testCVV, "", "", nil},
		{"in a header", "POST", "/checkout", jsonCT, `{}`, []string{"X-Card-Number", visaPAN}},
		{"in the user agent", "POST", "/checkout", jsonCT, `{}`, []string{"User-Agent", "Mozilla/5.0 " + visaPAN}},
		{"in a cookie", "POST", "/checkout", jsonCT, `{}`, []string{"Cookie", "cc=" + visaPAN}},
		{"unmatched route", "POST", "/checkout.json", jsonCT, checkoutJSON(visaPAN), nil},
		{"unmatched method", "PUT", "/checkout", jsonCT, checkoutJSON(visaPAN), nil},
	}
	for _, a := range attacks {
		r := do(a.method, inboundURL+a.path, a.contentType, a.body, a.header...)
		if r.status < 400 || r.status >= 500 {
			t.Errorf("%s: %d, want a 4xx refusal", a.name, r.status)
		}
	}

	// The flows that work: a network token and a PAN fallback, paid through
	// an echoing processor; and a merchant that sends a card number out.
	var secrets []string
	for _, pan := range []string{visaPAN, fallbackPAN} {
		in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(pan))
		if in.status != http.StatusOK {
			t.Fatalf("checkout: %d %s", in.status, in.body)
		}
		out := g.post(outboundURL+"/guarded/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
		if out.status != http.StatusOK {
			t.Fatalf("payment: %d %s", out.status, out.body)
		}
		psp := decode(t, lastReceived(t, g, "http://localhost:9082/received"))
		secrets = append(secrets, pan, str(psp, "card.number"), str(psp, "card.cryptogram"))
	}
	if r := g.post(outboundURL+"/payments", jsonCT, `{"card":{"number":"`+visaPAN+`"},"note":"`+spaced+`"}`, "X-Tokengate-Api-Key", apiKeyA); r.status != http.StatusBadRequest {
		t.Errorf("a card number sent outbound: %d, want 400", r.status)
	}

	// Wait (bounded generously) until the spans of the last requests are
	// exported.
	deadline := time.Now().Add(time.Minute)
	for !bytes.Contains(collector.all(), []byte("tokengate.detokenize")) || bytes.Count(collector.all(), []byte("tokengate.tokenize")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no tokengate spans reached the OTLP receiver")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Then stop Caddy: its tracer provider shuts down, which exports every
	// span still batched, so none is left out of the checks below.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	exported := collector.all()
	for _, s := range append(secrets, visaPAN, spaced, strings.ReplaceAll(spaced, " ", "+"), strings.ReplaceAll(spaced, " ", "%20")) {
		if i := bytes.Index(exported, []byte(s)); s != "" && i >= 0 {
			t.Errorf("an exported span carries card data, after %q", exported[max(0, i-40):i])
		}
	}
	if !bytes.Contains(exported, []byte("url.path")) {
		t.Error("Caddy's server spans were not exported; the test would not see their attributes")
	}
}
