package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/schollz/progressbar/v3"
	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/pgvault"
)

// Backend is a vault that can be either side of a migration.
type Backend interface {
	vault.Vault
	vault.Exporter
	vault.Importer
	vault.StateExporter
	vault.StateImporter
}

// Endpoint is one side of a migration, opened from <backend>:<where>.
type Endpoint struct {
	Backend
	// Name describes it in messages: "bbolt file <path>", or "PostgreSQL"
	// (never the DSN, which may hold a password).
	Name string
}

// Usage names the forms an endpoint takes.
const Usage = "bolt:<path> or postgres:<dsn>"

// Open opens an endpoint: bolt:<path> (a bbolt vault file) or
// postgres:<dsn> (a pgx connection string). A source bbolt file must exist;
// a target one is created. Opening PostgreSQL migrates its schema.
func Open(ctx context.Context, spec string, source bool) (*Endpoint, error) {
	kind, where, ok := strings.Cut(spec, ":")
	if !ok || where == "" {
		return nil, fmt.Errorf("want %s", Usage)
	}
	switch kind {
	case "bolt":
		name := "bbolt file " + where
		if source {
			if _, err := os.Stat(where); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		b, err := boltvault.Open(where)
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%s is in use (a running gateway holds its lock): stop it and run the command again", name)
		}
		if err != nil {
			return nil, err
		}
		return &Endpoint{Backend: b, Name: name}, nil
	case "postgres":
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		pg, err := pgvault.Open(ctx, where)
		if err != nil {
			return nil, fmt.Errorf("opening PostgreSQL: %w", hideDSN(err, where))
		}
		return &Endpoint{Backend: pg, Name: "PostgreSQL"}, nil
	}
	if len(kind) > 20 || strings.ContainsAny(kind, "/@= ") {
		kind = "" // perhaps a bare DSN: not echoed
	}
	return nil, fmt.Errorf("unknown backend %q: want %s", kind, Usage)
}

// hideDSN returns err with the DSN and its password, should a driver
// message quote them, replaced.
func hideDSN(err error, dsn string) error {
	msg := strings.ReplaceAll(err.Error(), dsn, "<dsn>")
	if cfg, perr := pgconn.ParseConfig(dsn); perr == nil && cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
	}
	return errors.New(msg)
}

// Command is caddy tokengate migrate: it copies the vault at from into the
// one at to (each bolt:<path> or postgres:<dsn>) with Run, drawing a
// progress bar on progress and writing the summary to out. It loads no key
// (opts.Keyset is the caller's): it compares the key ids the two vaults'
// records carry, and refuses a copy across keysets (see keycheck.go).
// The error is non-nil when the copy did not finish, or finished with
// conflicts or records the target does not hold.
func Command(ctx context.Context, from, to string, out, progress io.Writer, opts Options) (Report, error) {
	if from == "" || to == "" {
		return Report{}, fmt.Errorf("migrate needs --from and --to, each %s", Usage)
	}
	if from == to {
		return Report{}, errors.New("migrate: --from and --to name the same vault")
	}
	src, err := Open(ctx, from, true)
	if err != nil {
		return Report{}, fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, err := Open(ctx, to, false)
	if err != nil {
		return Report{}, fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()

	var bar *progressbar.ProgressBar
	next := opts.Progress
	opts.Progress = func(r Report) {
		if bar == nil && r.Source > 0 {
			bar = RecordsBar(progress, r.Source)
		}
		if bar != nil {
			_ = bar.Set64(r.Walked())
		}
		if next != nil {
			next(r)
		}
	}
	fmt.Fprintf(out, "migrating %s -> %s\n", src.Name, dst.Name)
	rep, err := Run(ctx, src, dst, opts)
	var ke *KeysError
	if errors.As(err, &ke) {
		return rep, err // before anything was copied: no summary to give
	}
	if bar != nil {
		_ = bar.Exit() // keeps the bar where it stopped, complete or not
		fmt.Fprintln(progress)
	}
	rep.WriteSummary(out)
	switch {
	case errors.Is(err, ErrIncomplete):
		return rep, fmt.Errorf("%w; %d conflicts, %d of %d records verified", err, rep.Conflicts+rep.StateConflicts, rep.Found, rep.Checked)
	case err != nil && ctx.Err() != nil:
		return rep, fmt.Errorf("migrate: interrupted (%w); what was copied stays, and running the same command again finishes the job", ctx.Err())
	}
	return rep, err
}

// RecordsBar is the progress bar of the commands that walk a vault's
// records (migrate, reseal), writing to w.
func RecordsBar(w io.Writer, total int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("records"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("records"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
	)
}
