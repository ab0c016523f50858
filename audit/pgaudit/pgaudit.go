// Package pgaudit keeps audit chains in PostgreSQL, one per gateway, for
// several gateways sharing a database: a row per entry in tokengate_audit
// (gateway, seq, the entry as written), and the latest checkpoint of each
// chain in tokengate_audit_head, for tail-cut detection. The tables are
// created at open (CREATE TABLE IF NOT EXISTS, under an advisory lock).
package pgaudit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/vault/pgvault"
)

// statementTimeout bounds each statement: a database that stops answering
// costs an audited access a bounded wait, then a refusal.
const statementTimeout = 5 * time.Second

// tailRows is how many of the chain's last entries are checked at open.
const tailRows = 1000

const schema = `
CREATE TABLE IF NOT EXISTS tokengate_audit (
	gateway text   NOT NULL,
	seq     bigint NOT NULL,
	entry   text   NOT NULL,
	PRIMARY KEY (gateway, seq)
);
CREATE TABLE IF NOT EXISTS tokengate_audit_head (
	gateway text   PRIMARY KEY,
	seq     bigint NOT NULL,
	prev    text   NOT NULL,
	hash    text   NOT NULL,
	mac     text   NOT NULL
);`

// schemaLock is the advisory lock key under which the tables are created
// ("tgaudit" in ASCII), so gateways starting together do not race.
const schemaLock = 0x7467617564697400

// Store is an audit.Store over one gateway's chain.
type Store struct {
	pool    *pgxpool.Pool
	gateway string
}

// Connect connects with dsn (errors never hold the DSN: see
// pgvault.ParseDSN) and creates the tables.
func Connect(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgvault.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgaudit: dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgaudit: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema)
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgaudit: creating the audit tables: %w", err)
	}
	return pool, nil
}

// Open reads gateway's chain in pool: its head, and its last entries,
// which must verify (with key) and not be shorter than the head; a chain
// that does not is refused (an *audit.TailError).
func Open(ctx context.Context, pool *pgxpool.Pool, gateway string, key []byte) (*Store, audit.Tail, error) {
	head, err := ReadHead(ctx, pool, gateway)
	if err != nil {
		return nil, audit.Tail{}, err
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rows, err := pool.Query(qctx, `SELECT seq, entry FROM (SELECT seq, entry FROM tokengate_audit WHERE gateway = $1 ORDER BY seq DESC LIMIT $2) t ORDER BY seq`, gateway, tailRows)
	if err != nil {
		return nil, audit.Tail{}, fmt.Errorf("pgaudit: reading the chain of %s: %w", gateway, err)
	}
	v := audit.NewVerifier(key, head)
	v.Window() // the last tailRows rows only
	var last *audit.Entry
	for rows.Next() {
		var seq int64
		var entry string
		if err := rows.Scan(&seq, &entry); err != nil {
			rows.Close()
			return nil, audit.Tail{}, fmt.Errorf("pgaudit: %w", err)
		}
		if err := v.Add(source(gateway), int(seq), []byte(entry)); err != nil {
			rows.Close()
			return nil, audit.Tail{}, tailError(gateway, err)
		}
		var e audit.Entry
		if json.Unmarshal([]byte(entry), &e) == nil && e.Seq > 0 {
			last = &e
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, audit.Tail{}, fmt.Errorf("pgaudit: reading the chain of %s: %w", gateway, err)
	}
	if _, err := v.Finish(); err != nil {
		return nil, audit.Tail{}, tailError(gateway, err)
	}
	tail := audit.Tail{Last: last, Head: head}
	if last == nil {
		tail.Previous = "none"
		if head != nil {
			tail.Previous = fmt.Sprintf("broken: the rows of the chain whose head is seq %d hash %s are gone", head.Seq, head.Hash)
		}
	}
	return &Store{pool: pool, gateway: gateway}, tail, nil
}

func source(gateway string) string { return "tokengate_audit gateway " + gateway + " row" }

func tailError(gateway string, err error) error {
	return audit.NewTailError(fmt.Errorf("PostgreSQL audit chain of gateway %s: %w; refusing to continue a chain that does not verify: "+
		"delete its rows and its tokengate_audit_head row (after copying them for the investigation) to start a new chain", gateway, err))
}

// ReadHead reads gateway's head (nil if none).
func ReadHead(ctx context.Context, pool *pgxpool.Pool, gateway string) (*audit.Head, error) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	h := audit.Head{Gateway: gateway}
	var seq int64
	err := pool.QueryRow(ctx, `SELECT seq, prev, hash, mac FROM tokengate_audit_head WHERE gateway = $1`, gateway).Scan(&seq, &h.Prev, &h.Hash, &h.MAC)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pgaudit: reading the head of %s: %w", gateway, err)
	}
	h.Seq = uint64(seq)
	return &h, nil
}

func seqOf(line []byte) (int64, error) {
	var e struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(line, &e); err != nil || e.Seq == 0 {
		return 0, errors.New("pgaudit: an entry without a seq")
	}
	return int64(e.Seq), nil
}

