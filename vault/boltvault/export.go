package boltvault

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
)

// walkAfter visits the entries of the two-level layout under top
// (top/<outer>/.../<key> -> value, the innermost bucket given by inner) that
// come after (afterOuter, afterKey), in byte order of outer, then key,
// until visit says to stop.
func walkAfter(top *bolt.Bucket, inner func(outer *bolt.Bucket) *bolt.Bucket, afterOuter, afterKey string, visit func(outer, k, v []byte) (more bool, err error)) error {
	oc := top.Cursor()
	ok, _ := oc.First()
	if afterOuter != "" {
		ok, _ = oc.Seek([]byte(afterOuter))
	}
	for ; ok != nil; ok, _ = oc.Next() {
		ob := top.Bucket(ok)
		if ob == nil {
			continue
		}
		b := inner(ob)
		if b == nil {
			continue
		}
		c := b.Cursor()
		k, v := c.First()
		if string(ok) == afterOuter && afterKey != "" {
			k, v = c.Seek([]byte(afterKey))
			if k != nil && string(k) == afterKey {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			more, err := visit(ok, k, v)
			if err != nil || !more {
				return err
			}
		}
	}
	return nil
}

func tokensOf(tenant *bolt.Bucket) *bolt.Bucket { return tenant.Bucket(bucketTokens) }

func itself(b *bolt.Bucket) *bolt.Bucket { return b }

// Export implements vault.Exporter: tenants, then tokens, in byte order.
func (b *Bolt) Export(ctx context.Context, after vault.RecordKey, limit int) ([]vault.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit = vault.ListOptions{Limit: limit}.PageLimit()
	var out []vault.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		return walkAfter(tx.Bucket(bucketVault), tokensOf, after.Tenant, after.Token, func(tenant, k, v []byte) (bool, error) {
			rec, err := decodeRecord(string(k), v)
			if err != nil {
				return false, err
			}
			// Filed under its bucket and key, whatever its value says: a
			// record moved from elsewhere is then moved (or re-sealed) as
			// what it is now, and the pages follow the file's order.
			rec.Tenant, rec.Token = string(tenant), string(k)
			out = append(out, rec)
			return len(out) < limit, nil
		})
	})
	return out, err
}

// CountRecords implements vault.Exporter.
func (b *Bolt) CountRecords(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVault).ForEachBucket(func(tenant []byte) error {
			if tokens, _ := tenantBuckets(tx, string(tenant)); tokens != nil {
				n += int64(tokens.Stats().KeyN)
			}
			return nil
		})
	})
	return n, err
}

