package caddymodule

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestTokengateErrorKeepsTheDefaultBodies: a server whose handle_errors
// routes restyle other errors keeps tokengate's answers with
// tokengate_error: a tokenize 400 and 503 get tokengate's JSON body, a
// juspay_api 503 Juspay's envelope, and a 404 of the site goes on to the
// restyling respond. A juspay_api 400 (never handed to handle_errors)
// carries Caddy's request uuid as its request_id, and a webhook's 503 goes
// to handle_errors with its cause logged once.
func TestTokengateErrorKeepsTheDefaultBodies(t *testing.T) {
	access := filepath.Join(t.TempDir(), "access.log")
	logTo := `
	log {
		output file ` + access + `
	}`
	g := startGatewaySites(t, "", `
:9080 {`+logTo+`
	handle /missing {
		error "gone" 404
	}
	handle {
		tokenize
		respond "{http.request.body}"
	}
	handle_errors {
		tokengate_error
		respond "restyled {http.error.status_code}"
	}
}
:9083 {`+logTo+`
	tokengate_webhooks juspay {
		secret s3cret
	}
	handle_errors {
		respond "restyled {http.error.status_code}: {http.error.message}"
	}
}
:9084 {`+logTo+`
	juspay_api {
		merchant shop jp_key tenant_a
		dev_keys `+t.TempDir()+`
	}
	handle_errors 5xx {
		tokengate_error
	}
}`)
	jp := func(path, body string) reply {
		req, _ := http.NewRequest(http.MethodPost, juspayURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", jsonCT)
		req.SetBasicAuth("jp_key", "")
		return g.do(req)
	}
	wantTokengateBody := func(name string, r reply, status int, code string) string {
		t.Helper()
		e := decode(t, r.body)
		if r.status != status || str(e, "error_code") != code || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s %v, want %d %s in tokengate's body", name, r.status, r.body, r.header, status, code)
		}
		id := str(e, "error_info.request_id")
		wantAccessUUID(t, access, id)
		return id
	}

	r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4111111111111112"))
	wantTokengateBody("invalid card", r, http.StatusBadRequest, "invalid_luhn")
	if str(decode(t, r.body), "error_info.fields.0.field_name") != "card.number" || strings.Contains(r.body, "4111111111111112") {
		t.Fatalf("invalid card: %s", r.body)
	}
	if r := g.do(mustRequest(t, http.MethodGet, inboundURL+"/missing")); r.status != http.StatusNotFound || r.body != "restyled 404" {
		t.Fatalf("another error: %d %s, want the restyled 404", r.status, r.body)
	}
	r = jp("/generateToken", `{}`)
	e := decode(t, r.body)
	if r.status != http.StatusBadRequest || str(e, "error_info.fields.0.field_name") != "cardData" {
		t.Fatalf("juspay_api 400: %d %s", r.status, r.body)
	}
	wantAccessUUID(t, access, str(e, "error_info.request_id"))

	if err := g.app().stack.Load().Records.Close(); err != nil {
		t.Fatal(err)
	}
	r = g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("6011111111111117"))
	wantCauseLoggedOnce(t, g, wantTokengateBody("closed vault", r, http.StatusServiceUnavailable, "vault_unavailable"))

	r = jp("/v4/card/get", `{"card_reference":"tok_none","customer_id":"c"}`)
	if e := decode(t, r.body); r.status != http.StatusServiceUnavailable || str(e, "errorCode") != "SERVICE_UNAVAILABLE" || str(e, "status") != "FAILURE" ||
		r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("juspay_api 503: %d %s %v, want Juspay's envelope", r.status, r.body, r.header)
	}

	r = g.post("http://localhost:9083/", jsonCT, `{"token":{"card_reference":"t","customer_id":"c","expiry_month":"05","expiry_year":"2032"}}`, "Authorization", "s3cret")
	if r.status != http.StatusServiceUnavailable || !strings.HasPrefix(r.body, "restyled 503: ") {
		t.Fatalf("webhook with the vault closed: %d %s, want the restyled 503", r.status, r.body)
	}
	var lines []string
	for _, l := range strings.Split(g.log(), "\n") {
		if strings.Contains(l, "webhooks_juspay API call failed") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `"error":"`) {
		t.Fatalf("%d lines for the webhook's outage, want 1 with its cause:\n%s", len(lines), g.log())
	}
	id := lines[0][strings.Index(lines[0], `"request_id":"`)+len(`"request_id":"`):]
	wantAccessUUID(t, access, id[:strings.Index(id, `"`)])
}

// The README's handle_errors forms adapt, with tokengate_error before
// respond in a route; tokengate_error takes no arguments.
func TestTokengateErrorCaddyfile(t *testing.T) {
	adapt := func(site string) (string, error) {
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {\n\trespond ok\n"+site+"\n}\n"), nil)
		return string(out), err
	}
	for _, site := range []string{
		"handle_errors 404 {\n\trespond \"no such page\"\n}\nhandle_errors {\n\ttokengate_error\n}",
		"handle_errors 4xx 5xx {\n\ttokengate_error\n}",
		"handle_errors {\n\trespond \"x\"\n\ttokengate_error\n}",
	} {
		out, err := adapt(site)
		if err != nil || !strings.Contains(out, `"handler":"tokengate_error"`) {
			t.Fatalf("%s: %v %s", site, err, out)
		}
		if r := strings.Index(out, `{"body":"x","handler":"static_response"}`); r >= 0 && r < strings.Index(out, `"handler":"tokengate_error"`) {
			t.Fatalf("respond is ordered before tokengate_error: %s", out)
		}
	}
	if _, err := adapt("handle_errors {\n\ttokengate_error 500\n}"); err == nil {
		t.Fatal("tokengate_error with an argument adapted")
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
