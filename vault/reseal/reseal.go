// Package reseal is caddy tokengate reseal: it seals every record of a
// vault again with the keyset's primary key and the current associated data
// (tenant, fingerprint and token). Records sealed before the token was bound
// open under another token of their tenant if a row's columns are swapped;
// re-sealed, they do not. Records sealed with an older key (before a
// rotation) move to the newest one.
//
// It writes with the vault's compare-and-set Update, so it can run while
// gateways use the same PostgreSQL database: a record changed meanwhile is
// read again and re-sealed as it now is. It is idempotent (a record already
// in the current format under the primary key is left alone) and resumable
// (run it again after an interruption; what was done stays done). It opens
// every record, so it also names the records that do not open where they are
// filed. It prints counts, never card data.
package reseal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/migrate"
)

// Backend is a vault whose records can be walked.
type Backend interface {
	vault.Vault
	vault.Exporter
}

// Options tunes Run.
type Options struct {
	// Batch is how many records are read per page (0: 200).
	Batch int
	// Progress, when set, is called after every record.
	Progress func(Report)
}

// Report counts what Run did. Every record walked is in exactly one of
// Resealed, Current, Gone and Unreadable.
type Report struct {
	// Total is how many records the vault held when Run started.
	Total int64
	// Resealed records were sealed again and written.
	Resealed int64
	// Current records were already in the current format under the
	// primary key.
	Current int64
	// Gone records were deleted while Run went through.
	Gone int64
	// Unreadable records do not open where they are filed (moved from
	// another row, or sealed with another keyset): left as they are, and
	// named in Suspect.
	Unreadable int64
	// Suspect names the unreadable records: tenant and token (masked when
	// it looks like a card number).
	Suspect []string
	// Retries counts compare-and-set conflicts (a gateway changed the
	// record between the read and the write).
	Retries int64
	// Elapsed is how long Run took.
	Elapsed time.Duration
}

// Walked is how many records Run has been through.
func (r Report) Walked() int64 { return r.Resealed + r.Current + r.Gone + r.Unreadable }

// ErrUnreadable is returned by Run when it went through every record but
// some do not open where they are filed.
var ErrUnreadable = errors.New("reseal: some records do not open where they are filed")

// Run re-seals every record of v with ks. It stops at the first storage
// error or when ctx ends (returning what it did so far); running it again
// continues, as records already done are skipped.
func Run(ctx context.Context, v Backend, ks *keys.Keys, opts Options) (rep Report, err error) {
	start := time.Now()
	defer func() { rep.Elapsed = time.Since(start) }()
	batch := opts.Batch
	if batch <= 0 {
		batch = 200
	}
	var total int64
	total, err = v.CountRecords(ctx)
	if err != nil {
		return rep, fmt.Errorf("reseal: counting records: %w", err)
	}
	rep.Total = total
	after := vault.RecordKey{}
	for {
		recs, err := v.Export(ctx, after, batch)
		if err != nil {
			return rep, fmt.Errorf("reseal: reading records: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			if err := one(ctx, v, ks, rec.Tenant, rec.Token, &rep); err != nil {
				return rep, err
			}
			if opts.Progress != nil {
				opts.Progress(rep)
			}
		}
		last := recs[len(recs)-1]
		after = vault.RecordKey{Tenant: last.Tenant, Token: last.Token}
	}
	if rep.Unreadable > 0 {
		return rep, ErrUnreadable
	}
	return rep, nil
}

// Result is what Step did with one record.
type Result int

// Results of Step; their names are the result label of the
// tokengate_reseal_records_total metric.
const (
	// Resealed: sealed again under the primary key and written.
	Resealed Result = iota
	// Current: already in the current format under the primary key.
	Current
	// Gone: deleted meanwhile.
	Gone
	// Unreadable: does not open where it is filed; left as it is.
	Unreadable
)

func (r Result) String() string {
	return [...]string{"resealed", "current", "gone", "unreadable"}[r]
}

