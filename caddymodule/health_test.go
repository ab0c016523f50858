package caddymodule

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/apitest"
)

// healthSites are the default sites and a site of probes only, with no
// tokenize and no detokenize, as a deployment would give its load balancer
// and its kubelet.
const healthSites = defaultSites + `
:9083 {
	handle /healthz/ready {
		tokengate_health ready
	}
	handle /healthz/live {
		tokengate_health live
	}
}`

const (
	readyURL = "http://localhost:9083/healthz/ready"
	liveURL  = "http://localhost:9083/healthz/live"
)

// probe sends a request with method to url (a named test port).
func (g *gateway) probe(method, url string) reply {
	g.t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	return g.do(req)
}

// waitHealth probes url until it answers status (bounded generously: the
// retry backoff starts at half a second and doubles, the ping cache holds
// an answer for a second), and returns the answer.
func waitHealth(t *testing.T, g *gateway, url string, status int) reply {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := g.probe(http.MethodGet, url)
		if r.status == status {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answers %d after 30 s, want %d: %s", url, r.status, status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// healthBody decodes a health answer and checks the fields every answer
// has.
func healthBody(t *testing.T, r reply, check, status string) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("health answer headers: %v", r.header)
	}
	m := decode(t, r.body)
	if str(m, "check") != check || str(m, "status") != status {
		t.Fatalf("health answer: want check %s, status %s: %s", check, status, r.body)
	}
	return m
}

