package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/tokengate/tokengate/vault/vaulttest"
)

// The whole outbound path through a real Caddy in this process, as
// bench/run's scenario (4) drives it: the merchant posts
// bench/bodies/detokenize.json to a `detokenize psp` site, the tokengate
// transport delivers the network token and a fresh cryptogram from the
// builtin emulator to an echoing processor, and the response guard redacts
// the echo. BenchmarkPlainProxyHTTP is the same Caddy's plain
// reverse_proxy of the same body (bench/run's ceiling), so the ratio of
// the two ns/op is the one bench/run reports (without wrk's own CPU).
//
//	go test -run XXX -bench 'HTTP$' -benchmem ./caddymodule/

// outboundBench is a Caddy running bench/run's config: sites plain, tokenize
// (to pre-tokenize the repeat card) and detokenize, over a bbolt vault.
type outboundBench struct {
	plainURL, detokURL, apiKey string
	detokBody                  []byte
	detokFormBody              []byte
}

func startOutboundBench(b *testing.B) *outboundBench {
	dir := b.TempDir()
	return startOutboundBenchOn(b, dir, "vault bolt "+filepath.Join(dir, "vault.db"))
}

// startOutboundBenchOn is startOutboundBench with backends, the tokengate
// block's lines naming the vault (and CVV store).
func startOutboundBenchOn(b *testing.B, dir, backends string) *outboundBench {
	b.Helper()
	upAddr := benchEchoUpstream(b) // the stand-in processor

	ports := &testPorts{t: b}
	plain, tok, detok, admin := ports.port("plain"), ports.port("tok"), ports.port("detok"), ports.port("admin")
	const apiKey = "bench_key_0123456789"
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(benchCheckoutRules+`outbound:
  psp:
    match:
      methods: [POST]
      paths: ["/payments"]
    destinations: ["`+upAddr+`"]
    fallback: reject
    fields:
      - {kind: token, json: payment.card.number, form: card_number}
      - {kind: exp_month, json: payment.card.exp_month, form: card_exp_month}
      - {kind: exp_year, json: payment.card.exp_year, form: card_exp_year}
      - {kind: cryptogram, json: payment.card.cryptogram, form: card_cryptogram}
      - {kind: eci, json: payment.card.eci, form: card_eci}
`), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
	log {
		output discard
		level ERROR
	}
	tokengate {
		rules %s
		%s
		api_key %s bench
	}
}
http://:%d {
	bind 127.0.0.1
	reverse_proxy %s
}
http://:%d {
	bind 127.0.0.1
	tokenize checkout
	reverse_proxy %s
}
http://:%d {
	bind 127.0.0.1
	detokenize psp
	reverse_proxy %s {
		transport tokengate
	}
}
`, admin, rules, backends, apiKey, plain, upAddr, tok, upAddr, detok, upAddr)
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	if err != nil {
		b.Fatal(err)
	}
	forgetKeys()
	if err := caddy.Load(raw, false); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = caddy.Stop() })

	g := &outboundBench{
		plainURL: fmt.Sprintf("http://127.0.0.1:%d/payments", plain),
		detokURL: fmt.Sprintf("http://127.0.0.1:%d/payments", detok),
		apiKey:   apiKey,
	}
	// Pre-tokenize the repeat card, as bench/run does.
	checkout := benchBody(b, "checkout.json")
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/checkout", tok), "application/json", bytes.NewReader(checkout))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc struct {
		Payment struct{ Card struct{ Number string } }
	}
	if err := json.Unmarshal(body, &doc); err != nil || !strings.HasPrefix(doc.Payment.Card.Number, "tok_") {
		b.Fatalf("tokenize: HTTP %d, no token: %v", resp.StatusCode, err)
	}
	g.detokBody = bytes.Replace(benchBody(b, "detokenize.json"), []byte("{{TOKEN}}"), []byte(doc.Payment.Card.Number), 1)
	g.detokFormBody = bytes.Replace(benchBody(b, "detokenize.form"), []byte("{{TOKEN}}"), []byte(doc.Payment.Card.Number), 1)
	return g
}

// run posts body to url from parallel clients (keep-alive connections, like
// wrk's), checking every answer is a 200 that check accepts.
func (g *outboundBench) run(b *testing.B, url string, check func(http.Header) bool) {
	g.runBody(b, url, g.detokBody, "application/json", check)
}

// runBody is run with another body and its content type.
func (g *outboundBench) runBody(b *testing.B, url string, body []byte, contentType string, check func(http.Header) bool) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	client := &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(8) // bench/run's 16 connections on 2 cores
	b.ResetTimer()
	// The process's CPU per request, as the inbound benchmarks report it:
	// steadier than ns/op on a shared machine.
	defer vaulttest.CPUPerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			req.Header.Set("X-Tokengate-Api-Key", g.apiKey)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !check(resp.Header) {
				b.Errorf("HTTP %d, Tokengate-Injected %q", resp.StatusCode, resp.Header.Get("Tokengate-Injected"))
				return
			}
		}
	})
}

// BenchmarkDetokenizeHTTP: bench/run's (4) detokenize, JSON body. The
// allocations per op include the client's and the echo server's (the same
// in BenchmarkPlainProxyHTTP): the difference is the gateway's.
func BenchmarkDetokenizeHTTP(b *testing.B) {
	g := startOutboundBench(b)
	g.run(b, g.detokURL, func(h http.Header) bool {
		return strings.Contains(h.Get("Tokengate-Injected"), "=network_token")
	})
}

// BenchmarkDetokenizeFormHTTP: bench/run's (4) detokenize, form body.
func BenchmarkDetokenizeFormHTTP(b *testing.B) {
	g := startOutboundBench(b)
	g.runBody(b, g.detokURL, g.detokFormBody, "application/x-www-form-urlencoded", func(h http.Header) bool {
		return strings.Contains(h.Get("Tokengate-Injected"), "=network_token")
	})
}

// BenchmarkPlainProxyFormHTTP: bench/run's (1) plain reverse_proxy of the
// form body, the ceiling for BenchmarkDetokenizeFormHTTP.
func BenchmarkPlainProxyFormHTTP(b *testing.B) {
	g := startOutboundBench(b)
	g.runBody(b, g.plainURL, g.detokFormBody, "application/x-www-form-urlencoded", func(http.Header) bool { return true })
}

// BenchmarkPlainProxyHTTP: bench/run's (1) plain reverse_proxy of the same
// body, the ceiling.
func BenchmarkPlainProxyHTTP(b *testing.B) {
	g := startOutboundBench(b)
	g.run(b, g.plainURL, func(http.Header) bool { return true })
}
