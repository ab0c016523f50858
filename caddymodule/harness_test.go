package caddymodule

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard" // the sites' handlers
)

// Test ports, by name (ports_test.go): 9080 inbound, 9081 outbound, 9082
// the demo PSP.
const (
	inboundURL  = "http://localhost:9080"
	outboundURL = "http://localhost:9081"
	apiKeyA     = "key_for_tenant_a"
	apiKeyB     = "key_for_tenant_b"
)

// gateway is a real Caddy server, in this process, running a tokengate
// config on ports reserved for its test.
type gateway struct {
	vault   string // the vault block; "" for a bbolt file
	t       testing.TB
	dir     string
	logFile string

	ports    testPorts
	initOnce sync.Once
	http     *http.Client
}

// init makes the client and registers the end of the test: Caddy stops
// (each test starts it with a config of its own) before the test's
// directories, which hold its vault, are removed.
func (g *gateway) init() {
	g.initOnce.Do(func() {
		g.ports.t = g.t
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // Caddy's internal CA, made for the test
		transport.ForceAttemptHTTP2 = true
		// Generous: a busy machine shared with other builds may be slow; a
		// test that waits for something says so itself.
		g.http = &http.Client{Transport: transport, Timeout: 30 * time.Second}
		g.t.Cleanup(func() {
			transport.CloseIdleConnections()
			_ = caddy.Stop()
		})
	})
}

// client is the HTTP client of the test's requests (which may be made with
// named ports: see addr).
func (g *gateway) client() *http.Client {
	g.init()
	return g.http
}

// addr replaces the named ports in s (a URL, a host:port, a config, a rules
// file) with the test's real ones.
func (g *gateway) addr(s string) string {
	g.init()
	return g.ports.rewrite(s)
}

// load runs cfg (a Caddyfile) in this process's Caddy, or fails the test.
func (g *gateway) load(cfg string) {
	g.t.Helper()
	if err := g.tryLoad(cfg, "caddyfile"); err != nil {
		g.t.Fatalf("loading the config: %v", err)
	}
}

// loadJSON runs cfg (Caddy's JSON), or fails the test.
func (g *gateway) loadJSON(cfg string) {
	g.t.Helper()
	if err := g.tryLoad(cfg, "json"); err != nil {
		g.t.Fatalf("loading the config: %v", err)
	}
}

// loadError loads cfg (a Caddyfile), which must be refused with an error
// that contains want (with its named ports, too, made real).
func (g *gateway) loadError(cfg, want string) {
	g.t.Helper()
	err := g.tryLoad(cfg, "caddyfile")
	if err == nil {
		g.t.Fatalf("the config loaded; want an error containing %q", want)
	}
	if want = g.addr(want); !strings.Contains(err.Error(), want) {
		g.t.Fatalf("loading the config: %v; want an error containing %q", err, want)
	}
}

// assertLoadError is loadError for a test without a gateway of its own.
func assertLoadError(t *testing.T, cfg, want string) {
	t.Helper()
	(&gateway{t: t}).loadError(cfg, want)
}

