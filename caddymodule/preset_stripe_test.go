package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"go/build"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82"
)

// stripeMockBinary finds stripe-mock (github.com/stripe/stripe-mock, which
// embeds Stripe's OpenAPI document and validates requests against it):
// $TOKENGATE_STRIPE_MOCK, then $PATH, then $GOPATH/bin, where
// `go install github.com/stripe/stripe-mock@v0.203.0` puts it (.ci/run does).
func stripeMockBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TOKENGATE_STRIPE_MOCK"); p != "" {
		return p
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	for _, dir := range filepath.SplitList(gopath) {
		if p := filepath.Join(dir, "bin", "stripe-mock"); fileExists(p) {
			return p
		}
	}
	if requireServices() {
		t.Fatal("stripe-mock is required (TOKENGATE_REQUIRE_SERVICES=1) and not found: go install github.com/stripe/stripe-mock@v0.203.0")
	}
	t.Skip("stripe-mock not found (go install github.com/stripe/stripe-mock@v0.203.0, or set TOKENGATE_STRIPE_MOCK)")
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// startStripeMock runs stripe-mock on a port the kernel chooses (it binds
// without SO_REUSEPORT, so it cannot take a port the harness reserved) and
// returns its address, read from its "Listening for HTTP at address" line.
func startStripeMock(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(stripeMockBinary(t), "-http-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting stripe-mock: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, a, ok := strings.Cut(sc.Text(), "Listening for HTTP at address: "); ok {
				addr <- strings.TrimSpace(a)
			}
		}
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("stripe-mock did not start listening within 30s")
	}
	return ""
}

// stripeTap forwards to stripe-mock what the gateway sends, keeping the
// last form body, so the test sees what the processor received as well as
// stripe-mock's verdict on it.
type stripeTap struct {
	mu   sync.Mutex
	last string
}

func (s *stripeTap) body() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// startStripeTap serves the tap on the test port named by addr, in front
// of stripe-mock at mock.
func (g *gateway) startStripeTap(addr, mock string) *stripeTap {
	tap := &stripeTap{}
	target, _ := url.Parse("http://" + mock)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tap.mu.Lock()
		tap.last = string(b)
		tap.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	ln := g.listen(addr)
	go func() { _ = srv.Serve(ln) }()
	g.t.Cleanup(func() { _ = srv.Close() })
	return tap
}

// headerTransport adds the merchant's gateway API key to what stripe-go
// sends, as a merchant's http.Client for the gateway would.
type headerTransport struct{ key string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Tokengate-Api-Key", h.key)
	return http.DefaultTransport.RoundTrip(r)
}

// stripeRules is the rules file of TestStripePresetStripeMock: the
// checkout inbound set and the stripe preset, sending to the tap (9083).
const stripeRules = `inbound:
  checkout:
    tenant: tenant_a
    match: {methods: [POST], paths: ["/checkout"]}
    fields:
      - {kind: pan, json: card.number}
      - {kind: cvv, json: card.cvc}
      - {kind: exp_month, json: card.exp_month}
      - {kind: exp_year, json: card.exp_year}
      - {kind: name, json: card.name}
outbound:
  stripe:
    preset: stripe
    destinations: ["localhost:9083"]
    fallback: pan
`

