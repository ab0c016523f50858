package boltvault

import (
	"context"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// KV is a named key-value bucket inside a Bolt file. The embedded
// network-token emulator keeps its token state here, so one file (one lock,
// one backup) holds everything the embedded deployment knows. Values are
// opaque to KV: whoever stores card data in it must seal it first.
type KV struct {
	db   *bolt.DB
	w    *committer
	b    *Bolt
	name []byte
	// memPrefix marks the keys kept in memory and logged in write order
	// (KeepInMemory, kvindex.go); "" for none.
	memPrefix string
}

// KV returns the key-value bucket called bucket. The bucket lives under its
// own namespace, so no name can collide with the vault's record buckets. The
// bucket is created on the first Save.
func (b *Bolt) KV(bucket string) *KV {
	return &KV{db: b.db, w: b.w, b: b, name: []byte(bucket)}
}

// KeepInMemory returns kv keeping its keys that start with prefix in
// memory (see kvindex.go): for write-once keys that are only asked about
// with Exists and are random, so that writing one appends to a log
// instead of dirtying a random page. Load still finds them, slowly.
func (kv *KV) KeepInMemory(prefix string) *KV {
	c := *kv
	c.memPrefix = prefix
	return &c
}

// Load returns the value stored under id, or nil and no error when there is
// none. The returned slice is a copy the caller owns.
func (kv *KV) Load(ctx context.Context, id string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := kv.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketKV).Bucket(kv.name)
		if bk == nil || id == "" {
			return nil
		}
		if v := bk.Get([]byte(id)); v != nil {
			// bbolt's memory is only valid inside the transaction.
			out = append([]byte{}, v...)
			return nil
		}
		if kv.inMemory(id) {
			var err error
			out, err = loadLogged(tx, kv.name, id)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vault: kv %s: load: %w", kv.name, err)
	}
	return out, nil
}

// Exists reports whether any of ids holds a value, in one read
// transaction (network.Exister).
func (kv *KV) Exists(ctx context.Context, ids ...string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var found bool
	err := kv.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketKV).Bucket(kv.name)
		for _, id := range ids {
			// Under the key itself: every key but in-memory ones, and
			// in-memory ones a release before the log wrote (or an import).
			if found = bk != nil && id != "" && bk.Get([]byte(id)) != nil; found {
				return nil
			}
		}
		return nil
	})
	if err == nil && !found {
		for _, id := range ids {
			if !kv.inMemory(id) {
				continue
			}
			if found, err = kv.b.index(string(kv.name)).has(kv.db, kv.name, id); found || err != nil {
				break
			}
		}
	}
	if err != nil {
		return false, fmt.Errorf("vault: kv %s: load: %w", kv.name, err)
	}
	return found, nil
}

// Save stores data under id durably: like Put, it returns after the write is
// on disk, and concurrent Saves share one fsync (group commit).
func (kv *KV) Save(ctx context.Context, id string, data []byte) error {
	return kv.SaveAll(ctx, map[string][]byte{id: data})
}

// SaveAll stores every entry in one transaction: all or none are written,
// durably, sharing a batched fsync with concurrent writers. To commit
// entries with a record instead, hold them in a vault.Unit.
func (kv *KV) SaveAll(ctx context.Context, entries map[string][]byte) error {
	if len(kv.name) == 0 {
		return errors.New("vault: kv: empty bucket name")
	}
	for id := range entries {
		if id == "" {
			return fmt.Errorf("vault: kv %s: empty id", kv.name)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := kv.w.do(func(tx *bolt.Tx) error { return kv.putAll(tx, entries, true) })
	if err != nil {
		return fmt.Errorf("vault: kv %s: save: %w", kv.name, err)
	}
	return nil
}

// putAll puts entries into tx; copy says whether their values must be
// copied first.
func (kv *KV) putAll(tx *bolt.Tx, entries map[string][]byte, copy bool) error {
	bk, err := tx.Bucket(bucketKV).CreateBucketIfNotExists(kv.name)
	if err != nil {
		return err
	}
	var logged []string
	for id, data := range entries {
		if kv.inMemory(id) {
			logged = append(logged, id)
			continue
		}
		// bbolt references the value until commit; the copy keeps a
		// caller that shares its buffer with another goroutine from
		// corrupting it.
		if copy {
			data = append([]byte{}, data...)
		}
		if err := bk.Put([]byte(id), data); err != nil {
			return err
		}
	}
	if len(logged) == 0 {
		return nil
	}
	slices.Sort(logged)                       // a map's order is random; the log's is kept
	return kv.logEntries(tx, logged, entries) // copies the values itself
}
