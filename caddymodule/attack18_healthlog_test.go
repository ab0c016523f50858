package caddymodule

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestAttackHealthBeforeTokenizeAccessLog: tokengate_health is ordered
// before tokenize, so in a site that tokenizes, a probe path answers
// before tokenize's guard reads the URI. A card number put in the probe's
// query (by a client, or by a careless script) must not reach Caddy's
// access log in clear, as it does not on any other path of the site.
func TestAttackHealthBeforeTokenizeAccessLog(t *testing.T) {
	g := startGatewaySites(t, "", `
:9080 {
	log
	tokengate_health /healthz
	tokenize
	respond "{http.request.body}"
}`)
	const pan = "4111111111111111"
	for _, path := range []string{"/healthz?card=" + pan, "/other?card=" + pan} {
		r := g.do(mustRequest(t, http.MethodGet, inboundURL+path))
		t.Logf("GET %s: %d", strings.Replace(path, pan, "<pan>", 1), r.status)
	}
	time.Sleep(200 * time.Millisecond)
	raw, _ := os.ReadFile(g.logFile)
	for line := range strings.Lines(string(raw)) {
		if strings.Contains(line, pan) {
			t.Errorf("the log holds the card number: %s", line)
		}
	}
}
