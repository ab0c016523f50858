package network

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestConcurrentUse runs provisioning, lookups, cryptograms and status
// changes at once, on every state store (memory, a bbolt file's key-value
// bucket, a PostgreSQL key-value table); run it with -race.
func TestConcurrentUse(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testConcurrentUse(t, NewMemoryStore()) })
	t.Run("bbolt", func(t *testing.T) {
		b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		testConcurrentUse(t, b.KV("network_tokens").KeepInMemory(DPANReservationPrefix))
	})
	t.Run("bbolt, reservations under their keys", func(t *testing.T) {
		b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		testConcurrentUse(t, b.KV("network_tokens"))
	})
	t.Run("postgres", func(t *testing.T) {
		v, err := pgvault.Open(ctx, vaulttest.PostgresDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		testConcurrentUse(t, v.KV("network_tokens"))
	})
}

func testConcurrentUse(t *testing.T, store StateStore) {
	b := newTestBuiltin(t, store)
	base, err := b.Provision(ctx, provisionReq("4111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				switch i % 4 {
				case 0:
					// Two provisions in three join a unit of work, one
					// committed and one rolled back, as the tokenizer
					// makes them.
					req := provisionReq(makePAN("411111", 16, g*1000+i))
					mode := i / 4 % 3
					if mode != 0 {
						req.Unit = vault.NewUnit()
					}
					if _, err := b.Provision(ctx, req); err != nil {
						t.Error(err)
					}
					switch mode {
					case 1:
						if err := req.Unit.Commit(ctx); err != nil {
							t.Error(err)
						}
					case 2:
						req.Unit.Rollback()
					}
				case 1:
					if _, err := b.Get(ctx, base.ID); err != nil {
						t.Error(err)
					}
				case 2:
					c, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: base.ID})
					if err != nil && !errors.Is(err, ErrSuspended) {
						t.Error(err)
					}
					if err == nil {
						mu.Lock()
						if seen[c.Value] {
							t.Error("repeated cryptogram")
						}
						seen[c.Value] = true
						mu.Unlock()
					}
				case 3:
					status := StatusActive
					if g%2 == 0 {
						status = StatusSuspended
					}
					if err := b.SetStatus(ctx, base.ID, status); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
}
