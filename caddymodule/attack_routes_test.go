package caddymodule

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// echoErrorsConfig is a JSON config: :9080 runs routes (JSON) with
// errors routes that proxy to :9082, which echoes the body it got; app is
// the tokengate app's JSON ("" for none).
func (g *gateway) echoErrorsConfig(app, routes string) string {
	apps := ""
	if app != "" {
		apps = `"tokengate": ` + app + `,`
	}
	return `{"apps": {` + apps + `"http": {"servers": {
  "in": {"listen": [":9080"], "routes": ` + routes + `,
    "errors": {"routes": [{"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "localhost:9082"}]}]}]}},
  "merchant": {"listen": [":9082"], "routes": [{"handle": [{"handler": "static_response", "body": "merchant got: {http.request.body}"}]}]}
}}}}`
}

// TestErrorRoutesCannotProxyAfterASubroute: the load-time check refuses a
// reverse_proxy in handle_errors once a tokenize was passed; a subroute's
// own errors routes, walked before a tokenize later in the server, still
// handle that tokenize's errors (a subroute's routes go on to the server's
// next routes, and their errors come back through it). A card body refused
// unread (a charset the guard cannot read) must not reach the merchant through them.
func TestErrorRoutesCannotProxyAfterASubroute(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	rulesPath := g.copyFile("testdata/rules.yaml")
	app := fmt.Sprintf(`{"rules": %q, "vault": {"backend": "bolt", "path": %q}, "networks": [{"provider": "builtin"}]}`,
		rulesPath, filepath.Join(g.dir, "vault.db"))
	routes := `[
  {"handle": [{"handler": "subroute",
    "routes": [{"handle": [{"handler": "headers", "request": {"set": {"X-Seen": ["yes"]}}}]}],
    "errors": {"routes": [{"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "localhost:9082"}]}]}]}}]},
  {"handle": [{"handler": "tokenize", "max_body_size": 1024}]},
  {"handle": [{"handler": "static_response", "body": "{http.request.body}"}]}]`
	// The server's own errors routes proxy too in echoErrorsConfig; drop
	// them, so only the subroute's are left; one that answers keeps
	// tokenize returning its refusals as errors.
	cfg := strings.Replace(g.echoErrorsConfig(app, routes), `"errors": {"routes": [{"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "localhost:9082"}]}]}]}},`,
		`"errors": {"routes": [{"match": [{"path": ["/never"]}], "handle": [{"handler": "static_response", "body": "error page"}]}]}},`, 1)
	err := g.tryLoad(cfg, "json")
	if err != nil {
		if !strings.Contains(err.Error(), "handle_errors proxies") {
			t.Fatalf("loading: %v", err)
		}
		return // refused at load: good
	}
	// A charset the PAN guard cannot read is refused (415) before the body
	// is read: all of it is still there.
	r := g.post(inboundURL+"/checkout", "application/json; charset=iso-8859-1", checkoutJSON(visaPAN))
	if strings.Contains(r.body, visaPAN) {
		t.Fatalf("a refused card body reached the merchant through a subroute's errors routes: %d %s", r.status, r.body[len(r.body)-120:])
	}
	t.Fatalf("the config loaded (answer %d %s); want it refused", r.status, r.body)
}

// TestErrorRoutesCannotProxyWithoutTheApp: a JSON config may use tokenize
// without the tokengate app; tokenize then fails closed (500), but its
// failure went to the server's errors routes, which no check walked (the
// route check is the app's), and a reverse_proxy there sent the whole card
// body to the merchant.
func TestErrorRoutesCannotProxyWithoutTheApp(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.loadJSON(g.echoErrorsConfig("", `[{"handle": [
    {"handler": "tokenize"},
    {"handler": "static_response", "body": "{http.request.body}"}]}]`))
	r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if r.status != http.StatusInternalServerError || strings.Contains(r.body, visaPAN) {
		t.Fatalf("tokenize without the app, errors routes that proxy: %d %s", r.status, r.body)
	}
	// The served APIs alike.
	g.loadJSON(g.echoErrorsConfig("", `[{"handle": [{"handler": "basistheory_api", "api_keys": [{"key": "k", "tenant": "t", "permissions": ["network-token:create"]}]}]}]`))
	r = g.post(inboundURL+"/network-tokens", jsonCT, `{"data":{"number":"`+visaPAN+`","expiration_month":3,"expiration_year":2030}}`, "BT-API-KEY", "k")
	if r.status != http.StatusInternalServerError || strings.Contains(r.body, visaPAN) {
		t.Fatalf("basistheory_api without the app, errors routes that proxy: %d %s", r.status, r.body)
	}
}

// TestInterceptCannotProxyARefusal: intercept's handle_response routes run
// on the answer of the handlers after it, with the request those handlers
// got: a tokenize refusal (400 for a card number in a header) answered
// there went to a reverse_proxy with the card number still in the header.
// Like handle_errors, they must not proxy in a server that takes card data.
func TestInterceptCannotProxyARefusal(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	cfg := g.config("", `
:9080 {
	route {
		intercept {
			@refused status 4xx
			handle_response @refused {
				reverse_proxy localhost:9082
			}
		}
		tokenize
		respond "{http.request.body}"
	}
}
:9082 {
	respond "merchant got: {http.request.header.X-Card}"
}`)
	if err := g.tryLoad(cfg, "caddyfile"); err != nil {
		if !strings.Contains(err.Error(), "proxies") {
			t.Fatalf("loading: %v", err)
		}
		return // refused at load: good
	}
	req := mustRequest(t, http.MethodPost, inboundURL+"/checkout")
	req.Header.Set("X-Card", visaPAN)
	r := g.do(req)
	if strings.Contains(r.body, visaPAN) {
		t.Fatalf("a refused card in a header reached the merchant through intercept: %d %s", r.status, r.body)
	}
	t.Fatalf("the config loaded (answer %d %s); want it refused", r.status, r.body)
}
