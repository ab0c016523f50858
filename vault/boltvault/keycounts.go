package boltvault

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
)

// ForgetSealingKey implements vault.KeyForgetter: in one write transaction
// (no record can be written meanwhile) it walks every record and drops the
// id from meta/sealing_keys only when none is sealed with it.
func (b *Bolt) ForgetSealingKey(ctx context.Context, id uint32) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var inUse int64
	err := b.w.do(func(tx *bolt.Tx) error {
		inUse = 0 // the committer may run this more than once
		err := walkAfter(tx.Bucket(bucketVault), tokensOf, "", "", func(_, k, v []byte) (bool, error) {
			rec, err := decodeRecord(string(k), v)
			if err != nil {
				return false, err
			}
			if k, ok := vault.SealingKeyID(rec.Sealed); ok && k == id {
				inUse++
			}
			return true, nil
		})
		if err != nil || inUse > 0 {
			return err
		}
		return tx.Bucket(bucketMeta).Bucket(bucketSealingKeys).Delete(binary.BigEndian.AppendUint32(nil, id))
	})
	if err != nil {
		return 0, fmt.Errorf("vault: forgetting key %d: %w", id, err)
	}
	return inUse, nil
}

// Interface guard.
var _ vault.KeyForgetter = (*Bolt)(nil)
