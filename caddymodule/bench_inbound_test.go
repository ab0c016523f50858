package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// The in-process benchmarks of the repeat-customer path: bench/run's
// scenario (2), inbound tokenize of a card the vault already holds, and its
// ceiling (1), plain reverse_proxy of the same body, through a real Caddy in
// this process with bench/run's rules and sites, to an upstream that echoes
// the body (bench/upstream). The ratio of their ns/op is what bench/run
// reports, without wrk and the upstream process: Caddy's own cost.

// benchRepeatPAN is bench/run's REPEAT_PAN.
const benchRepeatPAN = "4242424242424242"

// benchRules is the rules file bench/run writes (its inbound part);
// benchCheckoutRules is its checkout set alone, which the outbound
// benchmarks put before their own set.
const benchRules = benchCheckoutRules + benchBulkRules

const benchCheckoutRules = `inbound:
  checkout:
    tenant: bench
    match:
      methods: [POST]
      paths: ["/checkout"]
    token_format: prefixed
    token_prefix: tok_
    fields:
      - {kind: pan, json: payment.card.number, form: card_number}
      - {kind: cvv, json: payment.card.cvc, form: card_cvc}
      - {kind: exp_month, json: payment.card.exp_month, form: card_exp_month}
      - {kind: exp_year, json: payment.card.exp_year, form: card_exp_year}
      - {kind: name, json: payment.card.name, form: card_name}
`

const benchBulkRules = `  bulk:
    tenant: bench
    match:
      methods: [POST]
      paths: ["/bulk"]
    max_cards: 2000
    fields:
      - {kind: pan, json: "cards.#.number"}
      - {kind: cvv, json: "cards.#.cvc"}
      - {kind: exp_month, json: "cards.#.exp_month"}
      - {kind: exp_year, json: "cards.#.exp_year"}
      - {kind: name, json: "cards.#.name"}
`

// benchBody is bench/bodies/<name> with the repeat card in it.
func benchBody(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "bench", "bodies", name))
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Replace(bytes.TrimRight(raw, "\n"), []byte("{{PAN}}"), []byte(benchRepeatPAN), 1)
}

// benchGateway is one Caddy in this process with bench/run's sites: :9080
// tokenize (checkout, bulk; max_body_size 4MB) and :9083 plain
// reverse_proxy, both to an echoing upstream.
type benchGateway struct {
	*gateway
	tokenize, plain string // URLs of /checkout
	parallelism     int    // b.SetParallelism's, when set
	// measure, when set, is called before each measured loop; what it
	// returns, after it (roundTrips).
	measure func(*testing.B) func()
}

// benchEchoUpstream starts bench/upstream's echo (200, the body, its
// Content-Type) and returns its host:port.
func benchEchoUpstream(b *testing.B) string {
	b.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
		_, _ = w.Write(raw)
	}))
	b.Cleanup(up.Close)
	return strings.TrimPrefix(up.URL, "http://")
}

func startBenchGateway(b *testing.B) *benchGateway {
	dir := b.TempDir()
	return startBenchGatewayOn(b, dir, "vault bolt "+filepath.Join(dir, "vault.db"))
}

// startBenchGatewayOn is startBenchGateway with backends, the tokengate
// block's lines naming the vault (and CVV store).
func startBenchGatewayOn(b *testing.B, dir, backends string) *benchGateway {
	b.Helper()
	upstream := benchEchoUpstream(b)

	g := &gateway{t: b, dir: dir}
	rules := g.writeFile("rules.yaml", benchRules)
	forgetKeys()
	g.load(`{
	persist_config off
	auto_https off
	log {
		level ERROR
	}
	tokengate {
		rules ` + rules + `
		` + backends + `
		api_key bench_key_0123456789abcdef bench
	}
}
http://:9083 {
	bind 127.0.0.1
	reverse_proxy ` + upstream + `
}
http://:9080 {
	bind 127.0.0.1
	tokenize checkout bulk {
		max_body_size 4MB
	}
	reverse_proxy ` + upstream + `
}
`)
	bg := &benchGateway{gateway: g,
		tokenize: g.addr("http://127.0.0.1:9080/checkout"),
		plain:    g.addr("http://127.0.0.1:9083/checkout")}
	// The vault holds the card before the measured requests: the first
	// request stores it.
	for _, kind := range []string{"json", "form"} {
		status, out := bg.send(b, bg.tokenize, kind, false)
		if status != http.StatusOK || strings.Contains(string(out), benchRepeatPAN) || !strings.Contains(string(out), "tok_") {
			b.Fatalf("pre-tokenizing the card (%s): %d %q", kind, status, out)
		}
	}
	return bg
}

