package boltvault_test

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// Two records of one tenant swapped through the vault's own writes (sealed
// data and fingerprint) do not open under each other's token.
func TestRowSwapThroughUpdate(t *testing.T) {
	v := vaulttest.OpenBolt(t)
	vaulttest.RowSwap(t, v, func(t *testing.T, tenant, a, b string) { vaulttest.SwapThroughUpdate(t, v, tenant, a, b) })
}

// Two records' whole values swapped in the file (token field included, and
// the fingerprint index to match), with the gateway stopped: a record is
// what its key says, and neither opens.
func TestRowSwapInTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	v, err := boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	proxy := &swappable{Vault: v}
	vaulttest.RowSwap(t, proxy, func(t *testing.T, tenant, a, b string) {
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			tb := tx.Bucket([]byte("vault")).Bucket([]byte(tenant))
			tokens, fps := tb.Bucket([]byte("tokens")), tb.Bucket([]byte("fingerprints"))
			va, vb := append([]byte(nil), tokens.Get([]byte(a))...), append([]byte(nil), tokens.Get([]byte(b))...)
			if err := tokens.Put([]byte(a), vb); err != nil {
				return err
			}
			if err := tokens.Put([]byte(b), va); err != nil {
				return err
			}
			return fps.ForEach(func(k, tok []byte) error {
				switch string(tok) {
				case a:
					return fps.Put(k, []byte(b))
				case b:
					return fps.Put(k, []byte(a))
				}
				return nil
			})
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		nv, err := boltvault.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nv.Close() })
		proxy.Vault = nv
	})
}

// swappable lets a test replace the vault behind it (the file is reopened
// after it was edited).
type swappable struct{ vault.Vault }

// Records sealed before the token was bound open, and are re-sealed on
// their next write.
func TestLegacyRecordsResealedOnWrite(t *testing.T) {
	vaulttest.LegacyReseal(t, vaulttest.OpenBolt(t))
}
