package pgvault

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/vault"
)

// The keys that sealed the records (vault.KeyRecorder) are in
// tokengate_sealing_keys, written by a trigger on every row
// (migrations/003_sealing_keys.sql), and whether that list covers every
// record in tokengate_vault_meta.

const metaSealingKeysComplete = "sealing_keys_complete"

// SealingKeys implements vault.KeyRecorder.
func (v *Vault) SealingKeys(ctx context.Context) (vault.SealingKeys, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	var sk vault.SealingKeys
	rows, err := v.pool.Query(ctx, `SELECT key_id FROM tokengate_sealing_keys ORDER BY key_id`)
	if err != nil {
		return sk, fmt.Errorf("pgvault: sealing keys: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return sk, fmt.Errorf("pgvault: sealing keys: %w", err)
	}
	for _, id := range ids {
		sk.IDs = append(sk.IDs, uint32(id))
	}
	err = v.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokengate_vault_meta WHERE name = $1)`, metaSealingKeysComplete).Scan(&sk.Complete)
	if err != nil {
		return sk, fmt.Errorf("pgvault: sealing keys: %w", err)
	}
	return sk, nil
}

// RecordSealingKeys implements vault.KeyRecorder, in one transaction.
func (v *Vault) RecordSealingKeys(ctx context.Context, ids []uint32, complete bool) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	wide := make([]int64, len(ids))
	for i, id := range ids {
		wide[i] = int64(id)
	}
	return pgx.BeginFunc(ctx, v.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tokengate_sealing_keys (key_id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING`, wide); err != nil {
			return fmt.Errorf("pgvault: recording sealing keys: %w", err)
		}
		if !complete {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tokengate_vault_meta (name, value) VALUES ($1, now()::text) ON CONFLICT DO NOTHING`, metaSealingKeysComplete); err != nil {
			return fmt.Errorf("pgvault: recording sealing keys: %w", err)
		}
		return nil
	})
}

// Interface guard.
var _ vault.KeyRecorder = (*Vault)(nil)
