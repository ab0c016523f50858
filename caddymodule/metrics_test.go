package caddymodule

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// scrape reads the admin endpoint's /metrics.
func (g *gateway) scrape() string {
	g.t.Helper()
	resp, err := g.client().Get(g.addr("http://localhost:2999/metrics"))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

// metricValue is the value of the series named exactly series, 0 if absent.
func metricValue(metrics, series string) float64 {
	for line := range strings.Lines(metrics) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}

// TestMetricsScraped: the collectors are on the admin endpoint's /metrics
// of a real Caddy, counted by rule set and outcome, with no card data and no
// token in any label. Counters are process-wide, so the test compares
// before and after.
func TestMetricsScraped(t *testing.T) {
	g := startGateway(t, "")
	before := g.scrape()
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if in.status != http.StatusOK {
		t.Fatalf("tokenize: %d %s", in.status, in.body)
	}
	g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)) // a repeat card
	g.post(inboundURL+"/checkout", jsonCT, `{"card":{"number":"4111111111111112"}}`)
	token := str(decode(t, in.body), "card.number")
	if out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA); out.status != http.StatusOK {
		t.Fatalf("detokenize: %d %s", out.status, out.body)
	}
	g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", "wrong")
	after := g.scrape()

	for series, want := range map[string]float64{
		`tokengate_tokenize_requests_total{outcome="tokenized",rule_set="checkout"}`:               2,
		`tokengate_tokenize_requests_total{outcome="refused",rule_set="checkout"}`:                 1,
		`tokengate_cards_tokenized_total{card="new",rule_set="checkout"}`:                          1,
		`tokengate_cards_tokenized_total{card="repeat",rule_set="checkout"}`:                       1,
		`tokengate_detokenize_requests_total{outcome="detokenized",rule_set="psp"}`:                1,
		`tokengate_detokenize_requests_total{outcome="unauthorized",rule_set="psp"}`:               1,
		`tokengate_network_calls_total{operation="provision",outcome="ok",provider="builtin"}`:     1,
		`tokengate_network_calls_total{operation="cryptogram",outcome="ok",provider="builtin"}`:    1,
		`tokengate_network_call_duration_seconds_count{operation="cryptogram",provider="builtin"}`: 1,
	} {
		if got := metricValue(after, series) - metricValue(before, series); got != want {
			t.Errorf("%s grew by %v, want %v", series, got, want)
		}
	}
	if !strings.Contains(after, "\ntokengate_cvvs_held ") {
		t.Error("/metrics lacks tokengate_cvvs_held")
	}
	// A bbolt vault has no change feed: no series that would read "0, not
	// listening" as an alert.
	if strings.Contains(after, "tokengate_vault_change_feed_listening") {
		t.Errorf("/metrics of a bbolt gateway has the change feed gauge:\n%s", grepLines(after, "tokengate_vault_change_feed"))
	}
	for _, secret := range []string{visaPAN, token, testCVV + `"`, apiKeyA, "tenant_a"} {
		if strings.Contains(after, secret) {
			t.Errorf("/metrics holds a card number, token, CVV, key or tenant (%d chars)", len(secret))
		}
	}
}

// grepLines is the lines of s that match pattern, for a failure message.
func grepLines(s, pattern string) string {
	re := regexp.MustCompile(pattern)
	var out []string
	for line := range strings.Lines(s) {
		if re.MatchString(line) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsSurviveARefusedReload: a reload tokengate refuses (a rules
// file that is not there) leaves the old config serving, and /metrics still
// has tokengate's series, counting the old config's requests, and Caddy's
// caddy_config_last_reload_successful 0 to alert on. (Caddy serves /metrics
// from the failed config's registry: see App.Provision.)
func TestMetricsSurviveARefusedReload(t *testing.T) {
	g := startGateway(t, "")
	series := `tokengate_tokenize_requests_total{outcome="tokenized",rule_set="checkout"}`
	g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	before := metricValue(g.scrape(), series)
	if err := g.tryLoad(strings.Replace(g.config("", defaultSites), "rules ", "rules /nonexistent/", 1), "caddyfile"); err == nil {
		t.Fatal("a config with a missing rules file loaded")
	}
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); r.status != http.StatusOK {
		t.Fatalf("the old config does not serve after the refused reload: %d", r.status)
	}
	after := g.scrape()
	if got := metricValue(after, series); got != before+1 {
		t.Fatalf("%s after a refused reload: %v, want %v", series, got, before+1)
	}
	if !strings.Contains(after, "\ncaddy_config_last_reload_successful 0") {
		t.Fatalf("caddy_config_last_reload_successful: %s", grepLines(after, "caddy_config_last_reload"))
	}
}
