package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// wantPANDetected fails unless r is 400 pan_detected naming field (any
// field when field is "") and echoes no digit of the card number.
func wantPANDetected(t *testing.T, r reply, field string) {
	t.Helper()
	if r.status != http.StatusBadRequest || str(decode(t, r.body), "error_code") != "pan_detected" {
		t.Fatalf("%d %s, want 400 pan_detected", r.status, r.body)
	}
	if got := str(decode(t, r.body), "error_info.fields.0.field_name"); field != "" && got != field {
		t.Errorf("the error names %q, want %q", got, field)
	}
	// The request id is a random UUID, which may hold "4111" by chance.
	id := str(decode(t, r.body), "error_info.request_id")
	if b := strings.ReplaceAll(r.body, id, ""); strings.Contains(b, "4111") || strings.Contains(b, "1111") {
		t.Errorf("the error echoes the number: %s", r.body)
	}
}

// startQuickStart runs Caddyfile.example, as TestQuickStart does.
func startQuickStart(t *testing.T) *gateway {
	t.Helper()
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	g.load(g.quickStartConfig("\tlog {\n\t\toutput file " + g.logFile + "\n\t\tlevel DEBUG\n\t}\n"))
	return g
}

// TestUnmatchedRequestsQuickStart: the quick start's requests that no rule
// set matches, though a merchant's framework routes them to the checkout
// (Rails' .json, Tomcat's ;jsessionid, a trailing %20, another method, the
// query string), are refused when they carry a card number, and a spoofed
// Tokengate-Cvv-Not-Held never reaches the merchant.
func TestUnmatchedRequestsQuickStart(t *testing.T) {
	g := startQuickStart(t)
	const base = "http://localhost:8080"
	body := `{"card":{"number":"4111111111111111","exp_month":"03","exp_year":"2030","cvc":"123"}}`
	for _, tc := range []struct{ name, method, url, ct, body, field string }{
		{"POST /checkout.json", http.MethodPost, base + "/checkout.json", jsonCT, body, "card.number"},
		{"POST /checkout;jsessionid=1", http.MethodPost, base + "/checkout;jsessionid=1", jsonCT, body, "card.number"},
		{"POST /checkout%20", http.MethodPost, base + "/checkout%20", jsonCT, body, "card.number"},
		{"PUT /checkout", http.MethodPut, base + "/checkout", jsonCT, body, "card.number"},
		{"form to /checkout.json", http.MethodPost, base + "/checkout.json", formCT, "card_number=4111111111111111&card_cvc=123", "card_number"},
		{"GET with the card in the query", http.MethodGet, base + "/checkout?card_number=4111111111111111&card_cvc=123", "", "", "query:card_number"},
		{"text body", http.MethodPost, base + "/notes", "text/plain", "my card is 4111 1111 1111 1111, cvc 123", "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			wantPANDetected(t, g.do(req), tc.field)
		})
	}
	// Requests without card data go on as before.
	req, _ := http.NewRequest(http.MethodPost, base+"/checkout.json", strings.NewReader(`{"order":"o-1","amount":1000}`))
	req.Header.Set("Content-Type", jsonCT)
	req.Header.Set(CVVNotHeldHeader, "card.cvc")
	if r := g.do(req); r.status != 200 || r.body != `{"order":"o-1","amount":1000}` {
		t.Fatalf("a clean unmatched request: %d %s", r.status, r.body)
	}
	if strings.Contains(g.log(), visaPAN) {
		t.Error("the log holds the card number")
	}
}

