package boltvault

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokengate/tokengate/vault"
)

// How a record is stored under its token. Files written before the binary
// encoding hold JSON (vault.Record's tags), which always starts with '{';
// the binary encoding starts with its version byte, which never does, so
// each value says how to read it and a file may hold both (an old vault
// keeps its JSON records until they are next written).
//
// The binary encoding (recordV1) is about half the size of the JSON: no
// field names, timestamps as integers, the fingerprint's hex as its bytes,
// the sealed data unencoded, and no token (it is the key, which is what a
// read files the record under anyway). More records fit a page, so the
// file is smaller and holds more of the vault in the page cache, and
// encoding and decoding cost a fraction of encoding/json's reflection.
//
//	version    1 byte (recordV1)
//	flags      1 byte (recordHexFingerprint, recordEventAt)
//	tenant, fingerprint, sealed, brand, bin, last4, exp_month, exp_year,
//	network provider, id, status, exp_month, exp_year, par, last4, error:
//	           each a uvarint length and its bytes
//	event_at   (with recordEventAt) varint Unix seconds, uvarint nanoseconds
//	created_at, updated_at: varint Unix seconds, uvarint nanoseconds each
//	version    varint
//	metadata   uvarint count, then each key and value (as strings), keys in order
const recordV1 = 0x01

const (
	// recordHexFingerprint: the fingerprint is lowercase hex, stored as
	// the bytes it spells.
	recordHexFingerprint = 1 << iota
	// recordEventAt: the network token has an EventAt.
	recordEventAt
)

var errRecordEncoding = errors.New("vault: decode record: malformed binary record")

// encodeRecord encodes rec for the tokens bucket. A record with a time in
// a zone other than UTC (an EventAt taken from a provider's event as it
// came) is stored as JSON, which keeps the zone; the binary encoding would
// keep only the instant, and vault.SameRecord compares network tokens with
// ==. The backend's own timestamps are UTC.
func encodeRecord(rec vault.Record) ([]byte, error) {
	if !utc(rec.CreatedAt) || !utc(rec.UpdatedAt) || !utc(rec.Network.EventAt) {
		v, err := json.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("vault: encode record: %w", err)
		}
		return v, nil
	}
	var flags byte
	if lowerHex(rec.Fingerprint) {
		flags |= recordHexFingerprint
	}
	if !rec.Network.EventAt.IsZero() {
		flags |= recordEventAt
	}
	strs := [...]string{rec.Tenant, "", "", rec.Brand, rec.BIN, rec.Last4, rec.ExpMonth, rec.ExpYear,
		rec.Network.Provider, rec.Network.ID, rec.Network.Status, rec.Network.ExpMonth, rec.Network.ExpYear,
		rec.Network.PAR, rec.Network.Last4, rec.Network.Error}
	size := 2 + 4*binary.MaxVarintLen64 + 3*2*binary.MaxVarintLen64 + binary.MaxVarintLen64
	for _, s := range strs {
		size += binary.MaxVarintLen32 + len(s)
	}
	size += 2*binary.MaxVarintLen32 + len(rec.Fingerprint) + len(rec.Sealed)
	for k, v := range rec.Metadata {
		size += 2*binary.MaxVarintLen32 + len(k) + len(v)
	}
	out := make([]byte, 0, size)
	out = append(out, recordV1, flags)
	for i, s := range strs {
		switch i {
		case 1:
			if flags&recordHexFingerprint != 0 {
				out = appendHexBytes(out, rec.Fingerprint)
			} else {
				out = appendString(out, rec.Fingerprint)
			}
		case 2:
			out = appendBytes(out, rec.Sealed)
		default:
			out = appendString(out, s)
		}
	}
	if flags&recordEventAt != 0 {
		out = appendTime(out, rec.Network.EventAt)
	}
	out = appendTime(out, rec.CreatedAt)
	out = appendTime(out, rec.UpdatedAt)
	out = binary.AppendVarint(out, rec.Version)
	out = binary.AppendUvarint(out, uint64(len(rec.Metadata)))
	if len(rec.Metadata) > 0 {
		keys := make([]string, 0, len(rec.Metadata))
		for k := range rec.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = appendString(appendString(out, k), rec.Metadata[k])
		}
	}
	return out, nil
}

