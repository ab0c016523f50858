package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/body"
)

// TestAttack19AuditLeaks: a hostile merchant puts card numbers where the
// audit trail might copy them: as the API key, the request id and trace
// headers, the token itself (with spaces, as a card is written), and a
// card number as the token of a field the rule set reads. No entry holds a
// card number (checked as body.SafePath would mask it: any run of digits
// that could be one). Held.
func TestAttack19AuditLeaks(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	path := filepath.Join(g.dir, "audit.jsonl")
	g.start("audit file {\n\t\t\tpath "+path+"\n\t\t}", defaultSites)
	checkout, tok := tokenizeCard(t, g, visaPAN)
	pans := []string{visaPAN, "5555555555554444", "4000 0566 5566 5556", "378282246310005"}
	for _, pan := range pans {
		// The API key is a card number.
		g.post(outboundURL+"/payments", jsonCT, checkout, "X-Tokengate-Api-Key", pan)
		// Request id and trace headers carry one.
		r := g.post(outboundURL+"/payments", jsonCT, checkout, "X-Tokengate-Api-Key", apiKeyA, "X-Request-Id", pan,
			"Traceparent", "00-"+strings.Repeat("4", 32)+"-"+strings.Repeat("1", 16)+"-01", "Tracestate", "pan="+pan)
		if r.status != 400 || !strings.Contains(r.body, "pan_detected") {
			t.Logf("card number in headers: %d", r.status) // refused before detokenizing, as it should
		}
		// The token is a card number.
		g.post(outboundURL+"/payments", jsonCT, strings.Replace(checkout, tok, pan, 1), "X-Tokengate-Api-Key", apiKeyA)
	}
	if !pays(t, g, checkout) {
		t.Fatal("the card does not pay")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d audit lines", strings.Count(string(data), "\n"))
	if !strings.Contains(string(data), `"detokenize"`) {
		t.Fatalf("no detokenize entry:\n%s", data)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// Hashes are hex: mask them first, they are not card data.
		if masked := body.SafePath(line); masked != line {
			for _, pan := range pans {
				if strings.Contains(line, pan) || strings.Contains(line, strings.ReplaceAll(pan, " ", "")) {
					t.Errorf("audit line %d holds a card number: %s", i+1, line)
				}
			}
		}
	}
}