// browserHeaders are what a browser sends with a checkout's fetch() besides
// the Content-Type (panguard.BenchmarkOutsideBrowserRequest's).
var browserHeaders = [][2]string{
	{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
	{"Accept", "application/json, text/plain, */*"},
	{"Accept-Language", "en-US,en;q=0.9"},
	{"Origin", "https://shop.example.com"},
	{"Referer", "https://shop.example.com/cart?step=3"},
	{"Cookie", "_ga=GA1.1.1234567890.1700000000; session=eyJhbGciOiJIUzI1NiJ9.abc.def; _fbp=fb.1.1700000000000.1234567890"},
	{"X-Request-Id", "5f0c2a9e-8d4b-4b7a-9a51-2f6f3c1d7e90"},
	{"Sec-Fetch-Mode", "cors"},
}

var benchBodies = struct {
	once       sync.Once
	json, form []byte
}{}

// send posts the checkout body of kind (json, form) to url, as bench/run's
// wrk does (Content-Type, Content-Length, Host; browser adds a browser's
// headers), and returns the status and the answer.
func (g *benchGateway) send(tb testing.TB, url, kind string, browser bool) (int, []byte) {
	benchBodies.once.Do(func() {
		benchBodies.json = benchBody(tb, "checkout.json")
		benchBodies.form = benchBody(tb, "checkout.form")
	})
	raw, ct := benchBodies.json, "application/json"
	if kind == "form" {
		raw, ct = benchBodies.form, "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	if browser {
		for _, h := range browserHeaders {
			req.Header.Set(h[0], h[1])
		}
	}
	resp, err := g.client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, out
}

// runHTTP posts the bodies to url in parallel (the client's connections
// kept alive), checking each answer.
func (g *benchGateway) runHTTP(b *testing.B, url string, tokenized bool) {
	for _, c := range []struct {
		name, kind string
		browser    bool
	}{{"json", "json", false}, {"form", "form", false}, {"json-browser", "json", true}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			if g.parallelism > 0 {
				b.SetParallelism(g.parallelism)
			}
			// The process's CPU time per request (Caddy, client and
			// upstream alike in both benchmarks): steadier than ns/op on a
			// machine other work shares, which stretches wall time.
			defer vaulttest.CPUPerOp(b)()
			if g.measure != nil {
				defer g.measure(b)()
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					status, out := g.send(b, url, c.kind, c.browser)
					if status != http.StatusOK || bytes.Contains(out, []byte(benchRepeatPAN)) == tokenized {
						b.Errorf("%d %q", status, out)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTokenizeRepeatHTTP is bench/run's scenario (2): a repeat card's
// checkout through the tokenize site (the PAN guard, body read and parse,
// fingerprint, vault cache, CVV hold, body edit, reverse_proxy). Allocations
// per op include the client's and the upstream's, as in
// BenchmarkPlainProxyInboundHTTP: compare the two.
func BenchmarkTokenizeRepeatHTTP(b *testing.B) {
	g := startBenchGateway(b)
	g.runHTTP(b, g.tokenize, true)
}

// BenchmarkPlainProxyInboundHTTP is the ceiling of BenchmarkTokenizeRepeatHTTP:
// the same requests through plain reverse_proxy.
func BenchmarkPlainProxyInboundHTTP(b *testing.B) {
	g := startBenchGateway(b)
	g.runHTTP(b, g.plain, false)
}

// BenchmarkTokenizeNewHTTP is bench/run's scenario (3): a checkout with a
// new card on every request (a unique Luhn-valid Visa PAN), so each one is
// sealed, given a network token by the built-in emulator and written to the
// bbolt vault durably (group commit, fdatasync) before the answer. About 16
// requests at a time, as bench/run's connections. Compare its ns/op with
// BenchmarkPlainProxyInboundHTTP/json.
func BenchmarkTokenizeNewHTTP(b *testing.B) {
	g := startBenchGateway(b)
	raw, err := os.ReadFile(filepath.Join("..", "bench", "bodies", "checkout.json"))
	if err != nil {
		b.Fatal(err)
	}
	head, tail, ok := bytes.Cut(bytes.TrimRight(raw, "\n"), []byte("{{PAN}}"))
	if !ok {
		b.Fatal("checkout.json has no {{PAN}}")
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	defer vaulttest.CPUPerOp(b)()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		body := make([]byte, 0, len(head)+len(tail)+16)
		for pb.Next() {
			pan := fmt.Sprintf("4%014d", 31_000_000_000_000+seq.Add(1))
			pan += string(card.LuhnDigit(pan))
			body = append(append(append(body[:0], head...), pan...), tail...)
			req, err := http.NewRequest(http.MethodPost, g.tokenize, bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := g.client().Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			out, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(pan)) || !bytes.Contains(out, []byte("tok_")) {
				b.Errorf("%d %q %v", resp.StatusCode, out, err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cards/s")
}
