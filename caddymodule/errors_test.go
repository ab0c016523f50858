package caddymodule

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHandleErrorsRestylesGatewayErrors: on a server with handle_errors, a
// tokengate failure (a 400 invalid card, a 503 with the vault closed) is a
// Caddy error those routes answer, with {http.error.*}; a server without
// them answers today's JSON body. Either way the request_id is Caddy's
// {http.request.uuid}: the access log's uuid and tokengate's log line's
// request_id, and a 5xx cause is logged once.
func TestHandleErrorsRestylesGatewayErrors(t *testing.T) {
	access := filepath.Join(t.TempDir(), "access.log")
	g := startGatewaySites(t, "", `
:9080 {
	log {
		output file `+access+`
	}
	tokenize
	respond "{http.request.body}"
	handle_errors {
		respond "restyled {http.error.status_code} id={http.request.uuid}: {http.error.message}"
	}
}
:9084 {
	log {
		output file `+access+`
	}
	tokenize
	respond "{http.request.body}"
}`)
	const restyled, plain = inboundURL + "/checkout", "http://localhost:9084/checkout"

	r := g.post(restyled, jsonCT, checkoutJSON("4111111111111112"))
	if r.status != http.StatusBadRequest || !strings.HasPrefix(r.body, "restyled 400 id=") || !strings.Contains(r.body, "card.number") || strings.Contains(r.body, "4111111111111112") {
		t.Fatalf("invalid card through handle_errors: %d %s", r.status, r.body)
	}

	r = g.post(plain, jsonCT, checkoutJSON("4111111111111112"))
	e := decode(t, r.body)
	if r.status != http.StatusBadRequest || str(e, "error_code") == "" || str(e, "error_info.fields.0.field_name") != "card.number" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("invalid card without handle_errors: %d %s", r.status, r.body)
	}
	id := str(e, "error_info.request_id")
	wantAccessUUID(t, access, id)

	if err := g.app().stack.Load().Records.Close(); err != nil {
		t.Fatal(err)
	}
	r = g.post(restyled, jsonCT, checkoutJSON("6011111111111117"))
	if r.status != http.StatusServiceUnavailable || !strings.HasPrefix(r.body, "restyled 503 id=") || strings.Contains(r.body, "6011111111111117") {
		t.Fatalf("closed vault through handle_errors: %d %s", r.status, r.body)
	}
	restyledID := strings.TrimPrefix(strings.SplitN(r.body, ":", 2)[0], "restyled 503 id=")
	wantCauseLoggedOnce(t, g, restyledID)

	r = g.post(plain, jsonCT, checkoutJSON("6011111111111117"))
	e = decode(t, r.body)
	if r.status != http.StatusServiceUnavailable || str(e, "error_code") != "vault_unavailable" {
		t.Fatalf("closed vault without handle_errors: %d %s", r.status, r.body)
	}
	id = str(e, "error_info.request_id")
	wantAccessUUID(t, access, id)
	wantCauseLoggedOnce(t, g, id)
}

// wantAccessUUID fails unless one access log line has uuid id.
func wantAccessUUID(t *testing.T, access, id string) {
	t.Helper()
	logged, _ := os.ReadFile(access)
	if id == "" || strings.Count(string(logged), `"uuid":"`+id+`"`) != 1 {
		t.Fatalf("request id %q is not the uuid of one access log line:\n%s", id, logged)
	}
}

// wantCauseLoggedOnce fails unless tokengate logged one error line with
// request id id, naming the cause.
func wantCauseLoggedOnce(t *testing.T, g *gateway, id string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(g.log(), "\n") {
		if strings.Contains(l, `"request_id":"`+id+`"`) && strings.Contains(l, `"level":"error"`) {
			lines = append(lines, l)
		}
	}
	if id == "" || len(lines) != 1 || !strings.Contains(lines[0], "tokenization failed") || !strings.Contains(lines[0], `"error":"`) {
		t.Fatalf("request %q: %d error lines with its request_id, want 1 naming the cause:\n%s", id, len(lines), strings.Join(lines, "\n"))
	}
}

// TestServedAPILogsItsOutage: a served API's 503 says nothing of its cause;
// the cause is logged once, with the request id in the access log.
func TestServedAPILogsItsOutage(t *testing.T) {
	access := filepath.Join(t.TempDir(), "access.log")
	g := startGatewaySites(t, "", `
:9083 {
	log {
		output file `+access+`
	}
	basistheory_api {
		api_key bt_secret_key tenant_a network-token:read
	}
}`)
	if err := g.app().stack.Load().Records.Close(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://localhost:9083/network-tokens/none", nil)
	req.Header.Set("BT-API-KEY", "bt_secret_key")
	if r := g.do(req); r.status != http.StatusServiceUnavailable {
		t.Fatalf("closed vault: %d %s", r.status, r.body)
	}
	var lines []string
	for _, l := range strings.Split(g.log(), "\n") {
		if strings.Contains(l, "basistheory API call failed") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `"error":"`) {
		t.Fatalf("%d lines for the outage, want 1 with its cause:\n%s", len(lines), g.log())
	}
	id := lines[0][strings.Index(lines[0], `"request_id":"`)+len(`"request_id":"`):]
	wantAccessUUID(t, access, id[:strings.Index(id, `"`)])
}

// wantRequestIDLogged fails unless tokengate logged a line containing msg
// and every such line carries a request_id, which joins it to the access
// log and the answer.
func wantRequestIDLogged(t *testing.T, g *gateway, msg string) {
	t.Helper()
	n := 0
	for _, l := range strings.Split(g.log(), "\n") {
		if !strings.Contains(l, msg) {
			continue
		}
		n++
		if !strings.Contains(l, `"request_id":"`) || strings.Contains(l, `"request_id":""`) {
			t.Errorf("a %q line has no request_id: %s", msg, l)
		}
	}
	if n == 0 {
		t.Errorf("no %q line was logged", msg)
	}
}
