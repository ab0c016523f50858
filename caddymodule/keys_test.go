package caddymodule

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/keys"
)

// TestProductionKeyset runs the gateway on a keyset file wrapped by a
// key-encrypting key from the environment, as the README's production setup
// says, and refuses to load under the wrong KEK.
func TestProductionKeyset(t *testing.T) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	kekB64 := base64.StdEncoding.EncodeToString(raw)
	kek, err := keys.KEKFromBase64(kekB64)
	if err != nil {
		t.Fatal(err)
	}
	data, err := keys.GenerateKeyset(kek)
	if err != nil {
		t.Fatal(err)
	}
	keyset := filepath.Join(t.TempDir(), "keyset.json")
	if err := os.WriteFile(keyset, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_TOKENGATE_KEK", kekB64)
	g := startGateway(t, "keyset_file "+keyset+"\n\t\tkek_env TEST_TOKENGATE_KEK")
	if strings.Contains(g.log(), "DEVELOPMENT KEYSET") {
		t.Fatal("a development keyset was used although a keyset file is configured")
	}
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	if out.status != http.StatusOK {
		t.Fatalf("detokenize with a production keyset: %d %s", out.status, out.body)
	}

	_, _ = rand.Read(raw)
	t.Setenv("TEST_TOKENGATE_KEK", base64.StdEncoding.EncodeToString(raw))
	bad := &gateway{t: t, dir: t.TempDir()}
	bad.logFile = filepath.Join(bad.dir, "caddy.log")
	assertLoadError(t, bad.config("keyset_file "+keyset+"\n\t\tkek_env TEST_TOKENGATE_KEK", defaultSites), "keyset.json")
}

// rsa-keygen writes an RSA-2048 pair, the private half 0600, and never
// overwrites; jwe-encrypt and jwe-decrypt round-trip through it.
func TestRSAKeygenCommand(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub.pem")
	var out bytes.Buffer
	if _, err := jweCommand("rsa-keygen", priv, pub, "", nil, &out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(priv); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode: %v %v", fi.Mode(), err)
	}
	if _, err := jweCommand("rsa-keygen", priv, pub, "", nil, &out); err == nil {
		t.Fatal("rsa-keygen overwrote a key")
	}
	var jwe, plain bytes.Buffer
	if _, err := jweCommand("jwe-encrypt", "", pub, "k1", strings.NewReader(`{"cardNumber":"4111111111111111"}`), &jwe); err != nil {
		t.Fatal(err)
	}
	if strings.Count(jwe.String(), ".") != 4 || strings.Contains(jwe.String(), "4111") {
		t.Fatal("not a compact JWE")
	}
	if _, err := jweCommand("jwe-decrypt", priv, "", "", &jwe, &plain); err != nil || strings.TrimSpace(plain.String()) != `{"cardNumber":"4111111111111111"}` {
		t.Fatalf("round trip: %v", err)
	}
}
