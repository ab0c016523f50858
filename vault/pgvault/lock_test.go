package pgvault_test

import (
	"context"
	"testing"

	"github.com/tokengate/tokengate/vault/pgvault"
)

// TryAdvisoryLock: one holder at a time per name and database, across
// pools (two gateways); released, the other takes it.
func TestTryAdvisoryLock(t *testing.T) {
	ctx := context.Background()
	dsn := freshDatabase(t)
	var vs [2]*pgvault.Vault
	for i := range vs {
		v, err := pgvault.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		vs[i] = v
	}
	release, ok, err := vs[0].TryAdvisoryLock(ctx, "tokengate reseal")
	if err != nil || !ok {
		t.Fatalf("first: %v %v", ok, err)
	}
	if _, ok, err := vs[1].TryAdvisoryLock(ctx, "tokengate reseal"); err != nil || ok {
		t.Fatalf("second while held: %v %v", ok, err)
	}
	if r, ok, err := vs[1].TryAdvisoryLock(ctx, "another"); err != nil || !ok {
		t.Fatalf("another name: %v %v", ok, err)
	} else {
		r()
	}
	release()
	r, ok, err := vs[1].TryAdvisoryLock(ctx, "tokengate reseal")
	if err != nil || !ok {
		t.Fatalf("after release: %v %v", ok, err)
	}
	r()
}