// decodeRecord decodes a value of the tokens bucket stored under token, in
// either encoding. The record's token is always the key (see loadRecord).
// The result shares no memory with v (bbolt's, valid only in its
// transaction).
func decodeRecord(token string, v []byte) (vault.Record, error) {
	var rec vault.Record
	if len(v) > 0 && v[0] == '{' {
		if err := json.Unmarshal(v, &rec); err != nil {
			return vault.Record{}, fmt.Errorf("vault: decode record: %w", err)
		}
		rec.Token = token
		return rec, nil
	}
	if len(v) < 2 || v[0] != recordV1 {
		return vault.Record{}, errors.New("vault: decode record: unknown encoding")
	}
	flags := v[1]
	if flags&^(recordHexFingerprint|recordEventAt) != 0 {
		// A flag this version does not know: a newer format, not to be misread.
		return vault.Record{}, errRecordEncoding
	}
	// One copy of the whole value, which every string field then shares.
	d := recordDecoder{s: string(v[2:])}
	rec.Tenant = d.str()
	if flags&recordHexFingerprint != 0 {
		rec.Fingerprint = hex.EncodeToString([]byte(d.str()))
	} else {
		rec.Fingerprint = d.str()
	}
	if sealed := d.str(); d.err == nil {
		rec.Sealed = []byte(sealed)
	}
	for _, f := range [...]*string{&rec.Brand, &rec.BIN, &rec.Last4, &rec.ExpMonth, &rec.ExpYear,
		&rec.Network.Provider, &rec.Network.ID, &rec.Network.Status, &rec.Network.ExpMonth, &rec.Network.ExpYear,
		&rec.Network.PAR, &rec.Network.Last4, &rec.Network.Error} {
		*f = d.str()
	}
	if flags&recordEventAt != 0 {
		rec.Network.EventAt = d.time()
	}
	rec.CreatedAt = d.time()
	rec.UpdatedAt = d.time()
	rec.Version = d.varint()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.s)) { // each entry takes at least two bytes
			return vault.Record{}, errRecordEncoding
		}
		rec.Metadata = make(map[string]string, n)
		for range n {
			k := d.str()
			rec.Metadata[k] = d.str()
		}
	}
	if d.err != nil || len(d.s) != 0 {
		return vault.Record{}, errRecordEncoding
	}
	rec.Token = token
	return rec, nil
}

// utc reports whether t is in UTC (or is the zero time), so that the
// binary encoding gives it back equal (==).
func utc(t time.Time) bool { return t.Location() == time.UTC }

// lowerHex reports whether s is lowercase hex of whole bytes, which
// appendHexBytes can pack and hex.EncodeToString gives back.
func lowerHex(s string) bool {
	if s == "" || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// appendHexBytes appends the length and the bytes lowercase hex s spells.
func appendHexBytes(out []byte, s string) []byte {
	out = binary.AppendUvarint(out, uint64(len(s)/2))
	for i := 0; i < len(s); i += 2 {
		out = append(out, unhex(s[i])<<4|unhex(s[i+1]))
	}
	return out
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

func appendString(out []byte, s string) []byte {
	return append(binary.AppendUvarint(out, uint64(len(s))), s...)
}

func appendBytes(out, b []byte) []byte {
	return append(binary.AppendUvarint(out, uint64(len(b))), b...)
}

func appendTime(out []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(out, t.Unix()), uint64(t.Nanosecond()))
}

// recordDecoder reads a binary record's fields from s; the first error
// sticks and every later read returns zero values.
type recordDecoder struct {
	s   string
	err error
}

func (d *recordDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflows 64 bits
			}
			d.s = d.s[i+1:]
			return x
		}
	}
	d.err = errRecordEncoding
	return 0
}

func (d *recordDecoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *recordDecoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)) {
		d.err = errRecordEncoding
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *recordDecoder) time() time.Time {
	sec, nsec := d.varint(), d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= uint64(time.Second) {
		d.err = errRecordEncoding
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
