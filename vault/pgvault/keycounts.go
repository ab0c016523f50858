package pgvault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/vault"
)

// scanTimeout bounds the statements that read every row (a sequential
// scan, a plpgsql call per row): seconds per million rows, far beyond the
// 5 s a request's statement gets, and never on a request's path.
const scanTimeout = 15 * time.Minute

// CountBySealingKey implements vault.KeyCounter: one GROUP BY over the key
// id the database reads from each row (tokengate_sealing_key_id, from
// migrations/003_sealing_keys.sql), so no record leaves the database. It
// reads every row: a sequential scan, run by commands and by the
// background re-seal, never on a request's path.
func (v *Vault) CountBySealingKey(ctx context.Context) (vault.KeyCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, scanTimeout)
	defer cancel()
	rows, err := v.pool.Query(ctx, `SELECT tokengate_sealing_key_id(data->>'sealed'), count(*) FROM tokengate_records GROUP BY 1`)
	if err != nil {
		return vault.KeyCounts{}, fmt.Errorf("pgvault: counting records by key: %w", err)
	}
	defer rows.Close()
	c := vault.KeyCounts{ByKey: map[uint32]int64{}}
	for rows.Next() {
		var id *int64
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return vault.KeyCounts{}, fmt.Errorf("pgvault: counting records by key: %w", err)
		}
		if id == nil {
			c.NoKeyID += n
		} else {
			c.ByKey[uint32(*id)] = n
		}
	}
	if err := rows.Err(); err != nil {
		return vault.KeyCounts{}, fmt.Errorf("pgvault: counting records by key: %w", err)
	}
	return c, nil
}

// ForgetSealingKey implements vault.KeyForgetter in one transaction: the
// id is deleted from tokengate_sealing_keys first, which waits for every
// write in flight sealed with it (each holds the key's row until it
// commits: migrations/004_sealing_key_lock.sql), then the rows sealed with
// it are counted (a statement of its own, so its snapshot sees those
// writes); any, and nothing changes. A row written with it afterwards (a
// gateway still on the old keyset) waits for the delete and puts the id
// back, and the next start with a keyset that lacks the key refuses: fail
// closed.
func (v *Vault) ForgetSealingKey(ctx context.Context, id uint32) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, scanTimeout)
	defer cancel()
	var inUse int64
	err := pgx.BeginFunc(ctx, v.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM tokengate_sealing_keys WHERE key_id = $1`, int64(id)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tokengate_records WHERE tokengate_sealing_key_id(data->>'sealed') = $1`, int64(id)).Scan(&inUse); err != nil {
			return err
		}
		if inUse > 0 {
			return errKeyInUse
		}
		return nil
	})
	if err != nil && !errors.Is(err, errKeyInUse) {
		return 0, fmt.Errorf("pgvault: forgetting key %d: %w", id, err)
	}
	return inUse, nil
}

// errKeyInUse rolls ForgetSealingKey's transaction back.
var errKeyInUse = errors.New("key in use")

// TryAdvisoryLock takes PostgreSQL's session advisory lock named name
// (pg_try_advisory_lock on its hashtext) on a connection of its own, held
// until release: so that, of several gateways sharing the database, one at
// a time runs the background re-seal. ok is false when another session
// holds it. A session that ends (a gateway that died) releases it.
func (v *Vault) TryAdvisoryLock(ctx context.Context, name string) (release func(), ok bool, err error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	conn, err := v.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("pgvault: advisory lock: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, name).Scan(&ok); err != nil || !ok {
		conn.Release()
		if err != nil {
			return nil, false, fmt.Errorf("pgvault: advisory lock: %w", err)
		}
		return nil, false, nil
	}
	return func() {
		ctx, cancel := bounded(context.Background())
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext($1))`, name); err != nil {
			_ = conn.Conn().Close(ctx) // the session's end releases it
		}
		conn.Release()
	}, true, nil
}

// Interface guards.
var (
	_ vault.KeyCounter   = (*Vault)(nil)
	_ vault.KeyForgetter = (*Vault)(nil)
)
