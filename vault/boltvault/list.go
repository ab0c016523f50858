package boltvault

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
)

// networkKey is a record's key in the network token index, nil when the
// record has no network token.
func networkKey(rec vault.Record) []byte {
	if rec.Network.ID == "" || rec.Network.Provider == "" {
		return nil
	}
	return []byte(rec.Network.Provider + "\x00" + rec.Network.ID)
}

// indexNetworkToken moves the network token index entry from old to next
// (either may be the zero Record, for a new or a deleted record).
func indexNetworkToken(tx *bolt.Tx, old, next vault.Record) error {
	idx := tx.Bucket(bucketNetworkIndex)
	oldKey, nextKey := networkKey(old), networkKey(next)
	if oldKey != nil && !bytes.Equal(oldKey, nextKey) {
		if err := idx.Delete(oldKey); err != nil {
			return err
		}
	}
	if nextKey == nil {
		return nil
	}
	return idx.Put(nextKey, []byte(next.Tenant+"\x00"+next.Token))
}

// buildNetworkIndex creates the network token index, filling it from the
// records when the file predates it.
func buildNetworkIndex(tx *bolt.Tx) error {
	if tx.Bucket(bucketNetworkIndex) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bucketNetworkIndex); err != nil {
		return err
	}
	return tx.Bucket(bucketVault).ForEachBucket(func(tenant []byte) error {
		tokens, _ := tenantBuckets(tx, string(tenant))
		if tokens == nil {
			return nil
		}
		return tokens.ForEach(func(k, v []byte) error {
			rec, err := decodeRecord(string(k), v)
			if err != nil {
				return err
			}
			return indexNetworkToken(tx, vault.Record{}, rec)
		})
	})
}

// GetByNetworkToken implements vault.Vault.
func (b *Bolt) GetByNetworkToken(_ context.Context, provider, id string) (vault.Record, error) {
	key := networkKey(vault.Record{Network: vault.NetworkToken{Provider: provider, ID: id}})
	if key == nil {
		return vault.Record{}, vault.ErrNotFound
	}
	var rec vault.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		ref := tx.Bucket(bucketNetworkIndex).Get(key)
		tenant, token, ok := bytes.Cut(ref, []byte{0})
		if !ok {
			return vault.ErrNotFound
		}
		tokens, _ := tenantBuckets(tx, string(tenant))
		var err error
		rec, err = loadRecord(tokens, string(token))
		return err
	})
	return rec, err
}

// List implements vault.Vault.
func (b *Bolt) List(ctx context.Context, tenant string, opts vault.ListOptions) (vault.Page, error) {
	if err := ctx.Err(); err != nil {
		return vault.Page{}, err
	}
	limit := opts.PageLimit()
	var page vault.Page
	err := b.db.View(func(tx *bolt.Tx) error {
		tokens, _ := tenantBuckets(tx, tenant)
		if tokens == nil {
			return nil
		}
		c := tokens.Cursor()
		k, v := c.First()
		if opts.After != "" {
			k, v = c.Seek([]byte(opts.After))
			if k != nil && string(k) == opts.After {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(page.Records) == limit {
				page.Next = page.Records[limit-1].Token
				return nil
			}
			rec, err := decodeRecord(string(k), v) // the key, as loadRecord says why
			if err != nil {
				return err
			}
			page.Records = append(page.Records, rec)
		}
		return nil
	})
	return page, err
}
