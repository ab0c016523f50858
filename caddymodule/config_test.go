package caddymodule

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/card"
)

// TestReloadUnderLoad reloads the config while requests flow. What is ours
// to prove: every request that reaches the gateway is served (a 200 with a
// token: the bbolt file and held CVVs are shared through the reload, never
// reopened, which would time out), and no request gets a gateway error.
// Caddy's listener handoff itself resets a few connections on a reload before
// any handler sees them (about 0.5% on loopback with a plain `respond` site,
// without tokengate); a client retries those, as tokenizing is idempotent
// (the same card gives the same token), and the test does the same.
func TestReloadUnderLoad(t *testing.T) {
	g := startGateway(t, "")
	cfg := g.config("", defaultSites)
	// A card without a network token, whose CVV is held across the reloads.
	held := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333"))
	stop := make(chan struct{})
	var served, refused, resets atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pan := luhnComplete(fmt.Sprintf("4111%02d%09d", w, i))
				status, transportErrs := postRetrying(g, inboundURL+"/checkout", checkoutJSON(pan))
				resets.Add(int64(transportErrs))
				if status == http.StatusOK {
					served.Add(1)
				} else {
					refused.Add(1)
					t.Logf("request %d/%d: status %d after %d transport errors", w, i, status, transportErrs)
				}
			}
		}(w)
	}
	// Requests flow before, between and after the reloads: each step waits
	// for some to be served (not for a time a busy machine may not keep).
	flowing := func() {
		t.Helper()
		want, deadline := served.Load()+20, time.Now().Add(time.Minute)
		for served.Load() < want && refused.Load() == 0 {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("20 requests were not served within a minute (%d served)", served.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i := 0; i < 3; i++ {
		flowing()
		// A config that differs (a comment is not enough: Caddy ignores
		// identical configs) forces a real reload.
		g.load(strings.Replace(cfg, "tokengate {", fmt.Sprintf("tokengate {\n\t\tprovision_timeout %ds", i+1), 1))
	}
	flowing()
	close(stop)
	wg.Wait()
	t.Logf("%d requests across 3 reloads; %d connections reset by the listener handoff and retried", served.Load(), resets.Load())
	if refused.Load() > 0 || served.Load() == 0 {
		t.Fatalf("during reloads %d requests were served and %d were not", served.Load(), refused.Load())
	}
	out := g.post(outboundURL+"/payments", jsonCT, held.body, "X-Tokengate-Api-Key", apiKeyA)
	if str(decode(t, out.body), "card.cvc") != testCVV {
		t.Fatalf("the CVV held before the reloads is gone: %d %s", out.status, out.header.Get(InjectedHeader))
	}
}

// postRetrying posts on a new connection, retrying (up to 10 times) only
// when no response came back at all; it returns the final status.
func postRetrying(g *gateway, url, body string) (status, transportErrs int) {
	for attempt := 0; attempt < 10; attempt++ {
		req, _ := http.NewRequest(http.MethodPost, g.addr(url), strings.NewReader(body))
		req.Header.Set("Content-Type", jsonCT)
		req.Close = true
		resp, err := g.client().Do(req)
		if err != nil {
			transportErrs++
			time.Sleep(10 * time.Millisecond)
			continue
		}
		resp.Body.Close()
		return resp.StatusCode, transportErrs
	}
	return 0, transportErrs
}

// luhnComplete appends the Luhn check digit.
func luhnComplete(partial string) string { return partial + string(card.LuhnDigit(partial)) }

// TestNothingLeaks runs complete flows, good and bad, with debug logging and
// checks that no PAN, CVV, DPAN or cryptogram appears in any log line, error
// body or response header.
func TestNothingLeaks(t *testing.T) {
	g := startGateway(t, "")
	secrets := []string{visaPAN, "5555555555554444", "4539097887163333", "4111111111111112"}
	var headers []string
	record := func(r reply) reply {
		for k, v := range r.header {
			headers = append(headers, k+": "+strings.Join(v, ","))
		}
		return r
	}
	for _, pan := range secrets[:3] {
		in := record(g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(pan)))
		out := record(g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA))
		psp := decode(t, out.body)
		for _, s := range []string{str(psp, "card.number"), str(psp, "card.cryptogram")} {
			if s != "" {
				secrets = append(secrets, s)
			}
		}
	}
	var errorBodies []string
	for _, r := range []reply{
		g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4111111111111112")),
		g.post(inboundURL+"/checkout", jsonCT, `{"card":{"number":"4111111111111111","cvc":"12345"}}`),
		g.post(inboundURL+"/checkout", jsonCT, `{"card":{"number":"4111111111111111","exp_month":"13","exp_year":"2030"}}`),
		g.post(outboundURL+"/payments", jsonCT, `{"card":{"number":"4111111111111111"}}`, "X-Tokengate-Api-Key", apiKeyA),
		g.post(outboundURL+"/payments", jsonCT, `{"card":{"number":"4111111111111111"}}`),
		g.post(inboundURL+"/checkout", jsonCT, `{"card":{"number":"4111111111111111","number":"5555555555554444"}}`),
		g.post(inboundURL+"/checkout", jsonCT, `{"card":{"number":"4111111111111111"},"note":"5555 5555 5555 4444"}`),
		g.post(inboundURL+"/checkout?pan=5555555555554444", jsonCT, `{}`),
		g.post(inboundURL+"/checkout", "application/octet-stream", "\x00%zz 4111111111111111"),
		g.post(inboundURL+"/checkout", formCT, "card_number=4111111111111111&card_number=5555555555554444&card_cvc=12345"),
	} {
		record(r)
		if r.status < 400 {
			t.Fatalf("expected an error, got %d %s", r.status, r.body)
		}
		errorBodies = append(errorBodies, r.body)
	}
	logs := g.log()
	if !strings.Contains(logs, `"detokenized"`) {
		t.Fatal("the debug log has no detokenize audit line; is logging wired?")
	}
	places := map[string]string{"log": logs, "error bodies": strings.Join(errorBodies, "\n"), "headers": strings.Join(headers, "\n")}
	// The 5-digit CVV is looked for as a value of its own, not inside a
	// longer run of digits or letters: "12345" also occurs in timestamps
	// (1796612345.1) and in request ids, which made this test fail now and
	// then on nothing.
	cvv5 := regexp.MustCompile(`(^|[^0-9A-Za-z])12345($|[^0-9A-Za-z])`)
	for where, text := range places {
		for _, s := range append(secrets, `"`+testCVV+`"`) {
			if strings.Contains(text, s) {
				t.Errorf("%s contain card data (%d chars)", where, len(s))
			}
		}
		if cvv5.MatchString(text) {
			t.Errorf("%s contain the 5-digit CVV", where)
		}
	}
}

