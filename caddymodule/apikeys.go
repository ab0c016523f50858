package caddymodule

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/audit"
)

// keyring holds API keys by their SHA-256, each with what it grants.
type keyring[T any] []keyEntry[T]

type keyEntry[T any] struct {
	hash  [sha256.Size]byte
	value T
}

func apiKeyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// keyHash resolves a configured key: the key itself (placeholders such as
// {env.PSP_KEY} replaced) or its hex SHA-256, exactly one of them.
func keyHash(key, keySHA256 string) ([sha256.Size]byte, error) {
	var hash [sha256.Size]byte
	switch key = caddy.NewReplacer().ReplaceKnown(key, ""); {
	case key != "" && keySHA256 != "":
		return hash, fmt.Errorf("set key or key_sha256, not both")
	case key != "":
		return sha256.Sum256([]byte(key)), nil
	case keySHA256 != "":
		raw, err := hex.DecodeString(keySHA256)
		if err != nil || len(raw) != sha256.Size {
			return hash, fmt.Errorf("key_sha256 must be 64 hex digits (caddy tokengate hash-key prints it)")
		}
		copy(hash[:], raw)
		return hash, nil
	}
	return hash, fmt.Errorf("key or key_sha256 is required (an {env.*} placeholder may be unset)")
}

// lookup returns what a key grants. The key's SHA-256 is compared with every
// configured one in constant time, and all are compared whatever matches,
// so the time taken says nothing about how close a guess was or which key
// it was.
func (k keyring[T]) lookup(key string) (T, bool) {
	var value T
	if key == "" {
		return value, false
	}
	h := sha256.Sum256([]byte(key))
	found := 0
	for _, e := range k {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			value, found = e.value, 1
		}
	}
	return value, found == 1
}

// caller is who a detokenize API key is: its tenant and its id in the
// audit trail (audit.KeyIDOf its SHA-256, worked out once, at load).
type caller struct {
	tenant string
	keyID  string
}

func (a *App) loadAPIKeys() error {
	a.apiKeys = make(keyring[caller], 0, len(a.APIKeys))
	for i, k := range a.APIKeys {
		if k.Tenant == "" {
			return fmt.Errorf("tokengate: api key %d: a tenant is required", i+1)
		}
		hash, err := keyHash(k.Key, k.KeySHA256)
		if err != nil {
			return fmt.Errorf("tokengate: api key %d: %w", i+1, err)
		}
		a.apiKeys = append(a.apiKeys, keyEntry[caller]{hash: hash, value: caller{tenant: k.Tenant, keyID: audit.KeyIDOf(hash)}})
	}
	return nil
}

// callerFor returns who a detokenize API key is.
func (a *App) callerFor(key string) (caller, bool) { return a.apiKeys.lookup(key) }

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
