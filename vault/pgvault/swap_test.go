package pgvault_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

func openFresh(t *testing.T) (*pgvault.Vault, string) {
	t.Helper()
	dsn := freshDatabase(t)
	v, err := pgvault.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, dsn
}

// The reproduction of issue 15 item 12: the sealed data and fingerprint of
// two records swapped in PostgreSQL (columns and JSON alike) made token A
// pay with card B. Now neither opens.
func TestRowSwapInSQL(t *testing.T) {
	v, dsn := openFresh(t)
	vaulttest.RowSwap(t, v, func(t *testing.T, tenant, a, b string) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		var fpA, fpB string
		var dataA, dataB []byte
		for tok, dst := range map[string]*string{a: &fpA, b: &fpB} {
			if err := tx.QueryRow(ctx, `SELECT fingerprint FROM tokengate_records WHERE tenant = $1 AND token = $2`, tenant, tok).Scan(dst); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.QueryRow(ctx, `SELECT data::text FROM tokengate_records WHERE tenant = $1 AND token = $2`, tenant, a).Scan(&dataA); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(ctx, `SELECT data::text FROM tokengate_records WHERE tenant = $1 AND token = $2`, tenant, b).Scan(&dataB); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			tok, fp string
			from    []byte
		}{{b, "parked", nil}, {a, fpB, dataB}, {b, fpA, dataA}}
		for _, s := range steps {
			q := `UPDATE tokengate_records SET fingerprint = $3 WHERE tenant = $1 AND token = $2`
			args := []any{tenant, s.tok, s.fp}
			if s.from != nil {
				q = `UPDATE tokengate_records SET fingerprint = $3,
					data = jsonb_set(jsonb_set(data, '{sealed}', $4::jsonb->'sealed'), '{fingerprint}', to_jsonb($3::text))
					WHERE tenant = $1 AND token = $2`
				args = append(args, string(s.from))
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// The whole JSON of two rows swapped (its token field included): a row is
// what its key columns say, and neither opens.
func TestRowSwapWholeData(t *testing.T) {
	v, dsn := openFresh(t)
	vaulttest.RowSwap(t, v, func(t *testing.T, tenant, a, b string) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		// Park the fingerprints first: (tenant, fingerprint) is unique.
		_, err = conn.Exec(ctx, `UPDATE tokengate_records SET fingerprint = 'parked-' || token WHERE tenant = $1 AND token IN ($2, $3)`, tenant, a, b)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(ctx, `
			UPDATE tokengate_records r SET fingerprint = o.data->>'fingerprint', data = o.data
			FROM tokengate_records o
			WHERE r.tenant = $1 AND o.tenant = $1 AND ((r.token = $2 AND o.token = $3) OR (r.token = $3 AND o.token = $2))`, tenant, a, b)
		if err != nil {
			t.Fatal(err)
		}
	})
}

// Records sealed before the token was bound open, and are re-sealed on
// their next write.
func TestLegacyRecordsResealedOnWrite(t *testing.T) {
	v, _ := openFresh(t)
	vaulttest.LegacyReseal(t, v)
}