// tryLoad adapts cfg after giving its named ports real ones and loads it
// with caddy.Load, as the admin API's /load does (an identical config is
// not reloaded). The admin endpoint is the one the config names, on the
// test's port "2999" if it names none (localhost:2019 would be a user's
// Caddy); the config is never persisted (autosave.json is the user's).
func (g *gateway) tryLoad(cfg, adapter string) error {
	g.t.Helper()
	raw := []byte(g.addr(cfg))
	if adapter != "json" {
		var err error
		if raw, _, err = caddyconfig.GetAdapter(adapter).Adapt(raw, nil); err != nil {
			return fmt.Errorf("adapting config using %s: %w", adapter, err)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	admin, _ := doc["admin"].(map[string]any)
	if admin == nil {
		admin = map[string]any{}
		doc["admin"] = admin
	}
	if admin["disabled"] != true && admin["listen"] == nil {
		admin["listen"] = g.addr("localhost:2999")
	}
	admin["config"] = map[string]any{"persist": false}
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := caddy.Load(raw, false); err != nil {
		return err
	}
	// Connections kept alive to the old config's servers would be closed
	// under the next request (they shut down); the next requests dial the
	// new ones.
	if g.http != nil {
		g.http.CloseIdleConnections()
	}
	return nil
}

// extraGlobal and sites let a test vary the config; the defaults are the
// demo topology on test ports.
func startGateway(t *testing.T, extraGlobal string) *gateway {
	t.Helper()
	return startGatewaySites(t, extraGlobal, defaultSites)
}

// startGatewayWith starts g (its vault block set) with the default sites.
func startGatewayWith(t *testing.T, g *gateway) *gateway {
	t.Helper()
	if g.dir == "" {
		g.dir = t.TempDir()
	}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	forgetKeys() // a new process (see start)
	g.load(g.config("", defaultSites))
	return g
}

// startGatewaySites is startGateway with other sites.
func startGatewaySites(t *testing.T, extraGlobal, sites string) *gateway {
	t.Helper()
	return (&gateway{t: t}).start(extraGlobal, sites)
}

// start loads g's config with these sites, for a test that needs g (its
// ports) before.
func (g *gateway) start(extraGlobal, sites string) *gateway {
	g.t.Helper()
	if g.dir == "" {
		g.dir = g.t.TempDir()
	}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	// A gateway started here is a new process: the keyset an earlier
	// test loaded is not this one's previous (a keys audit entry).
	forgetKeys()
	g.load(g.config(extraGlobal, sites))
	return g
}

// demoPSPSites is an echoing merchant behind tokenize and the demo
// processor (which answers with what it received) behind detokenize.
const demoPSPSites = `
:9080 {
	tokenize
	respond "{http.request.body}"
}
:9081 {
	detokenize
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}
:9082 {
	demo_psp
}`

const defaultSites = `
:9080 {
	tokenize
	header >Merchant-Saw-Cvv-Not-Held "{http.request.header.Tokengate-Cvv-Not-Held}"
	respond "{http.request.body}"
}
:9081 {
	detokenize
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}
:9082 {
	header Psp-Saw-Api-Key "{http.request.header.X-Tokengate-Api-Key}"
	respond "{http.request.body}"
}
`

// copyFile copies the file at path (a rules file, whose destinations name
// ports; a Caddyfile) into the test's directory with the test's ports, and
// returns the copy's path.
func (g *gateway) copyFile(path string) string {
	g.t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		g.t.Fatal(err)
	}
	return g.writeFile(filepath.Base(path), string(raw))
}

// writeFile writes content, its named ports made real, into the test's
// directory, and returns the file's path.
func (g *gateway) writeFile(name, content string) string {
	g.t.Helper()
	if g.dir == "" {
		g.dir = g.t.TempDir()
	}
	path := filepath.Join(g.dir, name)
	if err := os.WriteFile(path, []byte(g.addr(content)), 0o600); err != nil {
		g.t.Fatal(err)
	}
	return path
}

func (g *gateway) config(extraGlobal, sites string) string {
	rulesPath := g.copyFile("testdata/rules.yaml")
	return fmt.Sprintf(`{
	log {
		output file %s
		level DEBUG
	}
	tokengate {
		rules %s
		%s
		api_key %s tenant_a
		api_key %s tenant_b
		%s
	}
}
%s`, g.logFile, rulesPath, g.vaultBlock(), apiKeyA, apiKeyB, extraGlobal, sites)
}

// vaultBlock is the gateway's vault: a bbolt file in its directory unless
// the test set another.
func (g *gateway) vaultBlock() string {
	if g.vault != "" {
		return g.vault
	}
	return "vault bolt {\n\t\t\tpath " + filepath.Join(g.dir, "vault.db") + "\n\t\t}"
}

// app returns the running tokengate app, for tests that reach into its state
// (suspending a network token, breaking the vault).
func (g *gateway) app() *App {
	g.t.Helper()
	a, err := caddy.ActiveContext().App("tokengate")
	if err != nil {
		g.t.Fatal(err)
	}
	return a.(*App)
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (g *gateway) post(url, contentType, body string, headers ...string) reply {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return g.do(req)
}

// do sends req, whose URL may name a test port.
func (g *gateway) do(req *http.Request) reply {
	g.t.Helper()
	req.URL.Host = g.addr(req.URL.Host)
	resp, err := g.client().Do(req)
	for try := 0; try < 3 && err != nil && req.GetBody != nil && closedBeforeRequest(err); try++ {
		// A test that reloads its config: the old and new servers share
		// the port (Caddy binds with SO_REUSEPORT), and while the old ones
		// shut down gracefully, a connection one of them accepted but had
		// not read a request from is closed, and the client sees EOF:
		// Caddy's reload, not the gateway. The request was not read, so it
		// is sent again (a few times: several old connections may close).
		if req.Body, err = req.GetBody(); err == nil {
			resp, err = g.client().Do(req)
		}
	}
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// waitForText waits (bounded generously) until the file at path holds
// text, and returns the file.
func waitForText(t *testing.T, path, text string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(text)) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not hold %q after 30 s", filepath.Base(path), text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *gateway) log() string {
	b, _ := os.ReadFile(g.logFile)
	return string(b)
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(bytes.NewReader([]byte(s))).Decode(&m); err != nil {
		t.Fatalf("not JSON: %v: %q", err, s)
	}
	return m
}

// get walks a decoded JSON document by dotted path.
func get(m map[string]any, path string) any {
	var cur any = m
	for _, seg := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[seg]
		case []any:
			var i int
			fmt.Sscan(seg, &i)
			if i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func str(m map[string]any, path string) string {
	s, _ := get(m, path).(string)
	return s
}

// closedBeforeRequest reports an error of a connection the server closed
// before answering: EOF, or a reset.
func closedBeforeRequest(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