// names returns a JSON list of strings.
func names(m map[string]any, key string) []string {
	var out []string
	list, _ := m[key].([]any)
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// healthComponent returns the named component of a decoded answer.
func healthComponent(t *testing.T, m map[string]any, name string) map[string]any {
	t.Helper()
	list, _ := m["components"].([]any)
	for _, c := range list {
		if c, _ := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	t.Fatalf("no component %q in %v", name, m)
	return nil
}

// noSecrets fails if a health answer holds any of secrets (a DSN, a host,
// a port...).
func noSecrets(t *testing.T, body string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(body, s) {
			t.Fatalf("the health answer holds %q: %s", s, body)
		}
	}
}

// TestHealthReady: on bbolt with the memory CVV store and the builtin
// service, readiness and liveness answer 200 with every component ready;
// HEAD answers the same without a body; other methods 405; the gauges say
// ready. A probe in a site that tokenizes (unmatched reject) reaches the
// handler before tokenize, and quiet leaves the components out.
func TestHealthReady(t *testing.T) {
	g := startGatewaySites(t, "", healthSites+`
:9084 {
	tokengate_health /healthz ready {
		quiet
	}
	tokenize {
		unmatched reject
	}
	respond "{http.request.body}"
}`)
	r := g.probe(http.MethodGet, readyURL)
	if r.status != http.StatusOK {
		t.Fatalf("ready: %d %s", r.status, r.body)
	}
	m := healthBody(t, r, "ready", "ready")
	if m["ready"] != true || str(m, "state") != "ready" || len(names(m, "not_ready")) != 0 || len(names(m, "degraded")) != 0 || str(m, "since") == "" {
		t.Fatalf("ready: %s", r.body)
	}
	for name, backend := range map[string]string{"vault": "bolt", "cvv_store": "memory", "network builtin": "builtin"} {
		if c := healthComponent(t, m, name); c["backend"] != backend || c["state"] != "ready" || c["required"] != true || c["reason"] != nil {
			t.Fatalf("component %s: %v", name, c)
		}
	}
	noSecrets(t, r.body, g.dir, "vault.db", "dev-keyset")

	head := g.probe(http.MethodHead, readyURL)
	if head.status != http.StatusOK || head.body != "" || head.header.Get("Content-Type") != "application/json" {
		t.Fatalf("HEAD ready: %d %v %q", head.status, head.header, head.body)
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if r := g.probe(method, readyURL); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
			t.Fatalf("%s ready: %d %v %s", method, r.status, r.header, r.body)
		}
	}
	if r := g.post(readyURL, jsonCT, checkoutJSON(visaPAN)); r.status != http.StatusMethodNotAllowed || strings.Contains(r.body, visaPAN) {
		t.Fatalf("a card posted to the probe: %d %s", r.status, r.body)
	}

	live := g.probe(http.MethodGet, liveURL)
	if live.status != http.StatusOK {
		t.Fatalf("live: %d %s", live.status, live.body)
	}
	if m := healthBody(t, live, "live", "alive"); str(m, "state") != "ready" {
		t.Fatalf("live: %s", live.body)
	}

	quiet := g.probe(http.MethodGet, "http://localhost:9084/healthz")
	if quiet.status != http.StatusOK {
		t.Fatalf("probe in a tokenize site: %d %s", quiet.status, quiet.body)
	}
	if m := healthBody(t, quiet, "ready", "ready"); m["components"] != nil {
		t.Fatalf("quiet: %s", quiet.body)
	}
	// tokenize still guards the rest of that site.
	if r := g.post("http://localhost:9084/checkout", jsonCT, checkoutJSON(visaPAN)); r.status != http.StatusOK || strings.Contains(r.body, visaPAN) {
		t.Fatalf("a checkout in the site with the probe: %d %s", r.status, r.body)
	}

	metrics := g.scrape()
	for series, want := range map[string]float64{
		`tokengate_ready`: 1,
		`tokengate_component_ready{component="vault"}`:           1,
		`tokengate_component_ready{component="cvv_store"}`:       1,
		`tokengate_component_ready{component="network builtin"}`: 1,
	} {
		if got := metricValue(metrics, series); got != want || !strings.Contains(metrics, series+" ") {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// TestHealthPostgresDown: PostgreSQL does not answer when Caddy starts:
// readiness is 503 naming the vault (and the CVV store and the builtin
// service, not opened before it), liveness 200; once the database answers, readiness is
// 200 without a restart. Then the database goes away under the running
// gateway: readiness turns 503 (the ping), liveness stays 200, and back.
// No answer holds the DSN, the host, the port, the user or the database.
func TestHealthPostgresDown(t *testing.T) {
	dsn, proxied, proxy := pgProxied(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(proxy.ln.Addr().String(), ":")
	secrets := []string{dsn, proxied, proxy.ln.Addr().String(), port, "5432", "127.0.0.1", "postgres://", cfg.User + "@", cfg.Password, cfg.Database, "dial", "connect"}
	proxy.setCut(true)
	g := &gateway{t: t, dir: t.TempDir(), vault: "dev_keyset_file " + filepath.Join(t.TempDir(), "dev.json") +
		"\n\t\tvault postgres {\n\t\t\tdsn " + proxied + "\n\t\t}"}
	g.start("", healthSites)

	r := g.probe(http.MethodGet, readyURL)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("ready with the database down: %d %s", r.status, r.body)
	}
	noSecrets(t, r.body, secrets...)
	m := healthBody(t, r, "ready", "not_ready")
	if m["ready"] != false || str(m, "state") != "waiting" || !slices.Equal(names(m, "not_ready"), []string{"vault", "cvv_store", "network builtin"}) ||
		len(names(m, "degraded")) != 0 {
		t.Fatalf("ready with the database down: %s", r.body)
	}
	if c := healthComponent(t, m, "vault"); c["backend"] != "postgres" || c["state"] != "waiting" || c["reason"] != reasonUnreachable || c["attempts"] == nil {
		t.Fatalf("the vault with the database down: %v", c)
	}
	if head := g.probe(http.MethodHead, readyURL); head.status != http.StatusServiceUnavailable || head.body != "" {
		t.Fatalf("HEAD ready with the database down: %d %q", head.status, head.body)
	}
	live := g.probe(http.MethodGet, liveURL)
	if live.status != http.StatusOK {
		t.Fatalf("live with the database down: %d %s", live.status, live.body)
	}
	noSecrets(t, live.body, secrets...)
	if m := healthBody(t, live, "live", "alive"); str(m, "state") != "waiting" {
		t.Fatalf("live with the database down: %s", live.body)
	}
	metrics := g.scrape()
	if metricValue(metrics, "tokengate_ready") != 0 || !strings.Contains(metrics, "tokengate_ready 0") ||
		!strings.Contains(metrics, `tokengate_component_ready{component="vault"} 0`) {
		t.Fatal("the gauges with the database down do not say the vault is not ready")
	}

	proxy.setCut(false)
	r = waitHealth(t, g, readyURL, http.StatusOK)
	noSecrets(t, r.body, secrets...)
	if m := healthBody(t, r, "ready", "ready"); str(m, "state") != "ready" || len(names(m, "not_ready")) != 0 {
		t.Fatalf("ready once the database answers: %s", r.body)
	}
	if metricValue(g.scrape(), "tokengate_ready") != 1 {
		t.Fatal("tokengate_ready is not 1 once the database answers")
	}

	// The database goes away under the running gateway.
	proxy.setCut(true)
	r = waitHealth(t, g, readyURL, http.StatusServiceUnavailable)
	noSecrets(t, r.body, secrets...)
	m = healthBody(t, r, "ready", "not_ready")
	if c := healthComponent(t, m, "vault"); !slices.Equal(names(m, "not_ready"), []string{"vault"}) || c["state"] != "waiting" || c["reason"] != reasonNotAnswering {
		t.Fatalf("ready with the database gone: %s", r.body)
	}
	if live := g.probe(http.MethodGet, liveURL); live.status != http.StatusOK {
		t.Fatalf("live with the database gone: %d %s", live.status, live.body)
	}
	proxy.setCut(false)
	waitHealth(t, g, readyURL, http.StatusOK)
}

// TestHealthRedisDown: the same with Redis, the CVV store, down at start:
// 503 naming the CVV store (and the builtin service, opened after it), 200
// once it answers; 503 again when it goes away, and 200.
func TestHealthRedisDown(t *testing.T) {
	if !redisReachable() {
		if requireServices() {
			t.Fatal("Redis is required (TOKENGATE_REQUIRE_SERVICES=1) and not reachable at 127.0.0.1:6379")
		}
		t.Skip("Redis not reachable at 127.0.0.1:6379: start it to run this test")
	}
	proxy := newCuttable(t, "127.0.0.1:6379")
	_, port, _ := strings.Cut(proxy.ln.Addr().String(), ":")
	secrets := []string{proxy.ln.Addr().String(), port, "6379", "127.0.0.1", t.Name()}
	proxy.setCut(true)
	dir := t.TempDir()
	g := &gateway{t: t, dir: dir, vault: "vault bolt " + filepath.Join(dir, "v.db") +
		"\n\t\tcvv_store redis {\n\t\t\taddress " + proxy.ln.Addr().String() + "\n\t\t\tprefix " + t.Name() + ":\n\t\t}"}
	g.start("", healthSites)

	r := g.probe(http.MethodGet, readyURL)
	noSecrets(t, r.body, append(secrets, dir)...)
	m := healthBody(t, r, "ready", "not_ready")
	if r.status != http.StatusServiceUnavailable || !slices.Equal(names(m, "not_ready"), []string{"cvv_store", "network builtin"}) {
		t.Fatalf("ready with Redis down: %d %s", r.status, r.body)
	}
	if c := healthComponent(t, m, "cvv_store"); c["backend"] != "redis" || c["state"] != "waiting" || c["reason"] != reasonUnreachable {
		t.Fatalf("the CVV store with Redis down: %v", c)
	}
	if live := g.probe(http.MethodGet, liveURL); live.status != http.StatusOK {
		t.Fatalf("live with Redis down: %d %s", live.status, live.body)
	}
	proxy.setCut(false)
	r = waitHealth(t, g, readyURL, http.StatusOK)
	noSecrets(t, r.body, secrets...)
	proxy.setCut(true)
	r = waitHealth(t, g, readyURL, http.StatusServiceUnavailable)
	if m := healthBody(t, r, "ready", "not_ready"); !slices.Equal(names(m, "not_ready"), []string{"cvv_store"}) {
		t.Fatalf("ready with Redis gone: %s", r.body)
	}
	proxy.setCut(false)
	waitHealth(t, g, readyURL, http.StatusOK)
}

// TestHealthPingCache: probes in a burst share one ping per service.
func TestHealthPingCache(t *testing.T) {
	var c pingCache
	p := &countingPinger{}
	for range 10 {
		if err := c.ping(t.Context(), "vault", p); err != nil {
			t.Fatal(err)
		}
	}
	if p.n != 1 {
		t.Fatalf("%d pings for 10 probes within the cache's second", p.n)
	}
	c.last["vault"] = pingAnswer{at: time.Now().Add(-pingCacheFor)}
	_ = c.ping(t.Context(), "vault", p)
	if p.n != 2 {
		t.Fatalf("%d pings; an answer older than the cache's second was reused", p.n)
	}
}

type countingPinger struct{ n int }

func (p *countingPinger) Ping(context.Context) error { p.n++; return nil }

// TestHealthConfig: the directive's arguments and options; a JSON config
// without the tokengate app: readiness 503, liveness 200.
func TestHealthConfig(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	for cfg, want := range map[string]string{
		"tokengate_health sideways":         "want ready or live",
		"tokengate_health ready live":       "wrong argument count",
		"tokengate_health {\n\t\tloud\n\t}": "unrecognized tokengate_health option",
	} {
		g.loadError(g.config("", ":9083 {\n\t"+cfg+"\n}"), want)
	}
	assertLoadError(t, ":9083 {\n\ttokengate_health\n}", "needs the tokengate global option")

	g = &gateway{t: t}
	g.loadJSON(`{"apps":{"http":{"servers":{"s":{"listen":[":9083"],"routes":[
		{"match":[{"path":["/healthz/ready"]}],"handle":[{"handler":"tokengate_health"}]},
		{"match":[{"path":["/healthz/live"]}],"handle":[{"handler":"tokengate_health","check":"live"}]}]}}}}}`)
	r := g.probe(http.MethodGet, readyURL)
	if m := healthBody(t, r, "ready", "not_ready"); r.status != http.StatusServiceUnavailable || !slices.Equal(names(m, "not_ready"), []string{"tokengate"}) {
		t.Fatalf("ready without the app: %d %s", r.status, r.body)
	}
	if r := g.probe(http.MethodGet, liveURL); r.status != http.StatusOK {
		t.Fatalf("live without the app: %d %s", r.status, r.body)
	}
	if err := g.tryLoad(`{"apps":{"http":{"servers":{"s":{"listen":[":9083"],"routes":[{"handle":[{"handler":"tokengate_health","check":"deep"}]}]}}}}}`, "json"); err == nil ||
		!strings.Contains(err.Error(), "want ready or live") {
		t.Fatalf("check deep: %v", err)
	}
}

// TestHealthBreaker: a provider's client is not required: while its
// circuit breaker is open (the provider does not answer; cards are stored
// vault-only) readiness stays 200 and lists it under degraded, with the
// breaker's state, and its gauge is 0. The provider's URL is not in the
// answer.
func TestHealthBreaker(t *testing.T) {
	sb := apitest.NewJuspaySandbox(t, "shop", "jp_key")
	dir := t.TempDir()
	pub, _ := x509.MarshalPKIXPublicKey(sb.ServerKey)
	priv, _ := x509.MarshalPKCS8PrivateKey(sb.MerchantKey)
	pubFile, privFile := filepath.Join(dir, "juspay.pub.pem"), filepath.Join(dir, "merchant.pem")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
	os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600)
	down := newCuttable(t, "127.0.0.1:1") // answers nothing: every connection is closed
	down.setCut(true)
	baseURL := "http://" + down.ln.Addr().String()
	g := startGatewaySites(t, "network juspay {\n\t\t\tbase_url "+baseURL+"\n\t\t\tapi_key jp_key\n\t\t\tmerchant_id shop\n\t\t\tjwe_key "+sb.ServerKID+" "+pubFile+
		"\n\t\t\tprivate_key "+sb.MerchantKID+" "+privFile+"\n\t\t}", healthSites)

	r := g.probe(http.MethodGet, readyURL)
	m := healthBody(t, r, "ready", "ready")
	if c := healthComponent(t, m, "network juspay"); r.status != http.StatusOK || c["breaker"] != "closed" || c["required"] != false || len(names(m, "degraded")) != 0 {
		t.Fatalf("ready with the provider's breaker closed: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
		if in.status != http.StatusOK {
			t.Fatalf("tokenize with the provider down: %d %s", in.status, in.body)
		}
		r = g.probe(http.MethodGet, readyURL)
		if m = decode(t, r.body); healthComponent(t, m, "network juspay")["breaker"] == "open" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the breaker is not open after 30 s of failures: %s", r.body)
		}
	}
	noSecrets(t, r.body, baseURL, down.ln.Addr().String(), "jp_key", "shop", dir)
	if r.status != http.StatusOK || str(m, "status") != "ready" || !slices.Equal(names(m, "degraded"), []string{"network juspay"}) || len(names(m, "not_ready")) != 0 {
		t.Fatalf("ready with the provider's breaker open: %d %s", r.status, r.body)
	}
	if metrics := g.scrape(); !strings.Contains(metrics, `tokengate_component_ready{component="network juspay"} 0`) || metricValue(metrics, "tokengate_ready") != 1 {
		t.Fatal("the gauges with the provider's breaker open")
	}
}

// TestHealthRefused: a database that refuses the gateway (it does not
// exist) once it answers: readiness 503, state refused, the vault
// misconfigured; liveness still 200, since a restart would fail the same.
func TestHealthRefused(t *testing.T) {
	dsn, proxied, proxy := pgProxied(t)
	cfg, _ := pgx.ParseConfig(dsn)
	missing := strings.Replace(proxied, "/"+cfg.Database, "/"+cfg.Database+"_missing", 1)
	proxy.setCut(true)
	g := &gateway{t: t, dir: t.TempDir(), vault: "dev_keyset_file " + filepath.Join(t.TempDir(), "dev.json") +
		"\n\t\tvault postgres {\n\t\t\tdsn " + missing + "\n\t\t}"}
	g.start("", healthSites)
	proxy.setCut(false)
	deadline := time.Now().Add(30 * time.Second)
	var r reply
	for {
		r = g.probe(http.MethodGet, readyURL)
		if str(decode(t, r.body), "state") == "refused" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	noSecrets(t, r.body, missing, cfg.Database, proxy.ln.Addr().String(), "does not exist", "3D000")
	m := healthBody(t, r, "ready", "not_ready")
	if c := healthComponent(t, m, "vault"); r.status != http.StatusServiceUnavailable || str(m, "state") != "refused" || c["state"] != "refused" || c["reason"] != reasonMisconfigured {
		t.Fatalf("ready with the database refusing: %d %s", r.status, r.body)
	}
	live := g.probe(http.MethodGet, liveURL)
	if m := healthBody(t, live, "live", "alive"); live.status != http.StatusOK || str(m, "state") != "refused" {
		t.Fatalf("live with the database refusing: %d %s", live.status, live.body)
	}
}

// TestHealthPingTimeout: a service that hangs (a host that drops packets)
// is reported as not answering after pingTimeout, not after the probe's.
func TestHealthPingTimeout(t *testing.T) {
	var c pingCache
	start := time.Now()
	err := c.ping(t.Context(), "vault", hangingPinger{})
	if err == nil || time.Since(start) > pingTimeout+time.Second {
		t.Fatalf("a hanging ping: %v after %s", err, time.Since(start))
	}
}

type hangingPinger struct{}

func (hangingPinger) Ping(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