// TestUnmatchedPolicies: unmatched log forwards and logs, pass forwards
// unread; both strip Tokengate-Cvv-Not-Held; the counter counts outcomes.
func TestUnmatchedPolicies(t *testing.T) {
	g := startGatewaySites(t, "", `
:9080 {
	route /log/* {
		tokenize {
			unmatched log
		}
		header >Merchant-Saw-Cvv-Not-Held "{http.request.header.Tokengate-Cvv-Not-Held}"
		respond "{http.request.body}"
	}
	route /pass/* {
		tokenize {
			unmatched pass
		}
		header >Merchant-Saw-Cvv-Not-Held "{http.request.header.Tokengate-Cvv-Not-Held}"
		respond "{http.request.body}"
	}
	route {
		tokenize
		respond "{http.request.body}"
	}
}
`)
	before := g.scrape()
	for _, path := range []string{"/log/x", "/pass/x"} {
		r := g.post(inboundURL+path, jsonCT, `{"n":"4111111111111111"}`, CVVNotHeldHeader, "spoofed")
		if r.status != 200 || !strings.Contains(r.body, visaPAN) || r.header.Get("Merchant-Saw-Cvv-Not-Held") != "" {
			t.Errorf("%s: %d %s %v", path, r.status, r.body, r.header)
		}
	}
	wantPANDetected(t, g.post(inboundURL+"/other", jsonCT, `{"n":"4111111111111111"}`), "n")
	g.post(inboundURL+"/other", jsonCT, `{"n":"1"}`)
	after := g.scrape()
	for outcome, want := range map[string]float64{"logged": 1, "passed": 1, "rejected": 1, "clean": 1} {
		series := `tokengate_unmatched_requests_total{outcome="` + outcome + `"}`
		if got := metricValue(after, series) - metricValue(before, series); got != want {
			t.Errorf("%s grew by %v, want %v", series, got, want)
		}
	}
	if !strings.Contains(g.log(), `unmatched: log`) || strings.Contains(g.log(), visaPAN) {
		t.Error("unmatched log: no warning, or the number in the log")
	}
	wantRequestIDLogged(t, g, "unmatched: log")
}

// accessLogSites is the default inbound site with an access log.
func accessLogSites(accessLog string) string {
	return `
:9080 {
	log {
		output file ` + accessLog + `
	}
	tokenize
	respond "{http.request.body}"
}
:9081 {
	log {
		output file ` + accessLog + `
	}
	detokenize
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}
:9082 {
	respond "{http.request.body}"
}
`
}

// TestPANOutsideTheBody: a card number in the path, a header, a cookie or a
// trailer is refused on every request a tokenize handler sees, matched or
// not, and even under pan_guard tokenize (those places cannot be
// rewritten); under pan_guard log it is forwarded and logged. Caddy's access
// log never holds the number: tokengate's own masked line replaces it.
func TestPANOutsideTheBody(t *testing.T) {
	accessLog := filepath.Join(t.TempDir(), "access.log")
	g := startGatewaySites(t, "", accessLogSites(accessLog))
	withHeader := func(path, name, value string) reply {
		req, _ := http.NewRequest(http.MethodPost, inboundURL+path, strings.NewReader(checkoutJSON("4242424242424242")))
		req.Header.Set("Content-Type", jsonCT)
		req.Header.Set(name, value)
		return g.do(req)
	}
	for _, path := range []string{"/checkout", "/lenient", "/nowhere"} {
		t.Run(path, func(t *testing.T) {
			wantPANDetected(t, withHeader(path, "X-Card-Number", "4111 1111 1111 1111"), "header:X-Card-Number")
			wantPANDetected(t, withHeader(path, "Cookie", "session=abc; cc=4111111111111111"), "cookie:cc")
			wantPANDetected(t, withHeader(path, "Cookie", "cc=%34%31%31%31111111111111"), "cookie:cc")
			wantPANDetected(t, g.post(inboundURL+path+"/4111111111111111", jsonCT, checkoutJSON("4242424242424242")), "path")
			wantPANDetected(t, g.post(inboundURL+path+"/%34111111111111111", jsonCT, checkoutJSON("4242424242424242")), "path")

			// A chunked body with a trailer holding the card number.
			req, _ := http.NewRequest(http.MethodPost, inboundURL+path, io.MultiReader(strings.NewReader(checkoutJSON("4242424242424242"))))
			req.Header.Set("Content-Type", jsonCT)
			req.ContentLength = -1
			req.Trailer = http.Header{"X-Card": {visaPAN}}
			wantPANDetected(t, g.do(req), "trailer:X-Card")
		})
	}
	// pan_guard log: forwarded, logged, counted; the path never in a log.
	if r := withHeader("/logging", "X-Card-Number", visaPAN); r.status != 200 || !strings.Contains(g.log(), `"paths":"header:X-Card-Number"`) {
		t.Errorf("pan_guard log: %d %s", r.status, r.body)
	}
	// A card number in the query of a matched route is tokenized there
	// (a rule field) or refused, and kept out of the access log either way.
	if r := g.post(inboundURL+"/checkout?card_number="+visaPAN, jsonCT, `{}`); r.status != 200 || strings.Contains(r.body, visaPAN) {
		t.Errorf("the query's card_number: %d %s", r.status, r.body)
	}
	// The outbound side: a card number in a header or the path of a
	// merchant's request.
	req, _ := http.NewRequest(http.MethodPost, outboundURL+"/payments", strings.NewReader(`{"card":{"number":"tok_x"}}`))
	req.Header.Set("Content-Type", jsonCT)
	req.Header.Set("X-Tokengate-Api-Key", apiKeyA)
	req.Header.Set("X-Note", visaPAN)
	wantPANDetected(t, g.do(req), "header:X-Note")

	access, _ := os.ReadFile(accessLog)
	if len(access) == 0 {
		t.Fatal("no access log written")
	}
	for _, leak := range []string{visaPAN, "4111 1111", "%34111111111111111", "%34%31%31%31"} {
		if bytes.Contains(access, []byte(leak)) {
			t.Errorf("Caddy's access log holds the card number (%q)", leak)
		}
		if strings.Contains(g.log(), leak) {
			t.Errorf("the log holds the card number (%q)", leak)
		}
	}
	if !strings.Contains(g.log(), `access log line replaced`) || !strings.Contains(g.log(), `"uri":"/checkout/XXXXXXXXXXXXXXXX"`) {
		t.Error("no masked access line of tokengate's own")
	}
	wantRequestIDLogged(t, g, "access log line replaced")
	wantRequestIDLogged(t, g, "card numbers found outside the body (pan_guard: log)")
}

