package caddymodule

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// logLine is the last JSON line of log whose msg is msg.
func logLine(t *testing.T, log, msg string) map[string]any {
	t.Helper()
	var found map[string]any
	for l := range strings.Lines(log) {
		if strings.Contains(l, `"msg":"`+msg+`"`) {
			found = decode(t, l)
		}
	}
	if found == nil {
		t.Fatalf("no %q line in the log", msg)
	}
	return found
}

// TestTracedRequestsLogAndEcho runs the quick start's shape with Caddy's
// tracing directive on, exporting to a local OTLP receiver:
//   - the echoing merchant (respond "{http.request.body}") answers the
//     tokenized body, not an empty one (see replaceBody), and
//     {http.request.uri} the tokenized query string, not the card number
//     it came with (Caddy reads it from r.URL, which the copy shares);
//   - the detokenized audit line carries the request's request_id (the
//     access log's uuid) and its trace_id, which is the access log's
//     traceID and the trace the exported spans belong to.
func TestTracedRequestsLogAndEcho(t *testing.T) {
	collector := &spanCollector{}
	srv := httptest.NewServer(collector)
	defer srv.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL+"/v1/traces")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")

	g := &gateway{t: t, dir: t.TempDir()}
	access := filepath.Join(g.dir, "access.log")
	g.start("", `
:9080 {
	tracing
	tokenize
	respond "{http.request.body}"
}
:9081 {
	tracing
	log {
		output file `+access+`
	}
	detokenize
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}
:9082 {
	demo_psp
}
:9083 {
	tracing
	tokenize
	respond "{http.request.uri}"
}`)

	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	if in.status != http.StatusOK || !strings.HasPrefix(token, "tok_") || strings.Contains(in.body, visaPAN) {
		t.Fatalf("the echoing merchant under tracing answered %d %q; want the tokenized body", in.status, in.body)
	}
	// A caller's trace id that holds a Luhn-valid card number (random ids
	// do, now and then; Caddy's tracing continues the caller's): the trace
	// header is dropped, not refused, and the checkout goes through.
	cardTrace := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN),
		"Traceparent", "00-"+visaPAN+"a0b1c2d3e4f5a6b7-00f067aa0ba902b7-01")
	if cardTrace.status != http.StatusOK || strings.Contains(cardTrace.body, visaPAN) {
		t.Fatalf("a trace id holding a card number: %d; want the checkout tokenized", cardTrace.status)
	}
	if !strings.Contains(g.log(), "a trace context header held a card-like number and was dropped") {
		t.Error("no line says the trace header was dropped")
	}
	// A card in the query string, tokenized there: {http.request.uri} is
	// the tokenized one too.
	if q := g.post("http://localhost:9083/checkout?card_number="+visaPAN, jsonCT, `{}`); q.status != http.StatusOK || strings.Contains(q.body, visaPAN) || !strings.Contains(q.body, "card_number=tok_") {
		t.Fatalf("{http.request.uri} under tracing: %d %q; want the tokenized query", q.status, q.body)
	}
	if out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA); out.status != http.StatusOK {
		t.Fatalf("payment: %d %s", out.status, out.body)
	}

	audit := logLine(t, g.log(), "detokenized")
	traceID, requestID := str(audit, "trace_id"), str(audit, "request_id")
	if len(traceID) != 32 || requestID == "" || len(str(audit, "span_id")) != 16 {
		t.Fatalf("the detokenized line lacks its ids: %v", audit)
	}
	waitForText(t, access, requestID)
	var accessLine map[string]any
	raw, _ := os.ReadFile(access)
	for l := range strings.Lines(string(raw)) {
		if strings.Contains(l, requestID) {
			accessLine = decode(t, l)
		}
	}
	if str(accessLine, "uuid") != requestID || str(accessLine, "traceID") != traceID {
		t.Fatalf("the access log has uuid %q traceID %q; the detokenized line request_id %q trace_id %q",
			str(accessLine, "uuid"), str(accessLine, "traceID"), requestID, traceID)
	}
	// OTLP's protobuf carries trace ids as their 16 raw bytes.
	id, _ := hex.DecodeString(traceID)
	deadline := time.Now().Add(30 * time.Second)
	for !bytes.Contains(collector.all(), id) {
		if time.Now().After(deadline) {
			t.Fatal("no exported span has the detokenized line's trace_id")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