func (s *Store) insert(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, line []byte) error {
	seq, err := seqOf(line)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO tokengate_audit (gateway, seq, entry) VALUES ($1, $2, $3)`, s.gateway, seq, string(line))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("pgaudit: seq %d of gateway %s is already written: another gateway writes under the same name (set a gateway name per gateway)", seq, s.gateway)
	}
	return err
}

// Append implements audit.Store: the row is committed when it returns. An
// insert whose answer was lost (a timeout after the commit) is looked up:
// found as written, it counts as written, so the chain does not stall on a
// seq it already used.
func (s *Store) Append(ctx context.Context, line []byte) error {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
	defer cancel()
	err := s.insert(ictx, s.pool, line)
	if err == nil {
		return nil
	}
	seq, _ := seqOf(line)
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
	defer lcancel()
	var existing string
	if s.pool.QueryRow(lctx, `SELECT entry FROM tokengate_audit WHERE gateway = $1 AND seq = $2`, s.gateway, seq).Scan(&existing) == nil && existing == string(line) {
		return nil
	}
	return err
}

// AppendBatch implements audit.BatchStore (a chain's group commit): the
// rows in one INSERT, one round trip and one commit, all or none. An
// insert whose answer was lost is looked up as Append does.
func (s *Store) AppendBatch(ctx context.Context, lines [][]byte) (int, error) {
	if len(lines) == 1 {
		if err := s.Append(ctx, lines[0]); err != nil {
			return 0, err
		}
		return 1, nil
	}
	seqs := make([]int64, len(lines))
	entries := make([]string, len(lines))
	for i, l := range lines {
		seq, err := seqOf(l)
		if err != nil {
			return 0, err
		}
		seqs[i], entries[i] = seq, string(l)
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
	defer cancel()
	_, err := s.pool.Exec(ictx, `INSERT INTO tokengate_audit (gateway, seq, entry) SELECT $1, * FROM unnest($2::bigint[], $3::text[])`, s.gateway, seqs, entries)
	if err == nil {
		return len(lines), nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		err = fmt.Errorf("pgaudit: seqs %d to %d of gateway %s: one is already written: another gateway writes under the same name (set a gateway name per gateway)", seqs[0], seqs[len(seqs)-1], s.gateway)
	}
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
	defer lcancel()
	rows, qerr := s.pool.Query(lctx, `SELECT seq, entry FROM tokengate_audit WHERE gateway = $1 AND seq = ANY($2)`, s.gateway, seqs)
	if qerr != nil {
		return 0, err
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		var seq int64
		var entry string
		if rows.Scan(&seq, &entry) != nil {
			return 0, err
		}
		if i := int(seq - seqs[0]); i >= 0 && i < len(entries) && seqs[i] == seq && entries[i] == entry {
			found++
		}
	}
	if rows.Err() == nil && found == len(lines) {
		return len(lines), nil
	}
	return 0, err
}

// Checkpoint implements audit.Store: the checkpoint and the head in one
// transaction.
func (s *Store) Checkpoint(ctx context.Context, line []byte, h audit.Head) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.insert(ctx, tx, line); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO tokengate_audit_head (gateway, seq, prev, hash, mac) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (gateway) DO UPDATE SET seq = EXCLUDED.seq, prev = EXCLUDED.prev, hash = EXCLUDED.hash, mac = EXCLUDED.mac`,
			s.gateway, int64(h.Seq), h.Prev, h.Hash, h.MAC)
		return err
	})
	// A commit whose answer was lost leaves it unknown: the next insert
	// at that seq then fails as a duplicate, and the gateway must be
	// restarted to read the chain's end again.
	return err == nil, err
}

// Sync implements audit.Store: every row is committed already.
func (s *Store) Sync() error { return nil }

// Close implements audit.Store; the pool is the caller's.
func (s *Store) Close() error { return nil }

// Rows calls fn with each entry of gateway's chain, in seq order.
func Rows(ctx context.Context, pool *pgxpool.Pool, gateway string, fn func(seq int64, entry []byte) error) error {
	rows, err := pool.Query(ctx, `SELECT seq, entry FROM tokengate_audit WHERE gateway = $1 ORDER BY seq`, gateway)
	if err != nil {
		return fmt.Errorf("pgaudit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var entry string
		if err := rows.Scan(&seq, &entry); err != nil {
			return fmt.Errorf("pgaudit: %w", err)
		}
		if err := fn(seq, []byte(entry)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Verify verifies gateway's chain with key, against its head.
func Verify(ctx context.Context, pool *pgxpool.Pool, gateway string, key []byte) (audit.Report, error) {
	head, err := ReadHead(ctx, pool, gateway)
	if err != nil {
		return audit.Report{}, err
	}
	v := audit.NewVerifier(key, head)
	if err := Rows(ctx, pool, gateway, func(seq int64, entry []byte) error { return v.Add(source(gateway), int(seq), entry) }); err != nil {
		return audit.Report{}, err
	}
	return v.Finish()
}

// Search writes gateway's entries that f matches to out, as JSON lines; an
// entry shown that does not verify (its hash, its link to the row before)
// makes it return the error of audit.Links after the rows.
func Search(ctx context.Context, pool *pgxpool.Pool, gateway string, f audit.Filter, out io.Writer) (int, error) {
	var links audit.Links
	total := 0
	err := Rows(ctx, pool, gateway, func(_ int64, entry []byte) error {
		n, err := audit.SearchLinked(source(gateway), bytes.NewReader(entry), f, out, &links)
		total += n
		return err
	})
	if err == nil {
		err = links.Err()
	}
	return total, err
}

// OpenChain opens gateway's chain in pool (see Open and audit.NewChain).
func OpenChain(ctx context.Context, pool *pgxpool.Pool, gateway string, opts audit.Options) (*audit.Chain, error) {
	store, tail, err := Open(ctx, pool, gateway, opts.Key)
	if err != nil {
		return nil, err
	}
	opts.Gateway = gateway
	return audit.NewChain(ctx, store, tail, opts)
}
