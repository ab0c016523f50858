package vault

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A vault records which keys sealed its records: their Tink key ids, never
// key material. The gateway's start compares them with its keyset's (every
// recorded id must be in it), and caddy tokengate migrate refuses to copy
// records into a vault sealed with other keys: a record whose key the
// gateway does not hold cannot be paid with.
//
// The id is read from the sealed bytes, without opening them: a Tink
// ciphertext of a key with the TINK output prefix starts with 0x01 and the
// key id (4 bytes, big-endian), one with the LEGACY or CRUNCHY prefix with
// 0x00 and the id (Tink's wire format, "Keysets" / "Ciphertext prefix":
// https://developers.google.com/tink/wire-format). The keysets tokengate
// makes have the TINK prefix (keys.GenerateKeyset, keys.RotateKeyset). In
// the current record format a 0x02 comes first (keys.sealedV2); a record
// sealed before it holds the Tink ciphertext as it is.

// sealedV2 is keys.sealedV2; the keys package's tests prove the two agree.
const sealedV2 = 0x02

// SealingKeyID returns the id of the Tink key that sealed a record's Sealed
// bytes, and false when they carry none (empty, or a RAW key's, which
// tokengate never makes).
func SealingKeyID(sealed []byte) (uint32, bool) {
	ct := sealed
	if len(ct) > 0 && ct[0] == sealedV2 {
		ct = ct[1:]
	}
	if len(ct) < 5 || ct[0] > 0x01 {
		return 0, false
	}
	return binary.BigEndian.Uint32(ct[1:5]), true
}

// SealingKeys is what a vault has recorded of the keys that sealed its
// records.
type SealingKeys struct {
	// IDs are the key ids, ascending. An id is recorded when a record
	// sealed with it is written, and stays: re-sealing every record with
	// another key does not remove it.
	IDs []uint32
	// Complete is set when every record the vault holds was recorded: the
	// vault was empty when it began recording (a new vault, or one created
	// by a release that records), or a scan (BackfillSealingKeys) went
	// through the records it held before. An older vault's list is
	// incomplete until then.
	Complete bool
}

// KeyRecorder is implemented by a backend that records the keys that
// sealed its records, on every record it writes.
type KeyRecorder interface {
	// SealingKeys returns what the vault has recorded.
	SealingKeys(ctx context.Context) (SealingKeys, error)
	// RecordSealingKeys adds ids to the record and, with complete, marks it
	// complete: what a scan of the vault's records found.
	RecordSealingKeys(ctx context.Context, ids []uint32, complete bool) error
}

// ScanSealingKeys walks every record of src and returns the ids of the keys
// that sealed them, ascending.
func ScanSealingKeys(ctx context.Context, src Exporter) ([]uint32, error) {
	seen := map[uint32]struct{}{}
	var after RecordKey
	for {
		recs, err := src.Export(ctx, after, MaxListLimit)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			if id, ok := SealingKeyID(rec.Sealed); ok {
				seen[id] = struct{}{}
			}
		}
		last := recs[len(recs)-1]
		after = RecordKey{Tenant: last.Tenant, Token: last.Token}
	}
	ids := make([]uint32, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// BackfillSealingKeys scans the records of a vault whose record is not
// complete, records what it found, and marks the record complete. Records
// written while it runs are recorded by their writes, so nothing is missed.
// It reads the whole vault, in pages: run it in the background, or from a
// command, not where a start waits.
func BackfillSealingKeys(ctx context.Context, v interface {
	Exporter
	KeyRecorder
}) (SealingKeys, error) {
	ids, err := ScanSealingKeys(ctx, v)
	if err != nil {
		return SealingKeys{}, fmt.Errorf("vault: scanning the records' keys: %w", err)
	}
	if err := v.RecordSealingKeys(ctx, ids, true); err != nil {
		return SealingKeys{}, fmt.Errorf("vault: recording the records' keys: %w", err)
	}
	return v.SealingKeys(ctx)
}

// KnownSealingKeys returns a vault's complete list of key ids: the
// recorded one when it is complete, else a scan of its records (which it
// does not record: a migration's check reads, never writes).
func KnownSealingKeys(ctx context.Context, v Exporter) ([]uint32, error) {
	if kr, ok := v.(KeyRecorder); ok {
		sk, err := kr.SealingKeys(ctx)
		if err != nil {
			return nil, err
		}
		if sk.Complete {
			return sk.IDs, nil
		}
	}
	return ScanSealingKeys(ctx, v)
}

// MissingKeys returns the ids of want that have is lacks, ascending.
func MissingKeys(want []uint32, has func(uint32) bool) []uint32 {
	var out []uint32
	for _, id := range want {
		if !has(id) {
			out = append(out, id)
		}
	}
	return out
}

// KeyIDList renders key ids as Tink's JSON keysets write them (decimal
// "keyId"), so an operator can find them in a keyset file: "1234, 5678".
func KeyIDList(ids []uint32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(s, ", ")
}