// TestInboundEvasions: the spellings of a card number in a note on a
// matched route, in the body and the query string, a float, and bodies in a
// charset the guard cannot read or with NUL bytes, are refused.
func TestInboundEvasions(t *testing.T) {
	g := startGateway(t, "")
	refused := []struct{ name, url, ct, body, field string }{
		{"spaced with a CVV and an expiry", "/checkout", jsonCT, `{"note":"my card 4111 1111 1111 1111 123 exp 03/30"}`, "note"},
		{"dashed with the expiry", "/checkout", jsonCT, `{"note":"4111-1111-1111-1111-0330"}`, "note"},
		{"dots", "/checkout", jsonCT, `{"note":"4111.1111.1111.1111"}`, "note"},
		{"slashes", "/checkout", jsonCT, `{"note":"4111/1111/1111/1111"}`, "note"},
		{"double spaces", "/checkout", jsonCT, `{"note":"4111  1111  1111  1111"}`, "note"},
		{"NBSP", "/checkout", jsonCT, "{\"note\":\"4111\u00a01111\u00a01111\u00a01111\"}", "note"},
		{"newlines", "/checkout", jsonCT, `{"note":"4111\n1111\n1111\n1111"}`, "note"},
		{"in the query", "/checkout?note=4111+1111+1111+1111+123", jsonCT, checkoutJSON("4242424242424242"), "query:note"},
		{"a float", "/checkout", jsonCT, `{"n":4.111111111111111e15}`, "n"},
		{"a float with a fraction", "/checkout", jsonCT, `{"n":4111111111111111.0}`, "n"},
		{"percent-encoded in JSON under pan_guard tokenize", "/lenient", jsonCT, `{"n":"%34111111111111111"}`, "n"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			wantPANDetected(t, g.post(inboundURL+tc.url, tc.ct, tc.body), tc.field)
		})
	}
	// Under pan_guard tokenize a float is tokenized or refused: either way
	// no card number reaches the merchant.
	if r := g.post(inboundURL+"/lenient", jsonCT, `{"n":4.111111111111111e15}`); r.status == 200 && (strings.Contains(r.body, "4111") || strings.Contains(r.body, "4.111")) {
		t.Errorf("a float under pan_guard tokenize: %d %s", r.status, r.body)
	}
	utf16le := func(s string) string {
		var b strings.Builder
		for _, u := range utf16.Encode([]rune(s)) {
			b.WriteByte(byte(u))
			b.WriteByte(byte(u >> 8))
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, url, ct, body string
		status              int
		code                string
	}{
		{"utf-16le", "/checkout", "text/plain; charset=utf-16le", utf16le(`{"note":"4111111111111111"}`), 415, "unsupported_charset"},
		{"utf-16le unmatched", "/elsewhere", "text/plain; charset=utf-16le", utf16le(`{"note":"4111111111111111"}`), 415, "unsupported_charset"},
		{"iso-8859-1", "/checkout", "application/x-www-form-urlencoded; charset=ISO-8859-1", "note=4111%A01111%A01111%A01111", 415, "unsupported_charset"},
		{"NUL in a form", "/checkout", formCT, "note=4\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001", 400, "nul_in_body"},
		{"UTF-16 unlabelled, unmatched", "/elsewhere", "application/octet-stream", utf16le("card 4111111111111111"), 400, "pan_detected"},
		{"UTF-16 in a multipart file", "/checkout", "multipart/form-data; boundary=XX",
			"--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\n" + utf16le("card 4111111111111111") + "\r\n--XX--\r\n", 400, "pan_detected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := g.post(inboundURL+tc.url, tc.ct, tc.body)
			if r.status != tc.status || str(decode(t, r.body), "error_code") != tc.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
	// UTF-8 and US-ASCII labels are read as before.
	if r := g.post(inboundURL+"/checkout", "application/json; charset=UTF-8", checkoutJSON(visaPAN)); r.status != 200 || strings.Contains(r.body, visaPAN) {
		t.Errorf("utf-8: %d %s", r.status, r.body)
	}
}

// TestOutboundPANGuard: a card number anywhere in a merchant's request but
// the token fields is refused (pan_guard reject, the default) before
// anything is detokenized, naming the place, never the value: the response
// guard can then not be asked whether a candidate is the card. pan_guard
// log forwards it and logs; the token field itself (a network token under
// the network_token format is a card number) is not read.
func TestOutboundPANGuard(t *testing.T) {
	g := startGateway(t, "")
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	pay := func(path, ct, body string, headers ...string) reply {
		return g.post(outboundURL+path, ct, body, append([]string{"X-Tokengate-Api-Key", apiKeyA}, headers...)...)
	}
	withToken := func(extra string) string {
		return `{"card":{"number":"` + token + `","exp_month":"03","exp_year":"2030"}` + extra + `}`
	}
	before := g.scrape()
	for _, tc := range []struct{ name, path, ct, body, field string }{
		{"candidates in a description", "/payments", jsonCT, withToken(`,"description":["4111111111111112","4111111111111111"]`), "description.1"},
		{"a spaced candidate", "/payments", jsonCT, withToken(`,"note":"4111 1111 1111 1111"`), "note"},
		{"a float", "/payments", jsonCT, withToken(`,"n":4.111111111111111e15`), "n"},
		{"a member name", "/payments", jsonCT, withToken(`,"4111111111111111":1`), ""},
		{"in the query", "/payments?c=4111111111111111", jsonCT, withToken(""), "query:c"},
		{"a form field", "/payments", formCT, "card_number=" + token + "&note=4111111111111111", "note"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantPANDetected(t, pay(tc.path, tc.ct, tc.body), tc.field)
		})
	}
	if r := pay("/payments", jsonCT, withToken(""), "X-Echo", "4111-1111-1111-1111"); r.status != 400 {
		t.Errorf("a header: %d %s", r.status, r.body)
	}
	if r := pay("/payments", jsonCT, withToken(`,"order":"o-1","amount":1000`)); r.status != 200 || r.header.Get(InjectedHeader) != "card.number=network_token" {
		t.Errorf("a clean payment: %d %s", r.status, r.body)
	}
	if r := pay("/logging/payments", jsonCT, withToken(`,"note":"4111111111111111"`)); r.status != 200 || !strings.Contains(g.log(), "pan_guard: log") {
		t.Errorf("pan_guard log: %d %s", r.status, r.body)
	}
	wantRequestIDLogged(t, g, "outside the token fields of a merchant's request (pan_guard: log)")
	after := g.scrape()
	if got := metricValue(after, `tokengate_detokenize_requests_total{outcome="pan_detected",rule_set="psp"}`) - metricValue(before, `tokengate_detokenize_requests_total{outcome="pan_detected",rule_set="psp"}`); got != 7 {
		t.Errorf("pan_detected counted %v times, want 7", got)
	}
	if got := metricValue(after, `tokengate_pan_guard_hits_total{policy="log",rule_set="logging_out"}`) - metricValue(before, `tokengate_pan_guard_hits_total{policy="log",rule_set="logging_out"}`); got != 1 {
		t.Errorf("pan_guard log hits %v, want 1", got)
	}
	if strings.Contains(g.log(), visaPAN) {
		t.Error("the log holds the card number")
	}
}

// TestPANGuardOverH2C: the guards hold over HTTP/2 (h2c here; Caddy serves
// HTTP/2 on TLS the same way), where trailers are ordinary HEADERS frames:
// a card number in a header, a trailer, the path or an unmatched body is
// refused, a clean request goes on, and the body on a matched route is
// tokenized.
func TestPANGuardOverH2C(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	cfg := strings.Replace(g.config("", defaultSites), "{\n", "{\n\tservers {\n\t\tprotocols h1 h2c\n\t}\n", 1)
	g.load(cfg)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	do := func(method, path, body string, header, trailer http.Header) reply {
		t.Helper()
		var rd io.Reader = strings.NewReader(body)
		if trailer != nil {
			rd = io.MultiReader(rd) // no length: the trailers follow the body
		}
		req, _ := http.NewRequest(method, g.addr(inboundURL)+path, rd)
		for k, v := range header {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", jsonCT)
		if trailer != nil {
			req.ContentLength = -1
			req.Trailer = trailer
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("served over %s, want HTTP/2", resp.Proto)
		}
		b, _ := io.ReadAll(resp.Body)
		return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}
	clean := checkoutJSON("4242424242424242")
	wantPANDetected(t, do("POST", "/checkout", clean, http.Header{"X-Card-Number": {visaPAN}}, nil), "header:X-Card-Number")
	wantPANDetected(t, do("POST", "/checkout", clean, nil, http.Header{"X-Card": {visaPAN}}), "trailer:X-Card")
	wantPANDetected(t, do("POST", "/nowhere", `{"o":1}`, nil, http.Header{"X-Card": {visaPAN}}), "trailer:X-Card")
	wantPANDetected(t, do("GET", "/checkout/"+visaPAN, "", nil, nil), "path")
	wantPANDetected(t, do("POST", "/checkout.json", `{"note":"`+visaPAN+`"}`, nil, nil), "note")
	if r := do("POST", "/checkout", clean, nil, nil); r.status != 200 || !strings.Contains(r.body, "tok_") || strings.Contains(r.body, "4242424242424242") {
		t.Errorf("a matched request over h2c: %d %s", r.status, r.body)
	}
	if r := do("POST", "/nowhere", `{"o":1}`, http.Header{CVVNotHeldHeader: {"spoofed"}}, nil); r.status != 200 || r.header.Get("Merchant-Saw-Cvv-Not-Held") != "" {
		t.Errorf("a clean unmatched request over h2c: %d %s %v", r.status, r.body, r.header)
	}
}

// TestTokenizeUnmatchedCaddyfile: the subdirective takes one of its three
// values.
func TestTokenizeUnmatchedCaddyfile(t *testing.T) {
	for in, want := range map[string]string{
		"tokenize {\n\tunmatched log\n}":  UnmatchedLog,
		"tokenize {\n\tunmatched pass\n}": UnmatchedPass,
		"tokenize checkout":               "",
	} {
		var h Tokenize
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil || h.Unmatched != want {
			t.Errorf("%q: %q, %v", in, h.Unmatched, err)
		}
	}
	for _, in := range []string{"tokenize {\n\tunmatched deny\n}", "tokenize {\n\tunmatched\n}", "tokenize {\n\tunmatched log pass\n}"} {
		var h Tokenize
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
