package pgvault_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// The database records the key id of every row written (by its trigger).
func TestPostgresSealingKeys(t *testing.T) {
	v, err := pgvault.Open(context.Background(), freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	vaulttest.SealingKeysSuite(t, v)
}

// Rows written before the migration that records keys (here: the record
// emptied by hand, as migration 003 leaves a database that held rows)
// make an incomplete record, which a scan completes; a row written by any
// client since, even by hand in SQL, is recorded by the trigger.
func TestPostgresSealingKeysBackfill(t *testing.T) {
	ctx := context.Background()
	dsn := freshDatabase(t)
	v, err := pgvault.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for i, id := range []uint32{42, 9, 42} {
		rec := vaulttest.Sample("acme", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i))
		rec.Sealed = vaulttest.SealedWith(id)
		if _, _, err := v.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM tokengate_sealing_keys; DELETE FROM tokengate_vault_meta`); err != nil {
		t.Fatal(err)
	}
	vaulttest.BackfillSuite(t, v, 9, 42)

	// A row inserted in SQL, as an older gateway would: recorded.
	if _, err := conn.Exec(ctx, `INSERT INTO tokengate_records (tenant, token, fingerprint, data, version, created_at, updated_at)
		SELECT tenant, 'tok_sql', 'fp_sql', jsonb_set(data, '{sealed}', to_jsonb(encode('\x0201000000ff00'::bytea, 'base64'))), 1, now(), now()
		FROM tokengate_records WHERE token = 'tok_0'`); err != nil {
		t.Fatal(err)
	}
	sk, err := v.SealingKeys(ctx)
	if err != nil || len(sk.IDs) != 3 || sk.IDs[2] != 255 {
		t.Fatalf("a row written in SQL: %v %v", sk, err)
	}
}
