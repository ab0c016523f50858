package pgvault_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/vault/vaulttest"
)

// The fast groups turn synchronous_commit off for their own batch only:
// the pooled connection's next batch (a record's INSERT) commits durably
// again. This is the PostgreSQL behaviour CreateHeld relies on.
func TestAsyncCommitStaysInItsBatch(t *testing.T) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, vaulttest.PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	b.Queue(`SHOW synchronous_commit`)
	res := c.SendBatch(ctx, b)
	if _, err := res.Exec(); err != nil {
		t.Fatal(err)
	}
	var in, after string
	if err := res.QueryRow().Scan(&in); err != nil {
		t.Fatal(err)
	}
	if err := res.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if in != "off" || after != "on" {
		t.Fatalf("synchronous_commit in the batch %q, after it %q; want off, then on", in, after)
	}
}
