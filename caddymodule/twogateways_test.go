package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// childCaddyEnv, when set, makes the test binary run Caddy's command line
// with these arguments instead of the tests: how the tests start gateways as
// separate processes (that can be killed with SIGKILL) without building a
// binary.
const childCaddyEnv = "TOKENGATE_TEST_CADDY_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childCaddyEnv); args != "" {
		os.Args = append([]string{"caddy"}, strings.Split(args, "\x1f")...)
		caddycmd.Main() // exits on failure; a command that succeeds returns
		os.Exit(0)
	}
	// A developer's own command-line audit chain (set in their shell) is
	// not the tests' to write to: the key commands the tests run would
	// append to it. Tests that want it set it themselves.
	os.Unsetenv("TOKENGATE_AUDIT_FILE")
	os.Exit(m.Run())
}

// process is a gateway in a process of its own.
type process struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

// lockedWriter lets the child's output be read while it is written.
type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// runCaddy runs `caddy args...` in a child process (this test binary) in
// dir, with env added; it is killed when the test ends.
func runCaddy(t *testing.T, name, dir string, env []string, args ...string) *process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, name: name, out: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	p.cmd = exec.Command(exe)
	p.cmd.Dir = dir
	// Caddy's data and config dirs in the test's own directory: a test never
	// touches the user's.
	p.cmd.Env = append(os.Environ(), childCaddyEnv+"="+strings.Join(args, "\x1f"),
		"XDG_DATA_HOME="+filepath.Join(dir, "xdg-data-"+name), "XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config-"+name))
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout = lockedWriter{p.mu, p.out}
	p.cmd.Stderr = lockedWriter{p.mu, p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, p.output())
		}
	})
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill sends SIGKILL: no shutdown, no flushing, as a crash.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// waitHTTP waits until url answers at all (bounded generously: a busy
// machine may be slow to start a process).
func (p *process) waitHTTP(url string) {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.t.Fatalf("%s exited:\n%s", p.name, p.output())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s did not answer at %s:\n%s", p.name, url, p.output())
}

// send posts body and reads the whole answer; a transport error is
// returned, not fatal (a killed gateway gives them).
func send(client *http.Client, url, body string, headers ...string) (reply, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", jsonCT)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

func mustSend(t *testing.T, url, body string, headers ...string) reply {
	t.Helper()
	r, err := send(http.DefaultClient, url, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// requireRedis skips (or fails, under TOKENGATE_REQUIRE_SERVICES=1) without
// the local Redis.
func requireRedis(t *testing.T) {
	t.Helper()
	if !redisReachable() {
		if requireServices() {
			t.Fatal("Redis is required (TOKENGATE_REQUIRE_SERVICES=1) and not reachable at 127.0.0.1:6379")
		}
		t.Skip("Redis not reachable at 127.0.0.1:6379: start it to run this test")
	}
}

// newPAN is the n-th distinct Luhn-valid Visa number of a test.
func newPAN(n int) string {
	partial := fmt.Sprintf("411111%09d", n)
	return partial + string(card.LuhnDigit(partial))
}

// twoGatewayRules: inbound with and without consent, outbound toward the
// test's PSP.
const twoGatewayRules = `inbound:
  checkout:
    tenant: tenant_a
    match: {methods: [POST], paths: ["/checkout"]}
    fields:
      - {kind: pan, json: card.number}
      - {kind: cvv, json: card.cvc}
      - {kind: exp_month, json: card.exp_month}
      - {kind: exp_year, json: card.exp_year}
  noconsent:
    tenant: tenant_a
    match: {methods: [POST], paths: ["/noconsent/checkout"]}
    consent_default: false
    fields:
      - {kind: pan, json: card.number}
      - {kind: cvv, json: card.cvc}
      - {kind: exp_month, json: card.exp_month}
      - {kind: exp_year, json: card.exp_year}
outbound:
  psp:
    match: {methods: [POST], paths: ["/payments"]}
    destinations: ["%s"]
    fallback: pan
    response_guard: off
    fields:
      - {kind: token, json: card.number}
      - {kind: exp_month, json: card.exp_month}
      - {kind: exp_year, json: card.exp_year}
      - {kind: cryptogram, json: card.cryptogram}
      - {kind: eci, json: card.eci}
      - {kind: cvv, json: card.cvc}
`

// twoGatewayConfig is one gateway: inbound (tokenize, then echo), outbound
// (detokenize toward the PSP) and the Basis Theory API, on ports[0], [1]
// and [2].
func twoGatewayConfig(admin int, ports [3]int, rules, keyset, dsn, prefix, psp, logFile string) string {
	return fmt.Sprintf(`{
	admin localhost:%d
	persist_config off
	log {
		output file %s
		level INFO
	}
	tokengate {
		rules %s
		dev_keyset_file %s
		vault postgres {
			dsn %s
		}
		cvv_store redis {
			prefix %s
		}
		api_key %s tenant_a
	}
}
:%d {
	tokenize
	respond "{http.request.body}"
}
:%d {
	detokenize
	reverse_proxy %s {
		transport tokengate
	}
}
:%d {
	basistheory_api {
		api_key bt_key tenant_a network-token:create network-token:read network-token:suspend
	}
}
`, admin, logFile, rules, keyset, dsn, prefix, apiKeyA, ports[0], ports[1], psp, ports[2])
}

// pspServer echoes what it is sent, as the PSP the outbound side may reach.
func pspServer(t *testing.T) *httptest.Server {
	psp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", jsonCT)
		w.Write(b)
	}))
	t.Cleanup(psp.Close)
	return psp
}

