// Package migrate moves a vault from one backend to another (bbolt to
// PostgreSQL and back): every tenant's records and the other components'
// key-value state (the builtin network token service's), copied as they are
// stored. Nothing is decrypted and no key is needed: records hold only
// sealed data and keyed fingerprints, and they are copied byte for byte,
// with their versions and timestamps.
//
// A run is idempotent: what the target already holds unchanged is counted as
// present and left alone, so a run that was stopped half way is finished by
// running it again, and a second run copies nothing. What the target holds
// differently is a conflict, never overwritten.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tokengate/tokengate/vault"
)

// Target is where records go: it takes them as they are, and it is read
// back (Get) to verify the copy.
type Target interface {
	vault.Importer
	Get(ctx context.Context, tenant, token string) (vault.Record, error)
}

// Options tune Run; the zero value is fine.
type Options struct {
	// BatchSize is how many records (or state entries) are read and
	// written at a time, each batch one durable write; 0 means 500.
	BatchSize int
	// Progress, if set, is called once the source's records are counted
	// (Report.Source), then after each batch of records with the counts so
	// far.
	Progress func(Report)
	// MaxNamed bounds how many conflicting records the report names; 0
	// means 100. The counts are always complete.
	MaxNamed int
	// Keyset, if set, is the keyset of the gateway that will serve the
	// target: every key that sealed a record of either vault must be in it
	// (see keycheck.go). Without it the vaults' keys are compared.
	Keyset KeysetChecker
}

// Report counts what a run did. Records are named by tenant and token only:
// a report never holds sealed data.
type Report struct {
	// Source is how many records the source held when the run started.
	Source int64
	// Copied, Present and Conflicts count the records walked: written to
	// the target, found there already the same, or found there different
	// (or their fingerprint under another token), left alone.
	Copied, Present, Conflicts int64
	// Conflicting names the first conflicting records (see MaxNamed).
	Conflicting []vault.RecordKey
	// StateCopied, StatePresent and StateConflicts count the state entries
	// the same way (a conflict is an id holding other bytes).
	StateCopied, StatePresent, StateConflicts int64
	// Checked and Found are the verification: every source record is read
	// back from the target, and Found counts those equal to the source's.
	Checked, Found int64
	// Elapsed is the run's duration; CopyTime that of copying the records.
	Elapsed, CopyTime time.Duration
	// Verified is set once the verification ran to its end.
	Verified bool
	// KeysNeeded are the ids of keys that sealed source records and no
	// record of the target before the copy: the target's gateway must hold
	// them (its start refuses otherwise).
	KeysNeeded []uint32
}

// Walked is how many source records the copy went through.
func (r Report) Walked() int64 { return r.Copied + r.Present + r.Conflicts }

// Rate is the records walked per second of copying.
func (r Report) Rate() float64 {
	if r.CopyTime <= 0 {
		return 0
	}
	return float64(r.Walked()) / r.CopyTime.Seconds()
}

// OK reports whether the target now holds every source record and state
// entry as the source does: no conflict, and the verification found every
// record.
func (r Report) OK() bool {
	return r.Verified && r.Conflicts == 0 && r.StateConflicts == 0 && r.Found == r.Checked
}

// ErrIncomplete is returned by Run when it went through everything but the
// target does not match the source (conflicts, or records not found when
// verifying): the report says what.
var ErrIncomplete = errors.New("migrate: the target does not hold every source record and state entry as the source does")

// Run copies every record of src into dst, then the state entries if src
// keeps any (it implements vault.StateExporter; dst must then implement
// vault.StateImporter), then verifies that dst holds every source record.
// It returns ErrIncomplete when the copy is not faithful, and the context's
// error, with the counts so far, when it is cancelled: what was copied
// stays copied, and running again finishes the job.
func Run(ctx context.Context, src vault.Exporter, dst Target, opts Options) (Report, error) {
	start := time.Now()
	batch := opts.BatchSize
	if batch <= 0 {
		batch = 500
	}
	maxNamed := opts.MaxNamed
	if maxNamed <= 0 {
		maxNamed = 100
	}
	var rep Report
	done := func(err error) (Report, error) {
		rep.Elapsed = time.Since(start)
		return rep, err
	}
	needed, err := checkKeys(ctx, src, dst, opts.Keyset)
	if err != nil {
		return done(err)
	}
	rep.KeysNeeded = needed
	n, err := src.CountRecords(ctx)
	if err != nil {
		return done(fmt.Errorf("migrate: counting the source's records: %w", err))
	}
	rep.Source = n
	if opts.Progress != nil {
		opts.Progress(rep)
	}

	// The records.
	var after vault.RecordKey
	for {
		recs, err := src.Export(ctx, after, batch)
		if err != nil {
			return done(fmt.Errorf("migrate: reading records: %w", err))
		}
		if len(recs) == 0 {
			break
		}
		outcomes, err := dst.Import(ctx, recs)
		if err != nil {
			return done(fmt.Errorf("migrate: writing records: %w", err))
		}
		for i, o := range outcomes {
			switch o {
			case vault.Imported:
				rep.Copied++
			case vault.AlreadyPresent:
				rep.Present++
			default:
				rep.Conflicts++
				if len(rep.Conflicting) < maxNamed {
					rep.Conflicting = append(rep.Conflicting, vault.RecordKey{Tenant: recs[i].Tenant, Token: recs[i].Token})
				}
			}
		}
		last := recs[len(recs)-1]
		next := vault.RecordKey{Tenant: last.Tenant, Token: last.Token}
		if next == after {
			return done(errors.New("migrate: the source returned the same page twice"))
		}
		after = next
		rep.CopyTime = time.Since(start)
		if opts.Progress != nil {
			opts.Progress(rep)
		}
	}

	// The other components' state.
	if se, ok := src.(vault.StateExporter); ok {
		if err := copyState(ctx, se, dst, batch, &rep); err != nil {
			return done(err)
		}
	}

	if err := verify(ctx, src, dst, batch, &rep); err != nil {
		return done(err)
	}
	if !rep.OK() {
		return done(ErrIncomplete)
	}
	return done(nil)
}

