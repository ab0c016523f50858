package boltvault

import (
	"crypto/sha256"
	"encoding/hex"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Snapshot describes a copy of the vault file: what a backup streamed, or
// what VerifyFile found in a file.
type Snapshot struct {
	// Size is the file's length in bytes.
	Size int64
	// Records is the number of card records (sealed), all tenants.
	Records int64
	// Tenants is the number of records per tenant.
	Tenants map[string]int64
	// StateEntries is the number of entries in the key-value buckets: the
	// builtin network token service's tokens, among others.
	StateEntries int64
	// SHA256 is the hex SHA-256 of the file's bytes.
	SHA256 string
}

// Backup writes a consistent copy of the whole file to w, from one read
// transaction: writers go on committing while it runs, and the copy is the
// file as of the transaction's start (bbolt's Tx.WriteTo, which reads the
// pages of that transaction from the file). begin is called first, with
// the copy's size and record counts, so an HTTP handler can send them as
// headers before the body; the returned Snapshot adds the SHA-256 of what
// was written.
//
// A long backup holds the read transaction open; bbolt cannot reuse pages
// freed meanwhile (the file may grow by what is rewritten during it), and a
// writer that must grow the memory map waits for the transaction to end.
func (b *Bolt) Backup(w io.Writer, begin func(Snapshot) error) (Snapshot, error) {
	var snap Snapshot
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		if snap, err = count(tx); err != nil {
			return err
		}
		snap.Size = tx.Size()
		if begin != nil {
			if err := begin(snap); err != nil {
				return err
			}
		}
		h := sha256.New()
		if _, err := tx.WriteTo(io.MultiWriter(w, h)); err != nil {
			return err
		}
		snap.SHA256 = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return snap, err
}

// count counts the records per tenant and the state entries that tx sees.
func count(tx *bolt.Tx) (Snapshot, error) {
	snap := Snapshot{Tenants: map[string]int64{}}
	if vb := tx.Bucket(bucketVault); vb != nil {
		err := vb.ForEachBucket(func(tenant []byte) error {
			tokens, _ := tenantBuckets(tx, string(tenant))
			if tokens == nil {
				return nil
			}
			n := int64(tokens.Stats().KeyN)
			snap.Tenants[string(tenant)] = n
			snap.Records += n
			return nil
		})
		if err != nil {
			return snap, err
		}
	}
	if kv := tx.Bucket(bucketKV); kv != nil {
		err := kv.ForEachBucket(func(name []byte) error {
			snap.StateEntries += int64(kv.Bucket(name).Stats().KeyN)
			return nil
		})
		if err != nil {
			return snap, err
		}
	}
	if log := tx.Bucket(bucketKVLog); log != nil { // the keys kept in memory (kvindex.go)
		err := log.ForEachBucket(func(name []byte) error {
			snap.StateEntries += int64(log.Bucket(name).Stats().KeyN)
			return nil
		})
		if err != nil {
			return snap, err
		}
	}
	return snap, nil
}