// TestStripePresetStripeMock: the stripe preset through a real Caddy, with
// stripe-mock as the processor and stripe-go (v82.5.1) as the merchant's
// client creating a PaymentMethod with its token as the card number. Every
// card, with a network token (Visa, Mastercard, Amex) or without, goes as
// its PAN with its expiry and held CVV, and stripe-mock, which validates
// each parameter against Stripe's OpenAPI document, answers 200.
func TestStripePresetStripeMock(t *testing.T) {
	mock := startStripeMock(t)
	// stripe-mock refuses what the spec does not allow: a token where
	// exp_month's integer goes.
	req, _ := http.NewRequest(http.MethodPost, "http://"+mock+"/v1/payment_methods",
		strings.NewReader("type=card&card[number]=4242424242424242&card[exp_month]=tok_x&card[exp_year]=2030"))
	req.Header.Set("Content-Type", formCT)
	req.Header.Set("Authorization", "Bearer sk_test_tokengate")
	bad, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != http.StatusBadRequest {
		t.Fatalf("stripe-mock took a malformed card: %d", bad.StatusCode)
	}
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	tap := g.startStripeTap(":9083", mock)
	rulesPath := g.writeFile("stripe-rules.yaml", stripeRules)
	g.load(fmt.Sprintf(`{
	log {
		output file %s
		level DEBUG
	}
	tokengate {
		rules %s
		%s
		api_key %s tenant_a
	}
}
:9080 {
	tokenize
	respond "{http.request.body}"
}
:9081 {
	detokenize
	reverse_proxy localhost:9083 {
		transport tokengate
	}
}`, g.logFile, rulesPath, g.vaultBlock(), apiKeyA))

	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:               stripe.String(g.addr(outboundURL)),
		HTTPClient:        &http.Client{Transport: headerTransport{apiKeyA}, Timeout: 30 * time.Second},
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	sc := stripe.NewClient("sk_test_tokengate", stripe.WithBackends(backends))

	for _, tc := range []struct{ name, pan, cvv string }{
		{"visa network token", visaPAN, "123"},
		{"mastercard network token", "5555555555554444", "123"},
		{"amex network token", "378282246310005", "1234"},
		{"visa without network token", "4539097887163333", "123"},
		{"mastercard without network token", "5325191087030619", "123"},
		{"amex without network token", "373555735376156", "1234"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := g.post(inboundURL+"/checkout", jsonCT, strings.Replace(checkoutJSON(tc.pan), `"cvc":"`+testCVV+`"`, `"cvc":"`+tc.cvv+`"`, 1))
			token := str(decode(t, in.body), "card.number")
			if in.status != http.StatusOK || !strings.HasPrefix(token, "tok_") {
				t.Fatalf("checkout: %d %s", in.status, in.body)
			}
			// The merchant's ordinary stripe-go call, its token where
			// the card number goes. It holds no CVV, and leaves the
			// expiry to the preset (the card's own, from the vault): a
			// 4-digit year the merchant sent would, with an Amex CVV
			// sent, come back masked by the response guard, and
			// Stripe's integer exp_year with it (README).
			pm, err := sc.V1PaymentMethods.Create(context.Background(), &stripe.PaymentMethodCreateParams{
				Type: stripe.String(string(stripe.PaymentMethodTypeCard)),
				Card: &stripe.PaymentMethodCreateCardParams{Number: stripe.String(token)},
			})
			if err != nil {
				t.Fatalf("stripe-mock refused the request: %v", err)
			}
			if pm.LastResponse.StatusCode != http.StatusOK || !strings.HasPrefix(pm.ID, "pm_") {
				t.Fatalf("stripe-mock: %d %s", pm.LastResponse.StatusCode, pm.ID)
			}
			h := pm.LastResponse.Header.Get(InjectedHeader)
			if want := "card[number]=pan;reason=processor_takes_no_network_token"; h != want {
				t.Errorf("%s: %q, want %q", InjectedHeader, h, want)
			}
			got, err := url.ParseQuery(tap.body())
			if err != nil {
				t.Fatal(err)
			}
			if got.Get("card[number]") != tc.pan || got.Get("card[exp_month]") != "3" || got.Get("card[exp_year]") != "2030" || got.Get("card[cvc]") != tc.cvv || got.Get("type") != "card" {
				t.Errorf("stripe-mock got: PAN %v, expiry %s/%s, CVV %v, type %q",
					got.Get("card[number]") == tc.pan, got.Get("card[exp_month]"), got.Get("card[exp_year]"), got.Get("card[cvc]") == tc.cvv, got.Get("type"))
			}
			noValue(t, h, token, tc.pan, tc.cvv)
		})
	}
}
