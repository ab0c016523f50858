package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/keys"
)

// TestAPIKeysBearerAndHash: a key configured by its SHA-256 works, also sent
// as Proxy-Authorization: Bearer, and neither header reaches the PSP.
func TestAPIKeysBearerAndHash(t *testing.T) {
	const hashed = "a_key_only_its_hash_is_configured"
	g := startGateway(t, "api_key_hash "+apiKeyHash(hashed)+" tenant_a")
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	for _, headers := range [][]string{
		{"X-Tokengate-Api-Key", hashed},
		{"Proxy-Authorization", "Bearer " + hashed},
		{"Proxy-Authorization", "Bearer " + apiKeyA},
	} {
		out := g.post(outboundURL+"/payments", jsonCT, in.body, headers...)
		if out.status != 200 || out.header.Get(InjectedHeader) != "card.number=network_token" {
			t.Errorf("%s: %d %s", headers[0], out.status, out.body)
		}
		if out.header.Get("Psp-Saw-Api-Key") != "" {
			t.Errorf("%s: the PSP saw the key", headers[0])
		}
	}
	if out := g.post(outboundURL+"/payments", jsonCT, in.body, "Proxy-Authorization", "Basic "+hashed); out.status != 401 {
		t.Errorf("Basic instead of Bearer: %d", out.status)
	}
}

func TestTenantForComparesAll(t *testing.T) {
	a := &App{APIKeys: []APIKey{{Key: "k1", Tenant: "a"}, {KeySHA256: apiKeyHash("k2"), Tenant: "b"}}}
	if err := a.loadAPIKeys(); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"k1": "a", "k2": "b", "k3": "", "": ""} {
		got, ok := a.callerFor(key)
		if got.tenant != want || ok != (want != "") {
			t.Errorf("%q: %q %v", key, got.tenant, ok)
		}
		// The audit trail's key id is the prefix of what key_sha256 holds.
		if ok && got.keyID != apiKeyHash(key)[:12] {
			t.Errorf("%q: key id %q, want the first 12 hex digits of its SHA-256", key, got.keyID)
		}
	}
	for _, bad := range []APIKey{{KeySHA256: "zz", Tenant: "a"}, {Key: "k", KeySHA256: apiKeyHash("k"), Tenant: "a"}, {Key: "k"}} {
		a := &App{APIKeys: []APIKey{bad}}
		if err := a.loadAPIKeys(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestKeysetWrapAndStartupCheck: a cleartext keyset is wrapped and rewrapped
// by the command without changing its keys; a gateway refuses to start with
// a keyset that cannot open its vault's cards.
func TestKeysetWrapAndStartupCheck(t *testing.T) {
	dir := t.TempDir()
	clear, err := keys.GenerateKeyset(nil)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := keys.KEKFromBase64("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=")
	next, _ := keys.KEKFromBase64("YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY=")
	wrapped, err := keys.RewrapKeyset(clear, nil, old)
	if err != nil || keys.IsCleartextKeyset(wrapped) || !keys.IsCleartextKeyset(clear) {
		t.Fatalf("wrap: %v", err)
	}
	rewrapped, err := keys.RewrapKeyset(wrapped, old, next)
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := keys.Parse(clear, nil)
	k2, err := keys.Parse(rewrapped, next)
	if err != nil || k1.Fingerprint("t", visaPAN) != k2.Fingerprint("t", visaPAN) {
		t.Fatalf("rewrapped keyset differs: %v", err)
	}
	if _, err := keys.RewrapKeyset(wrapped, next, old); err == nil {
		t.Error("rewrap with the wrong current key succeeded")
	}

	// Cards sealed with the development keyset, then a production keyset.
	g := startGateway(t, "")
	g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	keyset := filepath.Join(dir, "keyset.json")
	os.WriteFile(keyset, clear, 0o600)
	cfg := g.config("keyset_file "+keyset, defaultSites)
	g.loadError(cfg, "the configured keyset cannot open the cards in") // fails Start: the vault is reachable

	// On a new vault the cleartext keyset starts, with a warning.
	g2 := startGateway(t, "keyset_file "+keyset)
	if !strings.Contains(g2.log(), "cleartext keyset file") {
		t.Error("no warning for a cleartext keyset file")
	}
}

func TestKeyCommandsHelpers(t *testing.T) {
	if _, err := kekFromEnv("TOKENGATE_TEST_UNSET_VARIABLE"); err == nil || !strings.Contains(err.Error(), "TOKENGATE_TEST_UNSET_VARIABLE is not set") {
		t.Errorf("unset variable: %v", err)
	}
	if code, err := hashKey(strings.NewReader("")); err == nil || code == 0 {
		t.Error("an empty key was hashed")
	}
}
