package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// Test ports: 9080 inbound, 9081 outbound, 9082 the demo PSP.
const (
	inboundURL  = "http://localhost:9080"
	outboundURL = "http://localhost:9081"
	apiKeyA     = "key_for_tenant_a"
	apiKeyB     = "key_for_tenant_b"
)

// gateway is a real Caddy server (in this process, driven through its admin
// API by caddytest) running a tokengate config.
type gateway struct {
	vault   string // the vault block; "" for a bbolt file
	t       *testing.T
	tc      *caddytest.Tester
	dir     string
	logFile string
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
	g.tc = caddytest.NewTester(t)
	if g.dir == "" {
		g.dir = t.TempDir()
	}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	g.tc.InitServer(g.config("", defaultSites), "caddyfile")
	return g
}

// startGatewaySites is startGateway with other sites.
func startGatewaySites(t *testing.T, extraGlobal, sites string) *gateway {
	t.Helper()
	g := &gateway{t: t, tc: caddytest.NewTester(t), dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	g.tc.InitServer(g.config(extraGlobal, sites), "caddyfile")
	return g
}

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

func (g *gateway) config(extraGlobal, sites string) string {
	rulesPath, _ := filepath.Abs("testdata/rules.yaml")
	return fmt.Sprintf(`{
	admin localhost:2999
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

func (g *gateway) do(req *http.Request) reply {
	g.t.Helper()
	resp, err := g.tc.Client.Do(req)
	if err != nil && req.GetBody != nil && closedBeforeRequest(err) {
		// Each test loads its own config into the one Caddy of this
		// process. While the old servers shut down gracefully, a connection
		// one of them accepted but had not read a request from is closed,
		// and the client sees EOF: Caddy's reload, not the gateway. The
		// request was not read, so it is sent once more.
		if req.Body, err = req.GetBody(); err == nil {
			resp, err = g.tc.Client.Do(req)
		}
	}
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
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
