package caddymodule

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/keys"
)

// TestKEKFileFromSystemdCredential: kek_file reads the key-encrypting key
// from a file, as deploy/tokengate.service hands it over (LoadCredential puts
// it in $CREDENTIALS_DIRECTORY/kek, and the Caddyfile names it with the
// runtime placeholder {env.CREDENTIALS_DIRECTORY}); kek_env and kek_file
// together are refused.
func TestKEKFileFromSystemdCredential(t *testing.T) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
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
	if err := os.WriteFile(keyset, data, 0o600); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "credentials")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "kek"), []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	g := startGateway(t, "keyset_file "+keyset+"\n\t\tkek_file {env.CREDENTIALS_DIRECTORY}/kek")
	if strings.Contains(g.log(), "DEVELOPMENT KEYSET") || strings.Contains(g.log(), "cleartext keyset") {
		t.Fatal("the wrapped keyset was not used")
	}
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA); out.status != http.StatusOK {
		t.Fatalf("detokenize with the KEK from a file: %d %s", out.status, out.body)
	}

	t.Setenv("TEST_TOKENGATE_KEK", base64.StdEncoding.EncodeToString(raw))
	both := &gateway{t: t, dir: t.TempDir()}
	both.logFile = filepath.Join(both.dir, "caddy.log")
	assertLoadError(t, both.config("keyset_file "+keyset+"\n\t\tkek_env TEST_TOKENGATE_KEK\n\t\tkek_file {env.CREDENTIALS_DIRECTORY}/kek", defaultSites), "not both")
}
