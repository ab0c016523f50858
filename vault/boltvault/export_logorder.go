package boltvault

import (
	"bytes"
	"cmp"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// ExportState pages through a KV's logged keys (kvindex.go) in id order,
// but the log is in write order. Sorting the whole log for every page made
// an export take time in the square of the log's size (25,000 keys: 0.5 s,
// 50,000: 1.8 s; a million: most of an hour). The order is sorted once
// instead, and every page of the export finds its place in it by a binary
// search.

// logOrder is one KV log's entries in id order, the last write of each id,
// held as the positions of those writes in the log (8 bytes a key: the ids
// and values are read from the log itself, in the transaction that uses
// them).
type logOrder struct {
	mu        sync.Mutex
	built     bool
	sequence  uint64   // the log's Sequence() when it was built
	positions []uint64 // never changed once built (a rebuild replaces it)
}

// loggedOrder returns the log of the KV bucket space as tx sees it, or nil
// if it has none, and its positions in id order. The log is read whole only
// if it changed since the order was last built: it is only ever appended
// to, each entry at the next sequence number, so an unchanged Sequence()
// means unchanged entries (a rolled-back append rolls the sequence back
// too).
func (b *Bolt) loggedOrder(tx *bolt.Tx, space []byte) (*bolt.Bucket, []uint64, error) {
	log := logBucket(tx, space)
	if log == nil {
		return nil, nil, nil
	}
	o := &b.index(string(space)).exportOrder
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.built && o.sequence == log.Sequence() {
		return log, o.positions, nil
	}
	type entry struct {
		id  []byte // bbolt's memory, valid in tx: not kept
		pos uint64
	}
	var all []entry
	err := forEachLoggedAt(tx, space, func(pos uint64, k, _ []byte) error {
		all = append(all, entry{k, pos})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(all, func(a, b entry) int {
		return cmp.Or(bytes.Compare(a.id, b.id), cmp.Compare(a.pos, b.pos))
	})
	positions := make([]uint64, 0, len(all))
	for i, e := range all {
		if i+1 < len(all) && bytes.Equal(all[i+1].id, e.id) {
			continue // written again later: the last write wins, as Load's
		}
		positions = append(positions, e.pos)
	}
	o.built, o.sequence, o.positions = true, log.Sequence(), positions
	return log, positions, nil
}

// firstLoggedAfter returns the index in positions (log's, in id order) of
// the first entry whose id comes after afterID: a binary search, reading
// one entry of the log per step.
func firstLoggedAfter(log *bolt.Bucket, positions []uint64, afterID string) (int, error) {
	if afterID == "" {
		return 0, nil
	}
	var err error
	i, _ := slices.BinarySearchFunc(positions, afterID, func(pos uint64, afterID string) int {
		k, _, kerr := loggedAt(log, pos)
		if kerr != nil {
			err = kerr
			return 0
		}
		if string(k) <= afterID {
			return -1
		}
		return 1
	})
	return i, err
}