// TestDestinationsEnforced: a reverse_proxy after detokenize that goes
// anywhere the rule set does not name fails the config load.
func TestDestinationsEnforced(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	cfg := g.config("", `
:9081 {
	detokenize psp
	reverse_proxy localhost:9999 {
		transport tokengate
	}
}`)
	assertLoadError(t, cfg, `sends to localhost:9999, which outbound rule set`)
}

func TestBadRulesFileNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("inbound:\n  checkout:\n    fields:\n      - {kind: pam, json: card.number}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{
	tokengate {
		rules %s
		vault bolt %s
	}
}
:9080 {
	tokenize
	respond "ok"
}`, bad, filepath.Join(dir, "vault.db"))
	assertLoadError(t, cfg, "bad.yaml:4")
}

func TestCaddyfileErrorsNameLine(t *testing.T) {
	assertLoadError(t, `{
	tokengate {
		rules x.yaml
		frobnicate yes
	}
}`, "Caddyfile:4")
}

// TestJSONConfig runs the same flow from a JSON config.
func TestJSONConfig(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	dir, rulesPath := g.dir, g.copyFile("testdata/rules.yaml")
	g.loadJSON(fmt.Sprintf(`{
  "apps": {
    "tokengate": {
      "rules": %q,
      "vault": {"backend": "bolt", "path": %q},
      "api_keys": [{"key": %q, "tenant": "tenant_a"}],
      "networks": [{"provider": "builtin", "eci": {"visa": "05"}}]
    },
    "http": {"servers": {
      "in": {"listen": [":9080"], "routes": [{"handle": [
        {"handler": "tokenize", "rule_sets": ["checkout"]},
        {"handler": "static_response", "body": "{http.request.body}"}]}]},
      "out": {"listen": [":9081"], "routes": [{"handle": [
        {"handler": "detokenize", "rule_sets": ["psp"]},
        {"handler": "reverse_proxy", "transport": {"protocol": "tokengate"}, "upstreams": [{"dial": "localhost:9082"}]}]}]},
      "psp": {"listen": [":9082"], "routes": [{"handle": [
        {"handler": "static_response", "body": "{http.request.body}"}]}]}
    }}
  }
}`, rulesPath, filepath.Join(dir, "vault.db"), apiKeyA))
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	psp := decode(t, out.body)
	assertNetworkToken(t, str(psp, "card.number"), visaPAN)
	if str(psp, "card.eci") != "05" {
		t.Fatalf("configured ECI not used: %s", out.body)
	}
}

// TestReloadPicksUpRulesChanges: after the rules file changes, reloading the
// same Caddyfile applies the new rules (the adapted config carries the
// files' hash, so Caddy does not skip it as unchanged).
func TestReloadPicksUpRulesChanges(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	cfg := g.config("", defaultSites) // with a copy of the rules in g.dir
	rulesPath := filepath.Join(g.dir, "rules.yaml")
	data, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	g.load(cfg)
	// No rule set matches /pay yet: unmatched reject refuses the card.
	if r := g.post(inboundURL+"/pay", jsonCT, checkoutJSON(visaPAN)); strings.Contains(r.body, "tok_") || !strings.Contains(r.body, "pan_detected") {
		t.Fatal("/pay is a tokenized route already; the test proves nothing")
	}
	edited := strings.Replace(string(data), `paths: ["/checkout"]`, `paths: ["/pay"]`, 1)
	if err := os.WriteFile(rulesPath, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	g.load(cfg)
	if r := g.post(inboundURL+"/pay", jsonCT, checkoutJSON(visaPAN)); strings.Contains(r.body, visaPAN) || !strings.Contains(r.body, "tok_") {
		t.Fatalf("after reload /pay is still not tokenized: %s", r.body)
	}
}
