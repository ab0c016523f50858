package vault

import (
	"bytes"
	"context"
	"maps"
)

// RecordKey names a record: its tenant and its token. The zero key comes
// before every record.
type RecordKey struct {
	Tenant string
	Token  string
}

// Exporter is implemented by a backend whose records can be moved to
// another backend as they are (caddy tokengate migrate): sealed data and
// keyed fingerprints are read, never opened.
type Exporter interface {
	// Export returns up to limit records of every tenant that come after
	// the record named after, in an order of the backend's own that does not
	// change while records are added (by tenant, then token). Pass the last
	// record's key to get the next page; an empty page is the end.
	Export(ctx context.Context, after RecordKey, limit int) ([]Record, error)
	// CountRecords returns how many records every tenant holds together.
	CountRecords(ctx context.Context) (int64, error)
}

// ImportOutcome is what Import did with one record (or ImportState with
// one state entry).
type ImportOutcome int

const (
	// Imported: the record was stored as it was given.
	Imported ImportOutcome = iota
	// AlreadyPresent: the target already held the same record (the same
	// token with the same content), and it was left alone.
	AlreadyPresent
	// ImportConflict: the target holds something else under the record's
	// token, or its tenant holds its fingerprint under another token. Nothing
	// was written.
	ImportConflict
)

// Importer is implemented by a backend that can take records exported from
// another as they are: Version, CreatedAt and UpdatedAt are kept, not set.
type Importer interface {
	// Import stores each record, in one durable write, unless its tenant
	// already holds its token or its fingerprint; it returns one outcome per
	// record, in order. An error means nothing of the batch may have been
	// written.
	Import(ctx context.Context, recs []Record) ([]ImportOutcome, error)
}

// StateKey names an entry of the other components' key-value state (the
// builtin network token service's): the space (a bucket or a name in the
// key-value table) and the id within it. The zero key comes first.
type StateKey struct {
	Space string
	ID    string
}

// StateEntry is one entry of that state, its value opaque bytes.
type StateEntry struct {
	StateKey
	Data []byte
}

// StateExporter is implemented by a backend that keeps other components'
// key-value state, so a migration can carry it along with the records.
type StateExporter interface {
	// ExportState returns up to limit entries of every space that come
	// after after, ordered by space, then id; an empty page is the end.
	ExportState(ctx context.Context, after StateKey, limit int) ([]StateEntry, error)
}

// StateImporter takes state entries as they are.
type StateImporter interface {
	// ImportState stores each entry whose key the target does not hold, in
	// one durable write. An entry whose key holds the same bytes is
	// AlreadyPresent; other bytes are an ImportConflict, left alone.
	ImportState(ctx context.Context, entries []StateEntry) ([]ImportOutcome, error)
}

// SameRecord reports whether a and b are the same record, field by field:
// what Import compares to tell AlreadyPresent from ImportConflict. Times
// are compared as instants, and no metadata is the same as empty metadata.
func SameRecord(a, b Record) bool {
	return a.Tenant == b.Tenant && a.Token == b.Token && a.Fingerprint == b.Fingerprint &&
		bytes.Equal(a.Sealed, b.Sealed) &&
		a.Brand == b.Brand && a.BIN == b.BIN && a.Last4 == b.Last4 &&
		a.ExpMonth == b.ExpMonth && a.ExpYear == b.ExpYear &&
		a.Network == b.Network &&
		maps.Equal(a.Metadata, b.Metadata) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) &&
		a.Version == b.Version
}
