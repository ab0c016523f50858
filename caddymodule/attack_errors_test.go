package caddymodule

import (
	"net/http"
	"strings"
	"testing"
)

// TestRefusalKeepsCardOutOfCaddysErrorLog: a request tokenize refuses for a
// card number in its URI or headers is kept out of the access log; handed
// to handle_errors as an error, Caddy's own error log (http.log.error)
// writes the request as it arrived, URI and headers, at debug level (at
// error level if the error routes fail). The card number must not be in any
// log line, with or without handle_errors.
func TestRefusalKeepsCardOutOfCaddysErrorLog(t *testing.T) {
	const pan = "4111111111111111"
	g := startGatewaySites(t, "", `
:9080 {
	tokenize
	respond "{http.request.body}"
	handle_errors {
		respond "restyled {http.error.status_code}"
	}
}
:9084 {
	tokenize
	respond "{http.request.body}"
	handle_errors {
		file_server {
			root /nonexistent-error-pages
		}
	}
}
:9085 {
	tokenize
	reverse_proxy 127.0.0.1:1
}
:9081 {
	detokenize
	reverse_proxy localhost:9082 {
		transport tokengate
	}
	handle_errors {
		respond "restyled {http.error.status_code}"
	}
}`)
	for _, site := range []string{inboundURL, "http://localhost:9084"} {
		// In a header, on the tokenized route.
		req := mustRequest(t, http.MethodPost, site+"/checkout")
		req.Header.Set("X-Card", pan)
		if r := g.do(req); r.status != http.StatusBadRequest {
			t.Fatalf("%s: a card in a header: %d %s", site, r.status, r.body)
		}
		// In the query, on a route no rule set matches.
		if r := g.do(mustRequest(t, http.MethodGet, site+"/other?n="+pan)); r.status != http.StatusBadRequest {
			t.Fatalf("%s: a card in the query: %d %s", site, r.status, r.body)
		}
		// In the query of the tokenized route, with a body refused after.
		if r := g.post(site+"/checkout?card_number="+pan, jsonCT, `{"card":`); r.status != http.StatusBadRequest {
			t.Fatalf("%s: a card in the query, a bad body: %d %s", site, r.status, r.body)
		}
		// Last, one without a card, whose error log line says the lines
		// before it are written.
		if r := g.post(site+"/checkout", jsonCT, `{"card":`, "X-Marker", "done-"+site[len(site)-4:]); r.status != http.StatusBadRequest {
			t.Fatalf("%s: a bad body: %d %s", site, r.status, r.body)
		}
	}
	// A card in the query is tokenized and the request forwarded; the
	// merchant's upstream is down, and reverse_proxy's error reaches
	// Caddy's error log, which writes the URI as it arrived.
	if r := g.post("http://localhost:9085/checkout?card_number="+pan, jsonCT, `{}`); r.status != http.StatusBadGateway {
		t.Fatalf("a card in the query, the upstream down: %d %s", r.status, r.body)
	}
	// A merchant's request with a bad API key and a card in a header: the
	// key is refused before the outbound PAN guard reads the headers.
	if r := g.post(outboundURL+"/payments", jsonCT, `{}`, "X-Tokengate-Api-Key", "wrong", "X-Card", pan); r.status != http.StatusUnauthorized {
		t.Fatalf("a bad key and a card in a header: %d %s", r.status, r.body)
	}
	if r := g.post(outboundURL+"/payments", jsonCT, `{}`, "X-Tokengate-Api-Key", "wrong", "X-Marker", "done-9081"); r.status != http.StatusUnauthorized {
		t.Fatalf("a bad key: %d %s", r.status, r.body)
	}
	waitForText(t, g.logFile, "done-9081")
	waitForText(t, g.logFile, "done-9080")
	waitForText(t, g.logFile, "done-9084")
	if log := g.log(); strings.Contains(log, pan) {
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, pan) {
				t.Errorf("a log line holds the card number: %s", l)
			}
		}
	}
}
