package pgvault

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokengate/tokengate/vault/vaulttest"
)

// The fast groups' connections commit without waiting for the disk; every
// other connection, the durable groups' (a record's INSERT) among them,
// waits. This is what CreateHeld and Put rely on.
func TestAsyncCommitOnlyOnTheFastPool(t *testing.T) {
	ctx := context.Background()
	v, err := Open(ctx, vaulttest.PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	show := func(p *pgxpool.Pool) string {
		var s string
		if err := p.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if fast, main := show(v.asyncPool), show(v.pool); fast != "off" || main != "on" {
		t.Fatalf("synchronous_commit on the fast groups' connections %q, on the others %q; want off, then on", fast, main)
	}
	if n := v.asyncPool.Config().MaxConns; n != fastWorkers {
		t.Fatalf("the fast groups' pool holds up to %d connections; want %d", n, fastWorkers)
	}
}
