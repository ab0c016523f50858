package pgvault_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

func freshDatabase(t testing.TB) string { return vaulttest.PostgresDatabase(t) }

// twoGateways opens a fresh database (dsn) twice, as two gateways sharing
// it would; both are closed with the test.
func twoGateways(ctx context.Context, t *testing.T) (dsn string, a, b *pgvault.Vault) {
	t.Helper()
	dsn = freshDatabase(t)
	open := func() *pgvault.Vault {
		v, err := pgvault.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		return v
	}
	return dsn, open(), open()
}

// The PostgreSQL vault keeps every promise of the Vault contract.
func TestConformance(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vault.Vault {
		v, err := pgvault.Open(context.Background(), freshDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}

// So does the read cache over it: its records (times as PostgreSQL gives
// them back) come out of the cache's packed form unchanged.
func TestCacheConformance(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vault.Vault {
		v, err := pgvault.Open(context.Background(), freshDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		return vault.NewCache(v, time.Minute, 3)
	})
}

// Two gateways opening one database at once both migrate safely (an
// advisory lock), and then share it.
func TestSharedDatabase(t *testing.T) {
	dsn := freshDatabase(t)
	errs := make(chan error, 2)
	vaults := make(chan *pgvault.Vault, 2)
	for range 2 {
		go func() {
			v, err := pgvault.Open(context.Background(), dsn)
			errs <- err
			vaults <- v
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	a, b := <-vaults, <-vaults
	defer a.Close()
	defer b.Close()
	stored, created, err := a.Put(context.Background(), vaulttest.Sample("acme", "tok_1", "fp1"))
	if err != nil || !created {
		t.Fatal(err)
	}
	got, err := b.Get(context.Background(), "acme", "tok_1")
	if err != nil || got.Version != stored.Version {
		t.Fatalf("the other gateway: %v", err)
	}
}
