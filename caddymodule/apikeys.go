package caddymodule

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// apiKey is a configured detokenize credential, by its SHA-256.
type apiKey struct {
	hash   [sha256.Size]byte
	tenant string
}

func apiKeyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

func (a *App) loadAPIKeys() error {
	repl := caddy.NewReplacer()
	a.apiKeys = make([]apiKey, 0, len(a.APIKeys))
	for i, k := range a.APIKeys {
		var entry apiKey
		switch key := repl.ReplaceKnown(k.Key, ""); {
		case k.Tenant == "":
			return fmt.Errorf("tokengate: api key %d: a tenant is required", i+1)
		case key != "" && k.KeySHA256 != "":
			return fmt.Errorf("tokengate: api key %d: set key or key_sha256, not both", i+1)
		case key != "":
			entry.hash = sha256.Sum256([]byte(key))
		case k.KeySHA256 != "":
			raw, err := hex.DecodeString(k.KeySHA256)
			if err != nil || len(raw) != sha256.Size {
				return fmt.Errorf("tokengate: api key %d: key_sha256 must be 64 hex digits (caddy tokengate hash-key prints it)", i+1)
			}
			copy(entry.hash[:], raw)
		default:
			return fmt.Errorf("tokengate: api key %d: key or key_sha256 is required (an {env.*} placeholder may be unset)", i+1)
		}
		entry.tenant = k.Tenant
		a.apiKeys = append(a.apiKeys, entry)
	}
	return nil
}

// tenantFor returns the tenant an API key belongs to. The key's SHA-256 is
// compared with every configured one in constant time, and all are compared
// whatever matches, so the time taken says nothing about how close a guess
// was or which key it was.
func (a *App) tenantFor(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	h := sha256.Sum256([]byte(key))
	tenant, found := "", 0
	for _, k := range a.apiKeys {
		if subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1 {
			tenant, found = k.tenant, 1
		}
	}
	return tenant, found == 1
}

// apiKeyFrom takes the caller's API key from the configured header or, when
// that is absent, from Proxy-Authorization: Bearer (which Caddy's logs
// redact), and removes both so the key never leaves the gateway.
func apiKeyFrom(r *http.Request, header string) string {
	key := r.Header.Get(header)
	r.Header.Del(header)
	if auth := r.Header.Get("Proxy-Authorization"); auth != "" {
		r.Header.Del("Proxy-Authorization")
		if scheme, token, ok := strings.Cut(auth, " "); key == "" && ok && strings.EqualFold(scheme, "Bearer") {
			key = strings.TrimSpace(token)
		}
	}
	return key
}
