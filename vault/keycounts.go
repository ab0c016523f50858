package vault

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// KeyCounts is how many records each key sealed: what caddy tokengate keys
// status prints, what the background re-seal counts down, and what caddy
// tokengate keys disable checks before it takes a key out of the keyset.
// Unlike SealingKeys, which only ever grows (an id is recorded when a
// record sealed with it is written), it is read from the records as they
// are now.
type KeyCounts struct {
	// ByKey maps a Tink key id to the number of records it sealed.
	ByKey map[uint32]int64
	// NoKeyID counts records whose sealed bytes carry no key id (a RAW
	// key's, which tokengate never makes).
	NoKeyID int64
}

// Total is how many records were counted.
func (c KeyCounts) Total() int64 {
	n := c.NoKeyID
	for _, v := range c.ByKey {
		n += v
	}
	return n
}

// IDs are the key ids that sealed at least one record, ascending.
func (c KeyCounts) IDs() []uint32 { return slices.Sorted(maps.Keys(c.ByKey)) }

// KeyCounter is implemented by a backend that counts its records by key
// without reading them out (PostgreSQL: a GROUP BY over the key id read
// from each row in the database).
type KeyCounter interface {
	CountBySealingKey(ctx context.Context) (KeyCounts, error)
}

// KeyForgetter is implemented by a backend that can drop a key id from its
// recorded list (KeyRecorder), which the gateway's start checks against its
// keyset: a key taken out of the keyset must leave the list, or the next
// start refuses. It drops the id only when no record uses it, checked in
// the same transaction, and returns how many do otherwise.
type KeyForgetter interface {
	ForgetSealingKey(ctx context.Context, id uint32) (inUse int64, err error)
}

// CountSealingKeys counts v's records by the key that sealed them: with
// the backend's own count when it has one, else by walking every record
// (reading the key id from the sealed bytes; nothing is opened).
func CountSealingKeys(ctx context.Context, v Exporter) (KeyCounts, error) {
	if kc, ok := v.(KeyCounter); ok {
		return kc.CountBySealingKey(ctx)
	}
	c := KeyCounts{ByKey: map[uint32]int64{}}
	var after RecordKey
	for {
		recs, err := v.Export(ctx, after, MaxListLimit)
		if err != nil {
			return KeyCounts{}, fmt.Errorf("vault: counting the records' keys: %w", err)
		}
		if len(recs) == 0 {
			return c, nil
		}
		for _, rec := range recs {
			if id, ok := SealingKeyID(rec.Sealed); ok {
				c.ByKey[id]++
			} else {
				c.NoKeyID++
			}
		}
		last := recs[len(recs)-1]
		after = RecordKey{Tenant: last.Tenant, Token: last.Token}
	}
}
