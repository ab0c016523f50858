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

// groupWorkers is how many groups may be in flight at once, each on its
// own connection: while one commits, the next gathers.
const groupWorkers = 2

// maxGroup bounds how many writes share one transaction.
const maxGroup = 256

// write is one statement of a group; rows is what it affected.
type write struct {
	sql  string
	args []any
	rows int64
}

func newWriter(pool *pgxpool.Pool) *vault.GroupCommit[*write] {
	return vault.NewGroupCommit(groupWorkers, maxGroup, func(ws []*write) error { return commitGroup(pool, ws) }, refused)
}

// refused reports whether a group failed because the server refused a
// statement (a clash, a constraint): its writes are then retried each
// alone. A lost connection or a timeout fails the whole group at once.
func refused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

// commitGroup sends every write in one batch. A batch outside a
// transaction block ends with a single Sync, which PostgreSQL runs as one
// implicit transaction: committed at the Sync, or, if any statement fails,
// rolled back whole (the caller then retries each write alone).
func commitGroup(pool *pgxpool.Pool, ws []*write) error {
	ctx, cancel := context.WithTimeout(context.Background(), statementTimeout)
	defer cancel()
	batch := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(ws))}
	for _, w := range ws {
		w.rows = 0
		batch.Queue(w.sql, w.args...)
	}
	res := pool.SendBatch(ctx, batch)
	for _, w := range ws {
		tag, err := res.Exec()
		if err != nil {
			res.Close()
			return err
		}
		w.rows = tag.RowsAffected()
	}
	return res.Close()
}

// exec runs one write in a group and returns the rows it affected. Like a
// statement on the pool, it is bounded by statementTimeout; the caller's
// ctx is checked before it joins a group, not after: once queued, the
// write's outcome is waited for, so the caller never reports a failure for
// a row that was committed.
func (v *Vault) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	w := &write{sql: sql, args: args}
	if err := v.writes.Do(w); err != nil {
		return 0, err
	}
	return w.rows, nil
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
