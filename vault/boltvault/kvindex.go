package boltvault

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Write-once keys of a KV whose only question is "is it taken?" (the
// built-in network token service's DPAN reservations, "dpan-index:<MAC>")
// are random by nature: filed under themselves, each new one dirtied a
// randomly placed leaf of a B-tree that grows with the vault, and its
// branch page, in every group commit (about 2 of a new card's 8 page
// writes on a vault of 200,000 cards, and some 12 KB of node garbage).
//
// A KV told to keep such keys in memory (KeepInMemory) appends them to a
// log instead, in the order they are written, which dirties only the
// log's last leaf, and answers Exists for them from a set of their hashes
// that it reads from the log when first asked:
//
//	kv_log/<name>/<8-byte sequence, big-endian> -> uvarint key length, key, value
//
// Keys filed under themselves by an older release (or an import) stay
// where they are and are still found there, so files written before this
// layout need no migration. The set holds a 64-bit hash per key (measured:
// 23 bytes a key with the map's slack, 4.4 MiB for 200,000 keys) and no
// pointers, so the collector never scans it.
var bucketKVLog = []byte("kv_log")

// memIndex is the set of one KV's in-memory keys, shared by every KV value
// of that name on the file (b.KV is called per use).
type memIndex struct {
	seed   maphash.Seed
	mu     sync.Mutex
	loaded bool
	set    map[uint64]struct{}

	exportOrder logOrder // ExportState's (export_logorder.go)
}

// index returns the file's memIndex for the KV bucket name.
func (b *Bolt) index(name string) *memIndex {
	b.indexesMu.Lock()
	defer b.indexesMu.Unlock()
	if b.indexes == nil {
		b.indexes = map[string]*memIndex{}
	}
	ix := b.indexes[name]
	if ix == nil {
		ix = &memIndex{seed: maphash.MakeSeed(), set: map[uint64]struct{}{}}
		b.indexes[name] = ix
	}
	return ix
}

func (ix *memIndex) hash(key string) uint64 { return maphash.String(ix.seed, key) }

// add records keys once the transaction that logged them committed (and
// so is what any later read sees): a rolled-back one adds nothing.
func (ix *memIndex) add(keys []string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, k := range keys {
		ix.set[ix.hash(k)] = struct{}{}
	}
}

// has reports whether key was logged. Two keys with the same 64-bit hash
// make it answer yes for the one never written (about one chance in 10^13
// per question with a million keys): the caller, which only asks whether
// a freshly drawn key is taken, then draws another, which is safe.
func (ix *memIndex) has(db *bolt.DB, name []byte, key string) (bool, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.loaded {
		// Commits that land while the log is read add their keys after
		// it (they wait for ix.mu); any that added before are in the set
		// already, and the read sees them anyway: adding twice is harmless.
		err := db.View(func(tx *bolt.Tx) error {
			return forEachLogged(tx, name, func(k, _ []byte) error {
				ix.set[maphash.Bytes(ix.seed, k)] = struct{}{}
				return nil
			})
		})
		if err != nil {
			return false, err
		}
		ix.loaded = true
	}
	_, ok := ix.set[ix.hash(key)]
	return ok, nil
}

// inMemory reports whether kv keeps key in memory rather than under itself.
func (kv *KV) inMemory(key string) bool {
	return kv.memPrefix != "" && strings.HasPrefix(key, kv.memPrefix)
}

// logEntries appends in-memory entries to kv's log in tx and adds their
// keys to the set once tx has committed.
func (kv *KV) logEntries(tx *bolt.Tx, keys []string, entries map[string][]byte) error {
	top, err := tx.CreateBucketIfNotExists(bucketKVLog)
	if err != nil {
		return err
	}
	log, err := top.CreateBucketIfNotExists(kv.name)
	if err != nil {
		return err
	}
	// Appended in order, a log's leaves are written full, not half full.
	log.FillPercent = 1
	for _, k := range keys {
		seq, err := log.NextSequence()
		if err != nil {
			return err
		}
		v := entries[k]
		rec := make([]byte, 0, binary.MaxVarintLen32+len(k)+len(v))
		rec = append(append(binary.AppendUvarint(rec, uint64(len(k))), k...), v...)
		if err := log.Put(binary.BigEndian.AppendUint64(nil, seq), rec); err != nil {
			return err
		}
	}
	ix := kv.b.index(string(kv.name))
	tx.OnCommit(func() { ix.add(keys) })
	return nil
}

var errLogEntry = errors.New("vault: kv: malformed log entry")

// logScans counts the whole reads of a log (forEachLoggedAt), so that a
// test can tell how often an operation reads one.
var logScans atomic.Int64

// forEachLogged calls fn with each logged key and value of the KV bucket
// name, in the order they were written. k and v are bbolt's memory, valid
// in tx only.
func forEachLogged(tx *bolt.Tx, name []byte, fn func(k, v []byte) error) error {
	return forEachLoggedAt(tx, name, func(_ uint64, k, v []byte) error { return fn(k, v) })
}

// forEachLoggedAt is forEachLogged that also tells each entry's position
// (its sequence number, the key it is logged under).
func forEachLoggedAt(tx *bolt.Tx, name []byte, fn func(pos uint64, k, v []byte) error) error {
	log := logBucket(tx, name)
	if log == nil {
		return nil
	}
	logScans.Add(1)
	return log.ForEach(func(seq, rec []byte) error {
		k, v, err := decodeLogged(rec)
		if err != nil {
			return err
		}
		return fn(binary.BigEndian.Uint64(seq), k, v)
	})
}

// logBucket returns the log of the KV bucket name, or nil if it has none.
func logBucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	top := tx.Bucket(bucketKVLog)
	if top == nil {
		return nil
	}
	return top.Bucket(name)
}

// loggedAt returns the key and value logged at position pos of log.
func loggedAt(log *bolt.Bucket, pos uint64) (k, v []byte, err error) {
	rec := log.Get(binary.BigEndian.AppendUint64(make([]byte, 0, 8), pos))
	if rec == nil {
		return nil, nil, errLogEntry
	}
	return decodeLogged(rec)
}

// decodeLogged splits a log entry into its key and value.
func decodeLogged(rec []byte) (k, v []byte, err error) {
	n, used := binary.Uvarint(rec)
	if used <= 0 || n > uint64(len(rec)-used) {
		return nil, nil, errLogEntry
	}
	return rec[used : used+int(n)], rec[used+int(n):], nil
}

// loadLogged returns a copy of the value logged under key, or nil. It reads
// the whole log: a reservation's value is not asked for on any hot path.
func loadLogged(tx *bolt.Tx, name []byte, key string) ([]byte, error) {
	var out []byte
	err := forEachLogged(tx, name, func(k, v []byte) error {
		if string(k) == key {
			out = append([]byte{}, v...) // the last write wins, as a Put's
		}
		return nil
	})
	return out, err
}