// Import implements vault.Importer: the whole batch is one transaction
// (one fsync).
func (b *Bolt) Import(ctx context.Context, recs []vault.Record) ([]vault.ImportOutcome, error) {
	for _, rec := range recs {
		if err := validate(rec); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]vault.ImportOutcome, len(recs))
	err := b.w.do(func(tx *bolt.Tx) error {
		// The committer may run this more than once: every outcome is set anew.
		for i, rec := range recs {
			tokens, fps, err := createTenantBuckets(tx, rec.Tenant)
			if err != nil {
				return err
			}
			existing, err := loadRecord(tokens, rec.Token)
			switch {
			case err == nil && vault.SameRecord(existing, rec):
				out[i] = vault.AlreadyPresent
				continue
			case err == nil:
				out[i] = vault.ImportConflict
				continue
			case !errors.Is(err, vault.ErrNotFound):
				return err
			}
			if fps.Get([]byte(rec.Fingerprint)) != nil {
				out[i] = vault.ImportConflict
				continue
			}
			if err := storeRecord(tokens, rec); err != nil {
				return err
			}
			if err := fps.Put([]byte(rec.Fingerprint), []byte(rec.Token)); err != nil {
				return err
			}
			if err := indexNetworkToken(tx, vault.Record{}, rec); err != nil {
				return err
			}
			out[i] = vault.Imported
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vault: import: %w", err)
	}
	return out, nil
}

// ExportState implements vault.StateExporter over the KV buckets. A KV's
// keys kept in memory (kvindex.go) are exported as if filed under
// themselves, in their place in id order, so that a migration carries them
// as the older layout did (PostgreSQL refuses a taken DPAN by its key).
func (b *Bolt) ExportState(ctx context.Context, after vault.StateKey, limit int) ([]vault.StateEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit = vault.ListOptions{Limit: limit}.PageLimit()
	var out []vault.StateEntry
	err := b.db.View(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketKV)
		sc := top.Cursor()
		space, _ := sc.First()
		if after.Space != "" {
			space, _ = sc.Seek([]byte(after.Space))
		}
		for ; space != nil && len(out) < limit; space, _ = sc.Next() {
			bk := top.Bucket(space)
			if bk == nil {
				continue
			}
			afterID := ""
			if string(space) == after.Space {
				afterID = after.ID
			}
			log, order, err := b.loggedOrder(tx, space)
			if err != nil {
				return err
			}
			next, err := firstLoggedAfter(log, order, afterID)
			if err != nil {
				return err
			}
			// lk, lv: the logged entry at order[next], or nil past the end.
			var lk, lv []byte
			advance := func() (err error) {
				lk, lv = nil, nil
				if next < len(order) {
					lk, lv, err = loggedAt(log, order[next])
					next++
				}
				return err
			}
			if err := advance(); err != nil {
				return err
			}
			c := bk.Cursor()
			k, v := c.First()
			if afterID != "" {
				if k, v = c.Seek([]byte(afterID)); k != nil && string(k) == afterID {
					k, v = c.Next()
				}
			}
			emit := func(id, data []byte) {
				out = append(out, vault.StateEntry{
					StateKey: vault.StateKey{Space: string(space), ID: string(id)},
					Data:     append([]byte{}, data...), // bbolt's memory is only valid inside the transaction
				})
			}
			for len(out) < limit && (k != nil || lk != nil) {
				switch d := bytes.Compare(k, lk); {
				case lk == nil || k != nil && d < 0:
					emit(k, v)
					k, v = c.Next()
				case k != nil && d == 0: // filed under itself too (an import): once
					emit(k, v)
					k, v = c.Next()
					if err := advance(); err != nil {
						return err
					}
				default:
					emit(lk, lv)
					if err := advance(); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	return out, err
}

// ImportState implements vault.StateImporter: one transaction per batch.
func (b *Bolt) ImportState(ctx context.Context, entries []vault.StateEntry) ([]vault.ImportOutcome, error) {
	for _, e := range entries {
		if e.Space == "" || e.ID == "" {
			return nil, errors.New("vault: import state: an entry has no space or no id")
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logged, err := b.loggedValues(entries)
	if err != nil {
		return nil, fmt.Errorf("vault: import state: %w", err)
	}
	out := make([]vault.ImportOutcome, len(entries))
	err = b.w.do(func(tx *bolt.Tx) error {
		for i, e := range entries {
			bk, err := tx.Bucket(bucketKV).CreateBucketIfNotExists([]byte(e.Space))
			if err != nil {
				return err
			}
			existing := bk.Get([]byte(e.ID))
			if existing == nil {
				existing = logged[i]
			}
			switch {
			case existing == nil:
				if err := bk.Put([]byte(e.ID), append([]byte{}, e.Data...)); err != nil {
					return err
				}
				out[i] = vault.Imported
			case bytes.Equal(existing, e.Data):
				out[i] = vault.AlreadyPresent
			default:
				out[i] = vault.ImportConflict
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vault: import state: %w", err)
	}
	return out, nil
}

// loggedValues returns, for each entry, the value its key was logged with
// (kvindex.go), or nil: a logged key is not under itself, and ImportState
// must find it there too, or it would file a second value under the key
// (a DPAN reserved by two tokens, unreported, and Load answering with the
// import's). The set of hashes tells which keys are logged; the log of a
// space is read only when a batch holds some of its keys (a re-import),
// once for all of them.
func (b *Bolt) loggedValues(entries []vault.StateEntry) ([][]byte, error) {
	out := make([][]byte, len(entries))
	hits := map[string]map[string][]int{} // space -> id -> entries
	for i, e := range entries {
		hit, err := b.index(e.Space).has(b.db, []byte(e.Space), e.ID)
		if err != nil {
			return nil, err
		}
		if hit {
			if hits[e.Space] == nil {
				hits[e.Space] = map[string][]int{}
			}
			hits[e.Space][e.ID] = append(hits[e.Space][e.ID], i)
		}
	}
	if len(hits) == 0 {
		return out, nil
	}
	err := b.db.View(func(tx *bolt.Tx) error {
		for space, ids := range hits {
			err := forEachLogged(tx, []byte(space), func(k, v []byte) error {
				for _, i := range ids[string(k)] {
					out[i] = append([]byte{}, v...) // the last write wins, as Load's
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Interface guards.
var (
	_ vault.Exporter      = (*Bolt)(nil)
	_ vault.Importer      = (*Bolt)(nil)
	_ vault.StateExporter = (*Bolt)(nil)
	_ vault.StateImporter = (*Bolt)(nil)
)
