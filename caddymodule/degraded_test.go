package caddymodule

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/vault/vaulttest"
)

// notReadyAnswered asserts that tokenize and detokenize answer 503
// gateway_not_ready and forward nothing: the echoing merchant and the PSP
// (which marks its answers with Psp-Saw-Api-Key) see no request.
func notReadyAnswered(t *testing.T, g *gateway) {
	t.Helper()
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if in.status != http.StatusServiceUnavailable || str(decode(t, in.body), "error_code") != "gateway_not_ready" || strings.Contains(in.body, visaPAN) {
		t.Fatalf("tokenize while not ready: %d %s", in.status, in.body)
	}
	out := g.post(outboundURL+"/payments", jsonCT, `{"card":{"number":"tok_notready"}}`, "X-Tokengate-Api-Key", apiKeyA)
	if out.status != http.StatusServiceUnavailable || str(decode(t, out.body), "error_code") != "gateway_not_ready" ||
		out.header.Values("Psp-Saw-Api-Key") != nil || out.header.Get(InjectedHeader) != "" {
		t.Fatalf("detokenize while not ready: %d %v %s", out.status, out.header, out.body)
	}
}

// waitReady waits (bounded generously: the retry backoff starts at half a
// second and doubles) until tokenize serves, and returns its answer.
func waitReady(t *testing.T, g *gateway) reply {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
		if r.status == http.StatusOK || time.Now().After(deadline) {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// component returns the named component of a readiness report.
func component(t *testing.T, rd Readiness, name string) Component {
	t.Helper()
	for _, c := range rd.Components {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no component %q in %+v", name, rd)
	return Component{}
}

// pgProxied returns a test database's DSN through a cuttable proxy.
func pgProxied(t *testing.T) (dsn, proxiedDSN string, proxy *cuttable) {
	t.Helper()
	dsn = vaulttest.PostgresDatabase(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy = newCuttable(t, net.JoinHostPort(cfg.Host, "5432"))
	return dsn, strings.Replace(dsn, "127.0.0.1:5432", proxy.ln.Addr().String(), 1), proxy
}

// TestStartWithPostgresDown: the database does not answer when Caddy
// starts: Caddy starts anyway, the gateway is not ready (503, nothing
// forwarded, Readiness says the vault is waiting), and when the database
// comes up the gateway migrates it and serves, without a restart.
func TestStartWithPostgresDown(t *testing.T) {
	dsn, proxied, proxy := pgProxied(t)
	proxy.setCut(true)
	g := startGatewayWith(t, &gateway{t: t, dir: t.TempDir(), vault: "dev_keyset_file " + filepath.Join(t.TempDir(), "dev.json") +
		"\n\t\tvault postgres {\n\t\t\tdsn " + proxied + "\n\t\t}"})
	notReadyAnswered(t, g)
	rd := g.app().Readiness()
	if vault := component(t, rd, "vault"); rd.Ready || rd.State != StateWaiting || vault.State != StateWaiting || vault.Reason != reasonUnreachable || vault.Attempts < 1 || vault.Err == nil {
		t.Fatalf("readiness with the database down: %+v", rd)
	}
	if c := component(t, rd, "network builtin"); c.State != StateStarting || !c.Required {
		t.Fatalf("the builtin service before the vault opens: %+v", c)
	}
	var tables int
	if err := pgConn(t, dsn).QueryRow(context.Background(), `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("tables before the database answered: %d, %v", tables, err)
	}

	proxy.setCut(false)
	if r := waitReady(t, g); r.status != http.StatusOK {
		t.Fatalf("tokenize after the database came up: %d %s", r.status, r.body)
	}
	rd = g.app().Readiness()
	if !rd.Ready || rd.State != StateReady || component(t, rd, "vault").State != StateReady || component(t, rd, "network builtin").State != StateReady {
		t.Fatalf("readiness once the database answers: %+v", rd)
	}
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333"))
	if out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA); out.status != http.StatusOK || out.header.Get(InjectedHeader) == "" {
		t.Fatalf("detokenize once ready: %d %q", out.status, out.header.Get(InjectedHeader))
	}
	checkFollowsOutage(t, g, proxy, "vault")
	log := g.log()
	if !strings.Contains(log, "tokengate started NOT READY") || !strings.Contains(log, "tokengate is ready") {
		t.Fatal("the log does not tell of the wait and the recovery")
	}
}

// TestStartWithRedisDown: the same with Redis, the CVV store, down at start
// (the bbolt vault opens at once).
func TestStartWithRedisDown(t *testing.T) {
	if !redisReachable() {
		if requireServices() {
			t.Fatal("Redis is required (TOKENGATE_REQUIRE_SERVICES=1) and not reachable at 127.0.0.1:6379")
		}
		t.Skip("Redis not reachable at 127.0.0.1:6379: start it to run this test")
	}
	proxy := newCuttable(t, "127.0.0.1:6379")
	proxy.setCut(true)
	dir := t.TempDir()
	g := startGatewayWith(t, &gateway{t: t, dir: dir, vault: "vault bolt " + filepath.Join(dir, "v.db") +
		"\n\t\tcvv_store redis {\n\t\t\taddress " + proxy.ln.Addr().String() + "\n\t\t\tprefix " + t.Name() + ":\n\t\t}"})
	notReadyAnswered(t, g)
	rd := g.app().Readiness()
	if rd.Ready || rd.State != StateWaiting || component(t, rd, "vault").State != StateReady || component(t, rd, "cvv_store").State != StateWaiting {
		t.Fatalf("readiness with Redis down: %+v", rd)
	}
	proxy.setCut(false)
	r := waitReady(t, g)
	if r.status != http.StatusOK {
		t.Fatalf("tokenize after Redis came up: %d %s", r.status, r.body)
	}
	// The CVV goes to Redis: a card without a network token pays by PAN
	// with it.
	noNT := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333"))
	if out := decode(t, g.post(outboundURL+"/payments", jsonCT, noNT.body, "X-Tokengate-Api-Key", apiKeyA).body); str(out, "card.cvc") != testCVV {
		t.Fatal("paying after the recovery: no CVV from Redis")
	}
	if rd := g.app().Readiness(); !rd.Ready || component(t, rd, "cvv_store").State != StateReady {
		t.Fatalf("readiness once Redis answers: %+v", rd)
	}
	checkFollowsOutage(t, g, proxy, "cvv_store")
}

// checkFollowsOutage: App.Check asks the opened service whether it answers
// now: not while it is cut off, again once it is back.
func checkFollowsOutage(t *testing.T, g *gateway, proxy *cuttable, name string) {
	t.Helper()
	check := func() Readiness {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return g.app().Check(ctx)
	}
	if rd := check(); !rd.Ready {
		t.Fatalf("Check with the service up: %+v", rd)
	}
	proxy.setCut(true)
	if rd := check(); rd.Ready || component(t, rd, name).State != StateWaiting || component(t, rd, name).Reason != reasonNotAnswering {
		t.Fatalf("Check with %s cut off: %+v", name, rd)
	}
	proxy.setCut(false)
	if rd := check(); !rd.Ready {
		t.Fatalf("Check with the service back: %+v", rd)
	}
}

// TestStartRefusedDatabase: a database that answers with a refusal waiting
// cannot fix (here: it does not exist) fails Start when it answers then;
// found by the retry loop (it answered only later), it stops the loop and
// leaves the gateway refusing: 503, Readiness "refused", an error logged.
func TestStartRefusedDatabase(t *testing.T) {
	dsn, proxied, proxy := pgProxied(t)
	cfg, _ := pgx.ParseConfig(dsn)
	missing := strings.Replace(proxied, "/"+cfg.Database, "/"+cfg.Database+"_missing", 1)
	g := &gateway{t: t, dir: t.TempDir(), vault: "dev_keyset_file " + filepath.Join(t.TempDir(), "dev.json") +
		"\n\t\tvault postgres {\n\t\t\tdsn " + missing + "\n\t\t}"}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	g.loadError(g.config("", defaultSites), "does not exist")

	proxy.setCut(true)
	g.load(g.config("", defaultSites))
	notReadyAnswered(t, g)
	proxy.setCut(false)
	deadline := time.Now().Add(30 * time.Second)
	for g.app().Readiness().State != StateRefused && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	rd := g.app().Readiness()
	if vault := component(t, rd, "vault"); rd.Ready || rd.State != StateRefused || vault.State != StateRefused || vault.Reason != reasonMisconfigured {
		t.Fatalf("readiness after the database refused: %+v", rd)
	}
	notReadyAnswered(t, g)
	waitForText(t, g.logFile, "tokengate will NOT serve")
}

// TestReloadStopsRetrying: a config waiting for its database is replaced:
// its retry loop ends with it (Stop waits for it), and its state is
// stopped.
func TestReloadStopsRetrying(t *testing.T) {
	_, proxied, proxy := pgProxied(t)
	proxy.setCut(true)
	g := startGatewayWith(t, &gateway{t: t, dir: t.TempDir(), vault: "dev_keyset_file " + filepath.Join(t.TempDir(), "dev.json") +
		"\n\t\tvault postgres {\n\t\t\tdsn " + proxied + "\n\t\t}"})
	old := g.app()
	if old.retryDone == nil {
		t.Fatal("no retry loop with the database down")
	}
	g.vault = ""
	g.load(g.config("", defaultSites))
	select {
	case <-old.retryDone:
	default:
		t.Fatal("the replaced config's retry loop still runs")
	}
	if rd := old.Readiness(); rd.State != StateStopped || rd.Ready {
		t.Fatalf("the replaced config: %+v", rd)
	}
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); r.status != http.StatusOK {
		t.Fatalf("the new config: %d %s", r.status, r.body)
	}
}
