package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/keys"
)

// componentKEK is the readiness component of a key-encrypting key in a KMS:
// listed (and required) only when the KEK is remote.
const componentKEK = "kek"

// loadKEK loads the kek guest module, if configured, into a.kek; kek_env
// and kek_file stay shorthands for the env and file modules. It calls no
// KMS: Validate of the module checks its settings only.
func (a *App) loadKEK(ctx caddy.Context) error {
	if a.Keys.KEKRaw == nil {
		return nil
	}
	if a.Keys.KEKEnv != "" || a.Keys.KEKFile != "" {
		return fmt.Errorf("tokengate: keys: set kek, or its shorthand kek_env or kek_file, not both")
	}
	mod, err := ctx.LoadModule(&a.Keys, "KEKRaw")
	if err != nil {
		return fmt.Errorf("tokengate: loading kek module: %w", err)
	}
	a.kek = mod.(KEKBackend).KEKSource()
	a.kekModule = caddy.GetModuleName(mod)
	return nil
}

// checkWrapped is what Provision checks of a keyset wrapped by a KMS key,
// calling no KMS: that the keyset file (or variable) is there, is a keyset
// file and is encrypted. Reading a file changes nothing, so `caddy
// validate` says so before a start would.
func (a *App) checkWrapped() error {
	var data []byte
	switch {
	case a.Keys.Env != "":
		v, ok := os.LookupEnv(a.Keys.Env)
		if !ok || v == "" {
			return fmt.Errorf("tokengate: keys: keyset variable %s is not set", a.Keys.Env)
		}
		data = []byte(v)
	case a.Keys.File != "":
		var err error
		if data, err = os.ReadFile(a.Keys.File); err != nil {
			return fmt.Errorf("tokengate: keys: read keyset file: %w", err) // *PathError names the file
		}
	default:
		return nil // a development keyset, made at Start
	}
	switch {
	case !json.Valid(data):
		return fmt.Errorf("tokengate: keys: the keyset (%s) is not a JSON keyset file", a.keysetName())
	case keys.IsCleartextKeyset(data):
		return fmt.Errorf("tokengate: keys: the keyset (%s) is cleartext but a key-encrypting key is configured (%s); encrypt it: caddy tokengate wrap --keyset <file> --new-kek-uri <key_uri>", a.keysetName(), a.kek)
	}
	return nil
}

func (a *App) keysetName() string {
	if a.Keys.Env != "" {
		return "variable " + a.Keys.Env
	}
	return "file " + a.Keys.File
}

// remoteKEK reports whether the keyset's KEK is in a KMS: then the keyset
// is opened at Start, never in Provision.
func (a *App) remoteKEK() bool { return a.kek != nil && a.kek.Remote() }

// kekUnreachable reports whether err is a KMS that could not be reached
// (retried, as a database that is down), not one that refused.
func kekUnreachable(err error) bool {
	var ke *keys.KEKError
	return errors.As(err, &ke) && ke.Unreachable
}

// unwrapped keeps the keyset last unwrapped by a KMS, keyed by the KMS key
// and the keyset's bytes, so a reload that changes neither (new rules, say)
// does not need the KMS, and a KMS outage cannot turn a config reload into
// a gateway that stops serving. A rotated or rewrapped keyset has other
// bytes and is unwrapped again.
var unwrapped struct {
	sync.Mutex
	key  [32]byte
	keys *keys.Keys
}

// keysetDigest is the cache key of the configured keyset with the KEK
// source, or false when the keyset is not a file or variable.
func (a *App) keysetDigest() ([32]byte, bool) {
	var data []byte
	switch {
	case a.Keys.Env != "":
		data = []byte(os.Getenv(a.Keys.Env))
	case a.Keys.File != "":
		var err error
		if data, err = os.ReadFile(a.Keys.File); err != nil {
			return [32]byte{}, false
		}
	default:
		return [32]byte{}, false
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", a.kek)
	h.Write(data)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, true
}

func cachedUnwrapped(key [32]byte) *keys.Keys {
	unwrapped.Lock()
	defer unwrapped.Unlock()
	if unwrapped.keys != nil && unwrapped.key == key {
		return unwrapped.keys
	}
	return nil
}

func storeUnwrapped(key [32]byte, ks *keys.Keys) {
	unwrapped.Lock()
	defer unwrapped.Unlock()
	unwrapped.key, unwrapped.keys = key, ks
}

// kekUnwraps counts the attempts to unwrap the keyset with a KMS key, by
// outcome: ok, unreachable (retried) or refused (the start fails).
var kekUnwraps = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: metricsNamespace, Name: "kek_unwraps_total",
	Help: "Attempts to unwrap the keyset with its key-encrypting key in a KMS, by outcome: ok, unreachable (the gateway is not ready and retries), refused (the KMS answered and refused: the start fails).",
}, []string{"outcome"})

// openKeys loads the keyset at Start: the development keyset that had to
// be generated, or the keyset wrapped by a KMS key (unwrapped here, once,
// each call bounded by the module's timeout). A KMS that could not be
// reached is an error the retry loop retries (the gateway is not ready); a
// KMS that answered and refused, or a keyset that cannot be loaded, is
// misconfigured.
func (a *App) openKeys(ctx context.Context) (*keys.Keys, error) {
	remote := a.remoteKEK()
	digest, cacheable := [32]byte{}, false
	if remote {
		if digest, cacheable = a.keysetDigest(); cacheable {
			if ks := cachedUnwrapped(digest); ks != nil {
				ks.RefuseLegacy(a.Keys.LegacyRecords == "refuse")
				a.status.set(componentKEK, StateReady, "", nil)
				return ks, nil
			}
		}
	}
	ks, err := a.loadKeys(ctx, true)
	switch {
	case err == nil:
	case remote && kekUnreachable(err):
		kekUnwraps.WithLabelValues("unreachable").Inc()
		a.status.set(componentKEK, StateWaiting, reasonUnreachable, err)
		return nil, err
	default:
		if remote {
			var ke *keys.KEKError
			if errors.As(err, &ke) {
				kekUnwraps.WithLabelValues("refused").Inc()
			}
			a.status.set(componentKEK, StateRefused, reasonKeyset, err)
		}
		a.status.set(componentVault, StateRefused, reasonKeyset, err)
		return nil, misconfigured(err)
	}
	if remote {
		kekUnwraps.WithLabelValues("ok").Inc()
		if cacheable {
			storeUnwrapped(digest, ks)
		}
		a.status.set(componentKEK, StateReady, "", nil)
		a.logger.Info("keyset unwrapped by its key-encrypting key in a KMS", zap.String("kek", a.kek.String()))
	}
	return ks, nil
}
