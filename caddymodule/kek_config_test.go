package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/tokengate/tokengate/keys"
)

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKEKConfig: the kek directive adapts to the tokengate.keks modules;
// their settings are checked at validate, which calls no KMS (nothing
// listens on the endpoint); kek and its shorthands together are refused.
func TestKEKConfig(t *testing.T) {
	uri := "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/bc436485-5092-42b8-92a3-0aa8b93536dc"
	for kek, want := range map[string]string{
		"kek env TOKENGATE_KEK":     `"kek":{"source":"env","variable":"TOKENGATE_KEK"}`,
		"kek file /run/secrets/kek": `"kek":{"path":"/run/secrets/kek","source":"file"}`,
		"kek aws_kms {\n\t\t\tkey_uri " + uri + "\n\t\t\tregion eu-west-1\n\t\t\tendpoint http://127.0.0.1:1\n\t\t\ttimeout 3s\n\t\t}": `"kek":{"endpoint":"http://127.0.0.1:1","key_uri":"` + uri + `","region":"eu-west-1","source":"aws_kms","timeout":3000000000}`,
	} {
		js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte("{\n\ttokengate {\n\t\trules r.yaml\n\t\t"+kek+"\n\t}\n}\n"), nil)
		if err != nil {
			t.Fatalf("%s: %v", kek, err)
		}
		if !strings.Contains(string(js), want) {
			t.Errorf("%s adapts to %s; want %s", kek, js, want)
		}
	}

	rules, err := filepath.Abs("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := `"rules": "` + rules + `", "vault": {"backend": "bolt", "path": "` + dir + `/v.db"}`
	ok := `{"source": "aws_kms", "key_uri": "` + uri + `", "endpoint": "http://127.0.0.1:1"}`
	cfg := func(keys string) *caddy.Config {
		var c caddy.Config
		s := `{"admin": {"disabled": true}, "apps": {"tokengate": {` + base + `, "keys": {"file": "` + dir + `/keyset.json", ` + keys + `}}}}`
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			t.Fatal(err)
		}
		return &c
	}
	// validate reads the keyset file, and calls no KMS (none is there):
	// unwrapping it is Start's.
	if err := caddy.Validate(cfg(`"kek": ` + ok)); err == nil || !strings.Contains(err.Error(), "keyset.json") {
		t.Fatalf("validate with no keyset file: %v", err)
	}
	clear, err := keys.GenerateKeyset(nil)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "keyset.json"), clear)
	if err := caddy.Validate(cfg(`"kek": ` + ok)); err == nil || !strings.Contains(err.Error(), "is cleartext but a key-encrypting key is configured (AWS KMS key "+uri+")") {
		t.Fatalf("validate with a cleartext keyset: %v", err)
	}
	kek, err := keys.NewKEK(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := keys.GenerateKeyset(kek)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "keyset.json"), wrapped)
	if err := caddy.Validate(cfg(`"kek": ` + ok)); err != nil {
		t.Fatalf("validate with kek aws_kms: %v", err)
	}
	for keys, want := range map[string]string{
		`"kek": {"source": "aws_kms"}`:                                                      "key_uri is required",
		`"kek": {"source": "aws_kms", "key_uri": "arn:aws:kms:x"}`:                          "want aws-kms://",
		`"kek": {"source": "aws_kms", "key_uri": "aws-kms://alias/tokengate"}`:              "names no region",
		`"kek": {"source": "aws_kms", "key_uri": "` + uri + `", "endpoint": "127.0.0.1:1"}`: "want an http(s) URL",
		`"kek": {"source": "env"}`:                                                          "variable is required",
		`"kek": ` + ok + `, "kek_env": "TOKENGATE_KEK"`:                                     "not both",
		`"kek": {"source": "gcp_kms"}`:                                                      "gcp_kms",
	} {
		if err := caddy.Validate(cfg(keys)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want one containing %q", keys, err, want)
		}
	}
}

// TestKEKEnvAndFileModules: kek env and kek file serve as kek_env and
// kek_file do, through a real Caddy.
func TestKEKEnvAndFileModules(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	kek, err := keys.NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	data, err := keys.GenerateKeyset(kek)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyset := filepath.Join(dir, "keyset.json")
	writeTestFile(t, keyset, data)
	b64 := base64.StdEncoding.EncodeToString(raw)
	writeTestFile(t, filepath.Join(dir, "kek"), []byte(b64+"\n"))
	t.Setenv("TEST_KEK_MODULE", b64)
	for _, kekLine := range []string{"kek env TEST_KEK_MODULE", "kek file " + filepath.Join(dir, "kek")} {
		g := startGateway(t, "keyset_file "+keyset+"\n\t\t"+kekLine)
		if strings.Contains(g.log(), "DEVELOPMENT KEYSET") || strings.Contains(g.log(), "cleartext keyset") {
			t.Fatalf("%s: the wrapped keyset was not used", kekLine)
		}
		in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
		if out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA); out.status != http.StatusOK {
			t.Fatalf("%s: detokenize: %d %s", kekLine, out.status, out.body)
		}
		if c := slices.IndexFunc(g.app().Readiness().Components, func(c Component) bool { return c.Name == componentKEK }); c >= 0 {
			t.Fatalf("%s: a local KEK is listed as a component", kekLine)
		}
	}
}