func copyState(ctx context.Context, src vault.StateExporter, dst Target, batch int, rep *Report) error {
	var after vault.StateKey
	for {
		entries, err := src.ExportState(ctx, after, batch)
		if err != nil {
			return fmt.Errorf("migrate: reading state: %w", err)
		}
		if len(entries) == 0 {
			return nil
		}
		si, ok := dst.(vault.StateImporter)
		if !ok {
			return errors.New("migrate: the source keeps network token state and the target cannot hold it")
		}
		outcomes, err := si.ImportState(ctx, entries)
		if err != nil {
			return fmt.Errorf("migrate: writing state: %w", err)
		}
		for _, o := range outcomes {
			switch o {
			case vault.Imported:
				rep.StateCopied++
			case vault.AlreadyPresent:
				rep.StatePresent++
			default:
				// State ids are not named: some are keyed hashes of
				// network token numbers.
				rep.StateConflicts++
			}
		}
		after = entries[len(entries)-1].StateKey
	}
}

// verifyWorkers is how many records are read back from the target at once.
const verifyWorkers = 8

// verify walks the source again and reads each record back from the target
// with Get: the record must be there, field for field.
func verify(ctx context.Context, src vault.Exporter, dst Target, batch int, rep *Report) error {
	var after vault.RecordKey
	for {
		recs, err := src.Export(ctx, after, batch)
		if err != nil {
			return fmt.Errorf("migrate: verifying: reading records: %w", err)
		}
		if len(recs) == 0 {
			rep.Verified = true
			return nil
		}
		found := make([]bool, len(recs))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(verifyWorkers)
		for i, rec := range recs {
			g.Go(func() error {
				got, err := dst.Get(gctx, rec.Tenant, rec.Token)
				switch {
				case errors.Is(err, vault.ErrNotFound):
					return nil
				case err != nil:
					return err
				}
				found[i] = vault.SameRecord(got, rec)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return fmt.Errorf("migrate: verifying: reading the target: %w", err)
		}
		for _, ok := range found {
			rep.Checked++
			if ok {
				rep.Found++
			}
		}
		last := recs[len(recs)-1]
		after = vault.RecordKey{Tenant: last.Tenant, Token: last.Token}
	}
}

// WriteSummary prints the report for a person: counts, time, rate, the
// verification and the conflicting records' tenants and tokens (never
// their data).
func (r Report) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "records: %d in the source; %d copied, %d already present, %d conflicts\n", r.Source, r.Copied, r.Present, r.Conflicts)
	fmt.Fprintf(w, "state entries: %d copied, %d already present, %d conflicts\n", r.StateCopied, r.StatePresent, r.StateConflicts)
	fmt.Fprintf(w, "time: %.1f s in all; the records went through in %.1f s (%.0f records/s)\n", r.Elapsed.Seconds(), r.CopyTime.Seconds(), r.Rate())
	switch {
	case !r.Verified:
		fmt.Fprintf(w, "verified: not run (the copy did not finish)\n")
	case r.Found == r.Checked:
		fmt.Fprintf(w, "verified: %d of %d source records found in the target, equal\n", r.Found, r.Checked)
	default:
		fmt.Fprintf(w, "verified: MISMATCH: %d of %d source records found in the target, equal\n", r.Found, r.Checked)
	}
	for _, k := range r.Conflicting {
		fmt.Fprintf(w, "conflict: tenant %q token %q (the target holds another record under this token, or this card under another token; left alone)\n", k.Tenant, k.Token)
	}
	if more := r.Conflicts - int64(len(r.Conflicting)); more > 0 {
		fmt.Fprintf(w, "conflict: ... and %d more\n", more)
	}
	if len(r.KeysNeeded) > 0 {
		fmt.Fprintf(w, "keys: the copied records include some sealed with key %s, which sealed no record the target held before: the target's gateway must have a keyset holding it (its start refuses otherwise)\n", vault.KeyIDList(r.KeysNeeded))
	}
	if r.StateConflicts > 0 {
		fmt.Fprintf(w, "state conflicts: %d entries hold other data in the target; left alone\n", r.StateConflicts)
	}
}