// Step re-seals the record filed under tenant and token: the step the
// offline command and the gateway's background re-seal share. It reads the
// record through Get, so it is opened and sealed as what is filed there
// (tenant and token of the row, never what a row's content claims), then
// writes it compare-and-set, reading again when a gateway changed it
// meanwhile (retries counts those conflicts). Every record is opened,
// current ones too: one that does not open where it is filed (rows
// swapped, another keyset) is worth naming, and costs one decryption to
// find. Errors name the tenant, never the token or card data.
func Step(ctx context.Context, v vault.Vault, ks *keys.Keys, tenant, token string) (res Result, retries int, err error) {
	for attempt := 0; ; attempt++ {
		rec, err := v.Get(ctx, tenant, token)
		switch {
		case errors.Is(err, vault.ErrNotFound):
			return Gone, retries, nil
		case err != nil:
			return 0, retries, fmt.Errorf("reseal: reading a record of tenant %s: %w", tenant, err)
		}
		if rec.Tenant != tenant {
			return Unreadable, retries, nil
		}
		secrets, err := ks.Open(tenant, rec.Fingerprint, token, rec.Sealed)
		switch {
		case err != nil:
			return Unreadable, retries, nil
		case ks.Current(rec.Sealed):
			return Current, retries, nil
		}
		rec.Sealed, err = ks.Seal(tenant, rec.Fingerprint, token, secrets)
		if err != nil {
			return 0, retries, fmt.Errorf("reseal: %w", err)
		}
		_, err = v.Update(ctx, rec)
		switch {
		case err == nil:
			return Resealed, retries, nil
		case errors.Is(err, vault.ErrNotFound):
			return Gone, retries, nil
		case errors.Is(err, vault.ErrConflict) && attempt < 10:
			retries++
			continue
		default:
			return 0, retries, fmt.Errorf("reseal: writing a record of tenant %s: %w", tenant, err)
		}
	}
}

// one re-seals the record filed under tenant and token with Step and
// counts it in rep.
func one(ctx context.Context, v Backend, ks *keys.Keys, tenant, token string, rep *Report) error {
	res, retries, err := Step(ctx, v, ks, tenant, token)
	rep.Retries += int64(retries)
	if err != nil {
		return err
	}
	rep.count(res, tenant, token)
	return nil
}

// count adds one record's result.
func (r *Report) count(res Result, tenant, token string) {
	switch res {
	case Resealed:
		r.Resealed++
	case Current:
		r.Current++
	case Gone:
		r.Gone++
	case Unreadable:
		r.unreadable(tenant, token)
	}
}

func (r *Report) unreadable(tenant, token string) {
	r.Unreadable++
	if len(r.Suspect) < 100 {
		r.Suspect = append(r.Suspect, tenant+" "+maskToken(token))
	}
}

// maskToken hides the middle of a token with a long run of digits (the
// network_token format looks like a card number), so the list of suspects
// can never be mistaken for card data in a log.
func maskToken(token string) string {
	run, longest := 0, 0
	for _, c := range token {
		if c >= '0' && c <= '9' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	if longest < 10 || len(token) <= 8 {
		return token
	}
	return token[:4] + strings.Repeat("*", len(token)-8) + token[len(token)-4:]
}

// WriteSummary prints the counts.
func (r Report) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "records: %d in the vault; %d re-sealed, %d already current, %d deleted meanwhile, %d unreadable\n",
		r.Total, r.Resealed, r.Current, r.Gone, r.Unreadable)
	if r.Retries > 0 {
		fmt.Fprintf(w, "conflicts with running gateways: %d (each record read again and re-sealed as it was then)\n", r.Retries)
	}
	fmt.Fprintf(w, "time: %.1f s\n", r.Elapsed.Seconds())
	for _, s := range r.Suspect {
		fmt.Fprintf(w, "unreadable (moved from another row, or another keyset): %s\n", s)
	}
	if r.Unreadable > int64(len(r.Suspect)) {
		fmt.Fprintf(w, "... and %d more unreadable\n", r.Unreadable-int64(len(r.Suspect)))
	}
}

// Command is caddy tokengate reseal: it opens the vault at where
// (bolt:<path> or postgres:<dsn>), re-seals it with Run, draws a progress
// bar on progress and writes the summary to out.
func Command(ctx context.Context, where string, ks *keys.Keys, out, progress io.Writer, opts Options) (Report, error) {
	if where == "" {
		return Report{}, fmt.Errorf("reseal needs --vault %s", migrate.Usage)
	}
	v, err := migrate.Open(ctx, where, true)
	if err != nil {
		return Report{}, fmt.Errorf("--vault: %w", err)
	}
	defer v.Close()
	var bar *progressbar.ProgressBar
	next := opts.Progress
	opts.Progress = func(r Report) {
		if bar == nil && r.Total > 0 {
			bar = migrate.RecordsBar(progress, r.Total)
		}
		if bar != nil {
			_ = bar.Set64(min(r.Walked(), r.Total)) // records added meanwhile are walked too
		}
		if next != nil {
			next(r)
		}
	}
	fmt.Fprintf(out, "re-sealing %s\n", v.Name)
	rep, err := Run(ctx, v, ks, opts)
	if bar != nil {
		_ = bar.Exit()
		fmt.Fprintln(progress)
	}
	rep.WriteSummary(out)
	switch {
	case err != nil && ctx.Err() != nil:
		return rep, fmt.Errorf("reseal: interrupted (%w); what was re-sealed stays, and running the same command again finishes the job", ctx.Err())
	case errors.Is(err, ErrUnreadable):
		return rep, fmt.Errorf("%w: %d records (listed above) were left as they are", err, rep.Unreadable)
	}
	return rep, err
}
