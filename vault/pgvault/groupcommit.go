package pgvault

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokengate/tokengate/vault"
)

// New cards' writes (the record's INSERT, the builtin network token
// service's Create) are group-committed: the statements of every write that
// queued while the previous group was in flight go to the server in one
// pipeline, one round trip, and commit as one transaction. Per card the
// server then parses, plans and commits once per group instead of once per
// statement, and the gateway waits for one round trip instead of one per
// statement.

// The fingerprint lookup a new card starts with, and the builtin service's
// CreateHeld, are batched the same way in groups of their own that wait for
// no flush to disk: a read has nothing to flush, and a held create is made
// durable by the card's record write that follows it (see CreateHeld).

// groupWorkers is how many durable groups may be in flight at once, each
// on its own connection; the fast groups have one too. One: the writes
// that queue while a group commits form the next group, so a second
// worker only splits them into more, smaller transactions. With two
// durable workers PostgreSQL spent about a fifth more CPU per new card
// (BenchmarkPostgresNewCard's pg-cpu-ns/op, 134 -> 105 us with one) for no
// more cards per second, and on a machine it shares with the gateway that
// CPU is the gateway's. Two fast workers cost more CPU the same way. The
// batchers hold at most two of the pool's connections.
const groupWorkers = 1

// maxGroup bounds how many statements share one batch.
const maxGroup = 256

// op is one statement of a group: an Exec (rows is what it affected) or,
// with query set, a read of one record (rec, or err: vault.ErrNotFound or
// a row that does not decode).
type op struct {
	sql   string
	args  []any
	query bool
	rows  int64
	rec   vault.Record
	err   error
}

// newGroups starts group commit over pool; with async, the groups'
// transactions commit without waiting for their WAL to reach the disk
// (synchronous_commit off).
func newGroups(pool *pgxpool.Pool, workers int, async bool) *vault.GroupCommit[*op] {
	return vault.NewGroupCommit(workers, maxGroup, func(ops []*op) error { return runGroup(pool, ops, async) }, refused)
}

// refused reports whether a group failed because the server refused a
// statement (a clash, a constraint): its statements are then retried each
// alone. A lost connection or a timeout fails the whole group at once.
func refused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

// runGroup sends every statement in one batch. A batch outside a
// transaction block ends with a single Sync, which PostgreSQL runs as one
// implicit transaction: committed at the Sync, or, if any statement fails,
// rolled back whole (the group is then retried statement by statement).
func runGroup(pool *pgxpool.Pool, ops []*op, async bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), statementTimeout)
	defer cancel()
	batch := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(ops)+1)}
	if async {
		// Local to the batch's implicit transaction.
		batch.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	}
	for _, o := range ops {
		o.rows, o.rec, o.err = 0, vault.Record{}, nil
		batch.Queue(o.sql, o.args...)
	}
	res := pool.SendBatch(ctx, batch)
	if async {
		if _, err := res.Exec(); err != nil {
			res.Close()
			return err
		}
	}
	for _, o := range ops {
		if o.query {
			o.rec, o.err = scan(res.QueryRow())
			var bad *decodeError
			if o.err != nil && !errors.Is(o.err, vault.ErrNotFound) && !errors.As(o.err, &bad) {
				res.Close()
				return o.err
			}
			continue
		}
		tag, err := res.Exec()
		if err != nil {
			res.Close()
			return err
		}
		o.rows = tag.RowsAffected()
	}
	return res.Close()
}

// exec runs one write in group g and returns the rows it affected.
// Like a statement on the pool it is bounded by statementTimeout; the
// caller's ctx counts until the write joins a group, not after: once sent,
// the write's outcome is waited for, so the caller never reports a failure
// for a row that was committed.
func (v *Vault) exec(ctx context.Context, g *vault.GroupCommit[*op], sql string, args ...any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	o := &op{sql: sql, args: args}
	if err := g.Do(ctx, o); err != nil {
		return 0, err
	}
	return o.rows, nil
}

// queryRecord reads one record in a fast group.
func (v *Vault) queryRecord(ctx context.Context, sql string, args ...any) (vault.Record, error) {
	if err := ctx.Err(); err != nil {
		return vault.Record{}, err
	}
	o := &op{sql: sql, args: args, query: true}
	if err := v.fast.Do(ctx, o); err != nil {
		return vault.Record{}, err // scan's, or ErrClosed
	}
	return o.rec, o.err
}

// isUniqueViolationOn reports whether err is a unique_violation on table.
func isUniqueViolationOn(err error, table string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.TableName == table
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
