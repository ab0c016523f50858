package vault

import (
	"strings"
	"time"
)

// packed is the read cache's form of a Record: its sixteen strings copied
// into one, its times as numbers. A Record holds twenty-one pointers over
// ~370 bytes, all of which the garbage collector scans at every cycle for
// every cached card (issue 20); packed keeps its three pointers first, so
// only its first 48 bytes are scanned, and the blob is pointer-free.
// Unpacking allocates nothing: the strings are parts of the blob, Sealed
// and Metadata are the record's own (shared with every hit, as before).
type packed struct {
	blob     string
	sealed   []byte
	metadata map[string]string
	// full is the record itself when a time could not be packed exactly (a
	// monotonic clock reading, a zone other than UTC or Local); then the
	// fields below are unused.
	full *Record

	ends    [packedStrings]uint32 // where each string ends in blob
	times   [3]packedTime         // CreatedAt, UpdatedAt, Network.EventAt
	version int64
}

const packedStrings = 16

// packedTime is a time.Time without a monotonic reading, in UTC or Local:
// time.Unix gives such a time back equal (==) to the original.
type packedTime struct {
	sec   int64
	nsec  int32
	local bool
}

func packTime(t time.Time) (packedTime, bool) {
	if t != t.Round(0) { // a monotonic reading, which Unix would drop
		return packedTime{}, false
	}
	p := packedTime{sec: t.Unix(), nsec: int32(t.Nanosecond())}
	switch t.Location() {
	case time.UTC:
	case time.Local:
		p.local = true
	default:
		return packedTime{}, false
	}
	return p, true
}

func (p packedTime) time() time.Time {
	t := time.Unix(p.sec, int64(p.nsec))
	if !p.local {
		t = t.UTC()
	}
	return t
}

// packedFields lists rec's string fields, in the order ends records them.
func packedFields(r *Record) [packedStrings]string {
	return [...]string{r.Tenant, r.Token, r.Fingerprint, r.Brand, r.BIN, r.Last4, r.ExpMonth, r.ExpYear,
		r.Network.Provider, r.Network.ID, r.Network.Status, r.Network.ExpMonth, r.Network.ExpYear,
		r.Network.PAR, r.Network.Last4, r.Network.Error}
}

// pack returns rec in the cache's form.
func pack(rec Record) *packed {
	p := &packed{sealed: rec.Sealed, metadata: rec.Metadata, version: rec.Version}
	var ok [3]bool
	p.times[0], ok[0] = packTime(rec.CreatedAt)
	p.times[1], ok[1] = packTime(rec.UpdatedAt)
	p.times[2], ok[2] = packTime(rec.Network.EventAt)
	if !ok[0] || !ok[1] || !ok[2] {
		return &packed{full: &rec}
	}
	strs := packedFields(&rec)
	n := 0
	for _, s := range strs {
		n += len(s)
	}
	if uint64(n) > 1<<32-1 {
		return &packed{full: &rec}
	}
	var b strings.Builder // one allocation: String does not copy
	b.Grow(n)
	for i, s := range strs {
		b.WriteString(s)
		p.ends[i] = uint32(b.Len())
	}
	p.blob = b.String()
	return p
}

// record returns the Record p holds.
func (p *packed) record() Record {
	if p.full != nil {
		return *p.full
	}
	rec := Record{Sealed: p.sealed, Metadata: p.metadata, Version: p.version,
		CreatedAt: p.times[0].time(), UpdatedAt: p.times[1].time()}
	rec.Network.EventAt = p.times[2].time()
	rec.Tenant, rec.Token, rec.Fingerprint, rec.Brand = p.str(0), p.str(1), p.str(2), p.str(3)
	rec.BIN, rec.Last4, rec.ExpMonth, rec.ExpYear = p.str(4), p.str(5), p.str(6), p.str(7)
	n := &rec.Network
	n.Provider, n.ID, n.Status, n.ExpMonth = p.str(8), p.str(9), p.str(10), p.str(11)
	n.ExpYear, n.PAR, n.Last4, n.Error = p.str(12), p.str(13), p.str(14), p.str(15)
	return rec
}

// str returns the i'th string of packedFields.
func (p *packed) str(i int) string {
	start := uint32(0)
	if i > 0 {
		start = p.ends[i-1]
	}
	return p.blob[start:p.ends[i]]
}

// fingerprint is record().Fingerprint, without the rest.
func (p *packed) fingerprint() string {
	if p.full != nil {
		return p.full.Fingerprint
	}
	return p.str(2)
}
