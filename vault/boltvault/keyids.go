package boltvault

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
)

// The keys that sealed the file's records (vault.KeyRecorder):
//
//	meta/sealing_keys/<4-byte key id>  -> when it was first recorded (RFC 3339)
//	meta/sealing_keys_complete         -> when the list became complete
//
// Every write of a record looks its key id up in the same transaction and
// adds it when it is new: a lookup in a bucket of a few keys, in the file's
// memory map, beside the record's own JSON encoding. Being in the
// transaction, it is never lost to a rollback or a replay of the group
// commit, as an in-memory set updated before the commit could be.
var (
	bucketMeta         = []byte("meta")
	bucketSealingKeys  = []byte("sealing_keys")
	keySealingKeysDone = []byte("sealing_keys_complete")
)

// initSealingKeys creates the meta bucket of a file that has none: a new
// file, whose list is complete from the start, or one written by a release
// that did not record keys, whose list is complete once a scan has been
// through its records (vault.BackfillSealingKeys). It runs in Open's
// transaction, before the vault bucket is made.
func initSealingKeys(tx *bolt.Tx) error {
	if tx.Bucket(bucketMeta) != nil {
		return nil
	}
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if _, err := meta.CreateBucket(bucketSealingKeys); err != nil {
		return err
	}
	if vb := tx.Bucket(bucketVault); vb != nil {
		if k, _ := vb.Cursor().First(); k != nil {
			return nil // records from before: incomplete
		}
	}
	return meta.Put(keySealingKeysDone, stamp())
}

func stamp() []byte { return []byte(time.Now().UTC().Format(time.RFC3339)) }

// recordSealingKey adds the id of the key that sealed sealed, if new, in
// tx: the transaction writing the record.
func recordSealingKey(tx *bolt.Tx, sealed []byte) error {
	id, ok := vault.SealingKeyID(sealed)
	if !ok {
		return nil
	}
	return addSealingKey(tx, id)
}

func addSealingKey(tx *bolt.Tx, id uint32) error {
	b := tx.Bucket(bucketMeta).Bucket(bucketSealingKeys)
	k := binary.BigEndian.AppendUint32(nil, id)
	if b.Get(k) != nil {
		return nil
	}
	return b.Put(k, stamp())
}

// SealingKeys implements vault.KeyRecorder.
func (b *Bolt) SealingKeys(ctx context.Context) (vault.SealingKeys, error) {
	if err := ctx.Err(); err != nil {
		return vault.SealingKeys{}, err
	}
	var sk vault.SealingKeys
	err := b.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		sk.Complete = meta.Get(keySealingKeysDone) != nil
		return meta.Bucket(bucketSealingKeys).ForEach(func(k, _ []byte) error {
			if len(k) == 4 {
				sk.IDs = append(sk.IDs, binary.BigEndian.Uint32(k)) // bbolt's byte order is ascending
			}
			return nil
		})
	})
	return sk, err
}

// RecordSealingKeys implements vault.KeyRecorder.
func (b *Bolt) RecordSealingKeys(ctx context.Context, ids []uint32, complete bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.w.do(func(tx *bolt.Tx) error {
		for _, id := range ids {
			if err := addSealingKey(tx, id); err != nil {
				return err
			}
		}
		if complete && tx.Bucket(bucketMeta).Get(keySealingKeysDone) == nil {
			return tx.Bucket(bucketMeta).Put(keySealingKeysDone, stamp())
		}
		return nil
	})
}

// Interface guard.
var _ vault.KeyRecorder = (*Bolt)(nil)