// TestTwoGateways runs two Caddy processes on one PostgreSQL database and
// one Redis, as several gateways behind a load balancer: what one does, the
// other sees.
func TestTwoGateways(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	requireRedis(t)
	dir := t.TempDir()
	psp := pspServer(t)
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(fmt.Sprintf(twoGatewayRules, strings.TrimPrefix(psp.URL, "http://"))), 0o600); err != nil {
		t.Fatal(err)
	}
	keyset, prefix := filepath.Join(dir, "dev-keyset.json"), "tokengate-test-"+fmt.Sprint(time.Now().UnixNano())+":"
	// Each gateway on ports reserved for the test: admin, inbound,
	// outbound, Basis Theory API.
	start := func(name string) (*process, [3]int) {
		admin, ports := reservePort(t), [3]int{reservePort(t), reservePort(t), reservePort(t)}
		cfg := filepath.Join(dir, name+".caddyfile")
		logFile := filepath.Join(dir, name+".log")
		if err := os.WriteFile(cfg, []byte(twoGatewayConfig(admin, ports, rules, keyset, dsn, prefix, strings.TrimPrefix(psp.URL, "http://"), logFile)), 0o600); err != nil {
			t.Fatal(err)
		}
		p := runCaddy(t, name, dir, nil, "run", "--config", cfg, "--adapter", "caddyfile")
		p.waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/", ports[0]))
		return p, ports
	}
	// A first: it makes the development keyset B then shares.
	a, portsA := start("a")
	_, portsB := start("b")
	url := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }
	inA, inB := url(portsA[0]), url(portsB[0])
	outA, outB := url(portsA[1]), url(portsB[1])
	btA := url(portsA[2])

	t.Run("tokenize on one, pay on the other", func(t *testing.T) {
		in := mustSend(t, inA+"/checkout", checkoutJSON(visaPAN))
		out := mustSend(t, outB+"/payments", in.body, "X-Tokengate-Api-Key", apiKeyA)
		if out.header.Get(InjectedHeader) != "card.number=network_token" {
			t.Fatalf("paying on B a card tokenized on A: %d %q %s", out.status, out.header.Get(InjectedHeader), out.body)
		}
		assertNetworkToken(t, str(decode(t, out.body), "card.number"), visaPAN)
		// No network token: the PAN, and the CVV held in Redis by A, taken
		// once by B.
		ne := mustSend(t, inA+"/checkout", checkoutJSON("4539097887163333"))
		first := decode(t, mustSend(t, outB+"/payments", ne.body, "X-Tokengate-Api-Key", apiKeyA).body)
		second := decode(t, mustSend(t, outA+"/payments", ne.body, "X-Tokengate-Api-Key", apiKeyA).body)
		if str(first, "card.number") != "4539097887163333" || str(first, "card.cvc") != testCVV || get(second, "card.cvc") != nil {
			t.Fatalf("PAN and CVV across gateways: first %v, second has a CVV: %v", get(first, "card.cvc") != nil, get(second, "card.cvc") != nil)
		}
		// A card kept without consent: its short-lived token, issued by A,
		// pays through B.
		nc := mustSend(t, inA+"/noconsent/checkout", checkoutJSON("5555555555554444"))
		paid := mustSend(t, outB+"/payments", nc.body, "X-Tokengate-Api-Key", apiKeyA)
		if paid.header.Get(InjectedHeader) != "card.number=pan;reason=no_consent" || str(decode(t, paid.body), "card.cvc") != testCVV {
			t.Fatalf("a short-lived card of A paid on B: %d %q", paid.status, paid.header.Get(InjectedHeader))
		}
	})

	t.Run("the same new card on both at once is one token", func(t *testing.T) {
		const cards = 20
		var issued []string
		for i := range cards {
			pan := newPAN(1000 + i)
			var wg sync.WaitGroup
			var tokens [2]string
			release := make(chan struct{})
			for j, in := range []string{inA, inB} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-release
					r, err := send(http.DefaultClient, in+"/checkout", checkoutJSON(pan))
					if err == nil && r.status == http.StatusOK {
						var doc map[string]any
						if d := decodeOK(r.body, &doc); d {
							tokens[j] = str(doc, "card.number")
						}
					}
				}()
			}
			close(release)
			wg.Wait()
			if tokens[0] == "" || tokens[0] != tokens[1] {
				t.Fatalf("card %d sent to both at once: tokens %q and %q", i, tokens[0], tokens[1])
			}
			issued = append(issued, tokens[0])
		}
		var rows int
		if err := pgConn(t, dsn).QueryRow(context.Background(),
			`SELECT count(*) FROM tokengate_records WHERE token = ANY($1)`, issued).Scan(&rows); err != nil || rows != cards {
			t.Fatalf("the vault holds %d records for the %d cards (%v)", rows, cards, err)
		}
	})

	t.Run("a state change on one is seen by the other", func(t *testing.T) {
		in := mustSend(t, inA+"/checkout", checkoutJSON(newPAN(5000)))
		token := str(decode(t, in.body), "card.number")
		// B has the record and the network token's state in memory.
		if r := mustSend(t, outB+"/payments", in.body, "X-Tokengate-Api-Key", apiKeyA); r.header.Get(InjectedHeader) != "card.number=network_token" {
			t.Fatalf("before: %q", r.header.Get(InjectedHeader))
		}
		bt := func(method, path, body string) reply {
			req, _ := http.NewRequest(method, btA+path, strings.NewReader(body))
			req.Header.Set("Content-Type", jsonCT)
			req.Header.Set("BT-API-KEY", "bt_key")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return reply{status: resp.StatusCode, body: string(b)}
		}
		if r := bt("POST", "/network-tokens", `{"token_id":"`+token+`"}`); r.status != http.StatusOK {
			t.Fatalf("the card's network token through A's Basis Theory API: %d %s", r.status, r.body)
		}
		if r := bt("PUT", "/network-tokens/"+token+"/suspend", ""); r.status != http.StatusOK {
			t.Fatalf("suspending through A: %d %s", r.status, r.body)
		}
		suspended := time.Now()
		// Within 4 s (the announcement takes milliseconds; the caches' TTLs
		// are 30 s and 5 s, so the bound must stay under 5 s to show the
		// announcement, not an expiry, did it), B stops paying with the
		// suspended token.
		for {
			r := mustSend(t, outB+"/payments", in.body, "X-Tokengate-Api-Key", apiKeyA)
			if r.header.Get(InjectedHeader) != "card.number=network_token" {
				t.Logf("B stopped using the suspended network token %v after A suspended it (%q)", time.Since(suspended), r.header.Get(InjectedHeader))
				break
			}
			if time.Since(suspended) > 4*time.Second {
				t.Fatal("B still pays with a network token A suspended 4 s ago")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	t.Run("kill -9 during a burst of new cards loses nothing", func(t *testing.T) {
		var (
			mu       sync.Mutex
			received []string // request bodies B must pay
			failed   int
			wg       sync.WaitGroup
		)
		ctx, stop := context.WithCancel(context.Background())
		client := &http.Client{Timeout: 5 * time.Second}
		killed := make(chan struct{})
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ctx.Err() == nil; n++ {
					r, err := send(client, inA+"/checkout", checkoutJSON(newPAN(100000+w*10000+n)))
					mu.Lock()
					var doc map[string]any
					if err == nil && r.status == http.StatusOK && decodeOK(r.body, &doc) && strings.HasPrefix(str(doc, "card.number"), "tok_") {
						received = append(received, r.body)
					} else {
						failed++
					}
					enough := len(received) >= 150
					mu.Unlock()
					if enough {
						select {
						case <-killed:
						default:
							close(killed)
						}
					}
				}
			}()
		}
		select {
		case <-killed:
		case <-time.After(2 * time.Minute): // generous: a busy machine
			stop()
			t.Fatal("no 150 new cards in 2 minutes")
		}
		a.kill()
		time.Sleep(100 * time.Millisecond) // the in-flight requests fail
		stop()
		wg.Wait()
		lost := 0
		for _, body := range received {
			r := mustSend(t, outB+"/payments", body, "X-Tokengate-Api-Key", apiKeyA)
			if r.status != http.StatusOK || r.header.Get(InjectedHeader) != "card.number=network_token" {
				lost++
			}
		}
		t.Logf("tokens received from A before and while it was killed: %d (requests that failed: %d); paid on B: %d, lost: %d",
			len(received), failed, len(received)-lost, lost)
		if lost != 0 || len(received) < 150 {
			t.Fatalf("%d of %d tokens a client received from the killed gateway do not pay on the other", lost, len(received))
		}
	})

	t.Run("no card data in either gateway's log", func(t *testing.T) {
		for _, name := range []string{"a", "b"} {
			log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			if bytes.Contains(log, []byte(visaPAN)) || bytes.Contains(log, []byte("4539097887163333")) || bytes.Contains(log, []byte(`"`+testCVV+`"`)) {
				t.Fatalf("%s's log holds card data", name)
			}
		}
	})
}

// decodeOK decodes JSON without failing the test (for goroutines).
func decodeOK(s string, into *map[string]any) bool {
	return json.Unmarshal([]byte(s), into) == nil
}

// TestRunningSeveralGateways follows the README's "Running several
// gateways": one keyset made with keygen, Caddyfile.shared.example run
// twice, A on the file's default ports and B on the ports the README gives
// it, and its calls. The ports are
// names (ports_test.go): the copies of the two files, the environment and
// the URLs get the test's own, so that the test runs beside a user's
// gateways.
func TestRunningSeveralGateways(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	requireRedis(t)
	g := &gateway{t: t, dir: t.TempDir()}
	dir := g.dir
	for _, f := range []string{"Caddyfile.shared.example", "rules.example.yaml"} {
		g.copyFile(filepath.Join("..", f))
	}
	port := func(name string) string { return strconv.Itoa(g.ports.port(name)) }
	keygen := runCaddy(t, "keygen", dir, nil, "tokengate", "keygen", "--keyset", "./tokengate-data/shared-keyset.json")
	<-keygen.done
	if keygen.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("keygen: %s", keygen.output())
	}
	env := []string{"TOKENGATE_PG_DSN=" + dsn}
	a := runCaddy(t, "a", dir, append(env, "GATEWAY_ADMIN="+g.addr("localhost:2994")), "run", "--config", "Caddyfile.shared.example")
	a.waitHTTP(g.addr("http://127.0.0.1:9080/"))
	b := runCaddy(t, "b", dir, append(env, "GATEWAY_ADMIN="+g.addr("localhost:2993"), "INBOUND_PORT="+port("9090"), "OUTBOUND_PORT="+port("9091"), "PSP_PORT="+port("9092")),
		"run", "--config", "Caddyfile.shared.example")
	b.waitHTTP(g.addr("http://127.0.0.1:9090/"))

	first := mustSend(t, g.addr("http://localhost:9080/checkout"), `{"card":{"number":"4111111111111111","exp_month":"03","exp_year":"2030","cvc":"123"}}`)
	token := str(decode(t, first.body), "card.number")
	again := mustSend(t, g.addr("http://localhost:9090/checkout"), `{"card":{"number":"4111111111111111","exp_month":"03","exp_year":"2030"}}`)
	if !strings.HasPrefix(token, "tok_") || str(decode(t, again.body), "card.number") != token {
		t.Fatalf("the same card on A and B: %s, %s", first.body, again.body)
	}
	paid := mustSend(t, g.addr("http://localhost:9091/payments"), `{"card":{"number":"`+token+`","exp_month":"03","exp_year":"2030"}}`,
		"X-Tokengate-Api-Key", "demo_merchant_key")
	if paid.header.Get(InjectedHeader) != "card.number=network_token" {
		t.Fatalf("paying on B: %d %q %s", paid.status, paid.header.Get(InjectedHeader), paid.body)
	}
}
