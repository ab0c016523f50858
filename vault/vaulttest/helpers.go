package vaulttest

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault/boltvault"
)

var (
	keysOnce sync.Once
	keysVal  *keys.Keys
	keysErr  error
)

// Keys returns one development keyset for the whole test binary: generating
// Tink keysets is the slowest part of a test, and sharing one changes nothing
// a test can observe.
func Keys(t testing.TB) *keys.Keys {
	t.Helper()
	keysOnce.Do(func() {
		data, err := keys.GenerateKeyset(nil)
		if err != nil {
			keysErr = err
			return
		}
		keysVal, keysErr = keys.Parse(data, nil)
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keysVal
}

// OpenBolt opens a fresh bbolt vault in the test's temporary directory and
// closes it when the test ends.
func OpenBolt(t testing.TB) *boltvault.Bolt {
	t.Helper()
	v, err := boltvault.Open(filepath.Join(t.TempDir(), "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}
