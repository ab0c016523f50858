package boltvault_test

import (
	"context"
	"fmt"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// The file records the key id of every record it writes.
func TestBoltSealingKeys(t *testing.T) {
	b, _ := openTestBolt(t)
	defer b.Close()
	vaulttest.SealingKeysSuite(t, b)
}

// A file written by a release that did not record keys (no meta bucket)
// opens with an incomplete record, which a scan completes.
func TestBoltSealingKeysBackfill(t *testing.T) {
	ctx := context.Background()
	b, path := openTestBolt(t)
	for i, id := range []uint32{42, 9, 42} {
		rec := vaulttest.Sample("acme", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i))
		rec.Sealed = vaulttest.SealedWith(id)
		if _, _, err := b.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("meta")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, err = boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	vaulttest.BackfillSuite(t, b, 9, 42)
}
