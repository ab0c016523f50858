package caddymodule

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// quickStartConfig is Caddyfile.example as the README's quick start runs
// it, with extra lines at the start of its global options. Only what lets
// the test run beside a user's quick start changes: the ports are the
// test's (8080-8084 name them, in the Caddyfile and in the copy of
// rules.example.yaml, whose destination is the PSP's port), and the data
// directory is the test's.
func (g *gateway) quickStartConfig(global string) string {
	g.t.Helper()
	if g.dir == "" {
		g.dir = g.t.TempDir()
	}
	raw, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		g.t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "{\n", "{\n"+global, 1)
	cfg = strings.Replace(cfg, "rules rules.example.yaml", "rules "+g.copyFile("../rules.example.yaml"), 1)
	cfg = strings.Replace(cfg, "./tokengate-data/vault.db", filepath.Join(g.dir, "vault.db"), 1)
	return strings.ReplaceAll(cfg, "./tokengate-data/juspay-dev-keys", filepath.Join(g.dir, "juspay-dev-keys"))
}

// TestQuickStartKeepsKeysOutOfTheLog: Caddyfile.example run at the debug
// level logs its config ("adjusted config") without any of its API keys,
// and the keys still work (issue 15, item 11).
func TestQuickStartKeepsKeysOutOfTheLog(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	g := &gateway{t: t}
	g.load(g.quickStartConfig("\tlog {\n\t\toutput file " + logFile + "\n\t\tlevel DEBUG\n\t}\n"))

	in := g.post("http://localhost:8080/checkout", jsonCT, `{"card":{"number":"4111111111111111","exp_month":"03","exp_year":"2030","cvc":"123"}}`)
	if out := g.post("http://localhost:8081/payments", jsonCT, in.body, "X-Tokengate-Api-Key", "demo_merchant_key"); out.status != http.StatusOK {
		t.Fatalf("detokenize with the demo key: %d %s", out.status, out.body)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://localhost:8083/network-tokens/none", nil)
	req.Header.Set("BT-API-KEY", "demo_bt_key")
	if r := g.do(req); r.status != http.StatusNotFound {
		t.Fatalf("the Basis Theory API with the demo key: %d %s", r.status, r.body)
	}
	req, _ = http.NewRequest(http.MethodPost, "http://localhost:8084/card/list", strings.NewReader(`{}`))
	req.SetBasicAuth("demo_juspay_key", "")
	if r := g.do(req); r.status == http.StatusUnauthorized {
		t.Fatalf("the Juspay API with the demo key: %d %s", r.status, r.body)
	}

	logged, _ := os.ReadFile(logFile)
	if !strings.Contains(string(logged), "adjusted config") || !strings.Contains(string(logged), "basistheory_api") {
		t.Fatal("no adjusted config line; the test proves nothing")
	}
	for _, key := range []string{"demo_merchant_key", "demo_bt_key", "demo_juspay_key"} {
		if strings.Contains(string(logged), key) {
			t.Errorf("the log holds the API key %s", key)
		}
	}
}

// TestAccessLogFilterDropsAPIKeys: the log filter the README gives keeps
// the Basis Theory and detokenize API keys out of Caddy's access log, which
// otherwise records request headers as they arrived.
func TestAccessLogFilterDropsAPIKeys(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, filter string
		kept         bool
	}{
		{"no filter", "", true},
		{"README filter", "format filter {\n\t\t\trequest>headers>Bt-Api-Key delete\n\t\t\trequest>headers>X-Tokengate-Api-Key delete\n\t\t}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			access := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".log")
			g := startGatewaySites(t, "", `
:9081 {
	log {
		output file `+access+`
		`+tc.filter+`
	}
	detokenize
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}
:9082 {
	demo_psp
}
:9083 {
	log {
		output file `+access+`
		`+tc.filter+`
	}
	basistheory_api {
		api_key bt_secret_key tenant_a network-token:read
	}
}`)
			req, _ := http.NewRequest(http.MethodGet, "http://localhost:9083/network-tokens/none", nil)
			req.Header.Set("BT-API-KEY", "bt_secret_key")
			g.do(req)
			g.post(outboundURL+"/payments", jsonCT, `{"amount":1}`, "X-Tokengate-Api-Key", apiKeyA)
			logged, _ := os.ReadFile(access)
			if !strings.Contains(string(logged), "/network-tokens/none") || !strings.Contains(string(logged), "/payments") {
				t.Fatalf("the access log did not record the requests; the test proves nothing:\n%s", logged)
			}
			for _, key := range []string{"bt_secret_key", apiKeyA} {
				if strings.Contains(string(logged), key) != tc.kept {
					t.Errorf("key %s in the access log: %v, want %v", key, !tc.kept, tc.kept)
				}
			}
		})
	}
}

// TestEnvPlaceholdersStayOutOfTheLog: keys and the webhook secret given as
// {env.*} placeholders are resolved when the handlers are provisioned, so
// the debug "adjusted config" line shows the placeholder, never the value,
// and the key still works.
func TestEnvPlaceholdersStayOutOfTheLog(t *testing.T) {
	t.Setenv("TG_TEST_BT_KEY", "bt_key_from_env")
	t.Setenv("TG_TEST_WEBHOOK_SECRET", "webhook_secret_from_env")
	g := startGatewaySites(t, "", `
:9083 {
	basistheory_api {
		api_key {env.TG_TEST_BT_KEY} tenant_a network-token:read
	}
}
:9084 {
	tokengate_webhooks juspay {
		secret {env.TG_TEST_WEBHOOK_SECRET}
	}
}`)
	req, _ := http.NewRequest(http.MethodGet, "http://localhost:9083/network-tokens/none", nil)
	req.Header.Set("BT-API-KEY", "bt_key_from_env")
	if r := g.do(req); r.status != http.StatusNotFound {
		t.Fatalf("the key from the environment: %d %s", r.status, r.body)
	}
	logged := g.log()
	if !strings.Contains(logged, "adjusted config") || !strings.Contains(logged, "{env.TG_TEST_BT_KEY}") || !strings.Contains(logged, "{env.TG_TEST_WEBHOOK_SECRET}") {
		t.Fatal("the adjusted config line does not show the placeholders; the test proves nothing")
	}
	for _, v := range []string{"bt_key_from_env", "webhook_secret_from_env"} {
		if strings.Contains(logged, v) {
			t.Errorf("the log holds %s", v)
		}
	}
}
