package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestCaddyfileAdapt pins the JSON every Caddyfile option turns into, as
// Caddy's own caddytest/integration golden files do.
func TestCaddyfileAdapt(t *testing.T) {
	in, err := os.ReadFile("testdata/full.caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		t.Logf("warning: %s", w.Message)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/full.caddyfile.json"
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(pretty.Bytes())) {
		t.Fatalf("adapted JSON differs from %s (run go test -run TestCaddyfileAdapt -update):\n%s", golden, pretty.String())
	}
}

func adaptTokengate(t *testing.T, global string) (map[string]any, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte("{\n\ttokengate {\n"+global+"\n\t}\n}\n:8080 {\n\trespond ok\n}\n"), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Apps map[string]map[string]any `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	app := cfg.Apps["tokengate"]
	delete(app, "files_sha256")
	return app, nil
}

// The short spelling means the module block; the removed former spellings
// are refused, not ignored.
func TestCaddyfileBackendSpellings(t *testing.T) {
	same := [][2]string{
		{"rules r.yaml\nvault bolt /v/vault.db", "rules r.yaml\nvault bolt {\npath /v/vault.db\n}"},
	}
	for _, pair := range same {
		a, err := adaptTokengate(t, pair[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := adaptTokengate(t, pair[1])
		if err != nil {
			t.Fatal(err)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("%q adapts to %s\n%q adapts to %s", pair[0], ja, pair[1], jb)
		}
	}
	off, err := adaptTokengate(t, "rules r.yaml\nnetwork off")
	if err != nil || off["no_network"] != true {
		t.Errorf("network off: %v %v", off, err)
	}
	for src, want := range map[string]string{
		"rules r.yaml\nvault nosuch":                          `unknown tokengate.vaults module "nosuch"`,
		"rules r.yaml\ncvv_store memcached":                   `unknown tokengate.cvv_stores module "memcached"`,
		"rules r.yaml\nnetwork off\nnetwork builtin":          "network off and another network are both set",
		"rules r.yaml\nvault bolt\nvault bolt":                "vault is already set",
		"rules r.yaml\nvault_path /x":                         `unrecognized tokengate option "vault_path"`,
		"rules r.yaml\nnetwork builtin {\neci visa 5\n}":      "eci visa: want a two-digit ECI",
		"rules r.yaml\nnetwork builtin {\ntoken_bin foo 1\n}": "Caddyfile:",
		"rules r.yaml\ncvv_store memory {\nttl 1s\n}":         `unrecognized memory cvv_store option "ttl"`,
	} {
		if _, err := adaptTokengate(t, src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want one containing %q", src, err, want)
		}
	}
}

// Every backend is a guest module in its namespace, as list-modules shows.
func TestBackendModulesRegistered(t *testing.T) {
	for _, id := range []string{"tokengate.vaults.bolt", "tokengate.cvv_stores.memory", "tokengate.networks.builtin"} {
		if _, err := caddy.GetModule(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}

// A JSON config gets the checks the Caddyfile parser makes, from Validate.
func TestJSONConfigValidated(t *testing.T) {
	copyFile, err := filepath.Abs("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for body, want := range map[string]string{
		`"cvv_store": {"backend": "memory", "sweep_interval": 1}`:        "sweep_interval",
		`"networks": [{"provider": "builtin", "eci": {"visa": "5"}}]`:    "eci",
		`"networks": [{"provider": "builtin"}, {"provider": "builtin"}]`: "configured twice",
		`"vault_path": "` + dir + `/v.db"`:                               `unknown field "vault_path"`,
		`"network": {"disabled": true}`:                                  `unknown field "network"`,
		`"vault": {"backend": "bolt", "path": "` + dir + `"}`:            "is a directory",
		`"max_body_size": -1`:                                            "max_body_size",
		`"vault": {"backend": "bolt", "path": "` + dir + `/x.db"}, "no_network": true, "networks": [{"provider": "builtin"}]`: "choose one",
	} {
		if !strings.Contains(body, `"vault`) {
			body += `, "vault": {"backend": "bolt", "path": "` + dir + `/own.db"}` // never Caddy's data directory
		}
		cfg := `{"admin": {"disabled": true}, "apps": {"tokengate": {"rules": "` + copyFile + `", "keys": {"dev_file": "` + dir + `/dev.json"}, ` + body + `}}}`
		if err := caddy.Validate(mustConfig(t, cfg)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want one containing %q", body, err, want)
		}
	}
}

func mustConfig(t *testing.T, s string) *caddy.Config {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal([]byte(s), &cfg); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// The handlers check in Validate what the Caddyfile parser cannot see in a
// JSON config.
func TestHandlersValidate(t *testing.T) {
	for _, v := range []caddy.Validator{
		&Tokenize{MaxBodySize: -1},
		&Tokenize{Unmatched: "deny"},
		&Detokenize{APIKeyHeader: "X-Api Key"},
		&Detokenize{APIKeyHeader: "Host"},
		&Detokenize{APIKeyHeader: defaultAPIKeyHeader, MaxBodySize: -5},
	} {
		if err := v.Validate(); err == nil {
			t.Errorf("%+v: no error", v)
		}
	}
	if err := (&Detokenize{APIKeyHeader: "X-Merchant-Key"}).Validate(); err != nil {
		t.Errorf("a good header: %v", err)
	}
	for _, u := range []string{"", UnmatchedReject, UnmatchedLog, UnmatchedPass} {
		if err := (&Tokenize{Unmatched: u}).Validate(); err != nil {
			t.Errorf("unmatched %q: %v", u, err)
		}
	}
}
