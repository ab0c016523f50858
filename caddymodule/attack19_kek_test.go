package caddymodule

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/keys"
)

// TestAttack19KMSEndpointPlaintext: a careless operator points kek aws_kms
// at a KMS (a proxy, a VPC endpoint's IP) over plain http off this machine.
// KMS Decrypt answers with the keyset's plaintext: it would cross the
// network in clear. validate must refuse it, naming the field, as a network
// provider's base_url is refused; http stays allowed on loopback
// (local-kms).
func TestAttack19KMSEndpointPlaintext(t *testing.T) {
	uri := "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/bc436485-5092-42b8-92a3-0aa8b93536dc"
	rules, err := filepath.Abs("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kek, err := keys.NewKEK(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := keys.GenerateKeyset(kek)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "keyset.json"), wrapped)
	cfg := func(endpoint string) *caddy.Config {
		var c caddy.Config
		s := `{"admin": {"disabled": true}, "apps": {"tokengate": {"rules": "` + rules + `", "vault": {"backend": "bolt", "path": "` + dir + `/v.db"}, ` +
			`"keys": {"file": "` + dir + `/keyset.json", "kek": {"source": "aws_kms", "key_uri": "` + uri + `", "endpoint": "` + endpoint + `"}}}}}`
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			t.Fatal(err)
		}
		return &c
	}
	for _, ep := range []string{"http://10.1.2.3:8080", "http://kms.internal", "http://[2001:db8::1]:80"} {
		err := caddy.Validate(cfg(ep))
		if err == nil || !strings.Contains(err.Error(), "endpoint") || !strings.Contains(err.Error(), "https") {
			t.Errorf("endpoint %s: validate = %v; want a refusal asking for https", ep, err)
		}
	}
	for _, ep := range []string{"http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "https://kms.eu-west-1.amazonaws.com"} {
		if err := caddy.Validate(cfg(ep)); err != nil {
			t.Errorf("endpoint %s: %v", ep, err)
		}
	}
}
