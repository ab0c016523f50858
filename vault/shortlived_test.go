package vault_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// The short-lived layer keeps every promise of the Vault contract for the
// records it passes through.
func TestShortLivedConformance(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vault.Vault {
		b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return vault.NewShortLived(b)
	})
}

func TestShortLivedRecords(t *testing.T) {
	ctx := context.Background()
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e := vault.NewShortLived(b)
	rec := vaulttest.Sample("acme", "ctkn_1", "fp1")
	if err := e.PutShortLived(context.Background(), rec, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Get(ctx, "acme", "ctkn_1"); err != nil || got.Token != "ctkn_1" {
		t.Fatalf("Get: %v", err)
	}
	if _, err := e.Get(ctx, "other", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("another tenant: %v", err)
	}
	if _, err := e.GetByFingerprint(ctx, "acme", "fp1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("found by fingerprint: %v", err)
	}
	if _, err := b.Get(ctx, "acme", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatal("a short-lived record reached the store")
	}
	time.Sleep(80 * time.Millisecond)
	if _, err := e.Get(ctx, "acme", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("after its TTL: %v", err)
	}
	if err := e.PutShortLived(context.Background(), vaulttest.Sample("acme", "ctkn_2", "fp2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.Delete(ctx, "acme", "ctkn_2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(ctx, "acme", "ctkn_2"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
}

// The layer is bounded: past its limit new cards are refused, and room
// comes back as cards expire.
func TestShortLivedLimit(t *testing.T) {
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e := vault.NewShortLivedLimit(b, 2)
	for _, tok := range []string{"a", "b"} {
		if err := e.PutShortLived(context.Background(), vaulttest.Sample("acme", tok, "fp"), 40*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.PutShortLived(context.Background(), vaulttest.Sample("acme", "c", "fp"), time.Minute); !errors.Is(err, vault.ErrShortLivedFull) {
		t.Fatalf("past the limit: %v", err)
	}
	if e.Refused() != 1 || e.Held() != 2 || e.Max() != 2 {
		t.Fatalf("refused %d, held %d, max %d; want 1 2 2", e.Refused(), e.Held(), e.Max())
	}
	if _, err := e.Get(context.Background(), "acme", "a"); err != nil {
		t.Fatal("a held card was dropped to make room")
	}
	time.Sleep(60 * time.Millisecond)
	if err := e.PutShortLived(context.Background(), vaulttest.Sample("acme", "c", "fp"), time.Minute); err != nil {
		t.Fatalf("after the others expired: %v", err)
	}
}

// mapShortLived is a ShortLivedStore in a map (no TTL), standing for Redis.
type mapShortLived map[string]vault.Record

func (m mapShortLived) PutShortLived(_ context.Context, rec vault.Record, _ time.Duration) error {
	m[rec.Tenant+"/"+rec.Token] = rec
	return nil
}

func (m mapShortLived) GetShortLived(_ context.Context, tenant, token string) (vault.Record, error) {
	if rec, ok := m[tenant+"/"+token]; ok {
		return rec, nil
	}
	return vault.Record{}, vault.ErrNotFound
}

func (m mapShortLived) DeleteShortLived(_ context.Context, tenant, token string) error {
	if _, ok := m[tenant+"/"+token]; !ok {
		return vault.ErrNotFound
	}
	delete(m, tenant+"/"+token)
	return nil
}

// With a shared store, short-lived cards go there (where every gateway
// finds them) and never to the vault or this process's memory; vault
// records are unaffected.
func TestShortLivedShared(t *testing.T) {
	ctx := context.Background()
	b := vaulttest.OpenBolt(t)
	shared := mapShortLived{}
	issuer, payer := vault.NewShortLived(b), vault.NewShortLived(b)
	issuer.Shared, payer.Shared = shared, shared
	if err := issuer.PutShortLived(ctx, vaulttest.Sample("acme", "ctkn_1", "fp1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(shared) != 1 {
		t.Fatal("the short-lived card did not reach the shared store")
	}
	if got, err := payer.Get(ctx, "acme", "ctkn_1"); err != nil || got.Token != "ctkn_1" {
		t.Fatalf("another gateway's Get: %v", err)
	}
	if _, err := payer.GetByFingerprint(ctx, "acme", "fp1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("found by fingerprint: %v", err)
	}
	if _, err := b.Get(ctx, "acme", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatal("a short-lived record reached the vault")
	}
	if _, _, err := payer.Put(ctx, vaulttest.Sample("acme", "tok_1", "fp2")); err != nil {
		t.Fatal(err)
	}
	if got, err := payer.Get(ctx, "acme", "tok_1"); err != nil || got.Token != "tok_1" {
		t.Fatalf("a vault record through the layer: %v", err)
	}
	if err := payer.Delete(ctx, "acme", "ctkn_1"); err != nil || len(shared) != 0 {
		t.Fatalf("delete: %v, %d left", err, len(shared))
	}
	if err := payer.Delete(ctx, "acme", "tok_1"); err != nil {
		t.Fatalf("deleting a vault record: %v", err)
	}
	if err := payer.Delete(ctx, "acme", "nothing"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("deleting nothing: %v", err)
	}
}

// What a gateway puts in the shared store counts against its bound: its
// unauthenticated callers cannot fill Redis for every gateway.
func TestShortLivedSharedIsBounded(t *testing.T) {
	ctx := context.Background()
	b := vaulttest.OpenBolt(t)
	shared := mapShortLived{}
	e := vault.NewShortLivedLimit(b, 2)
	e.Shared = shared
	for _, tok := range []string{"a", "b"} {
		if err := e.PutShortLived(ctx, vaulttest.Sample("acme", tok, "fp"), 40*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.PutShortLived(ctx, vaulttest.Sample("acme", "c", "fp"), time.Minute); !errors.Is(err, vault.ErrShortLivedFull) {
		t.Fatalf("a third card over a bound of two: %v", err)
	}
	if err := e.Delete(ctx, "acme", "a"); err != nil {
		t.Fatal(err)
	}
	if err := e.PutShortLived(ctx, vaulttest.Sample("acme", "c", "fp"), time.Minute); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	time.Sleep(60 * time.Millisecond) // "b" expires
	if err := e.PutShortLived(ctx, vaulttest.Sample("acme", "d", "fp"), time.Minute); err != nil {
		t.Fatalf("after an expiry: %v", err)
	}
}

// Pools: a pool past its quota is refused (ErrShortLivedQuota) while other
// pools and the gateway's own cards (no pool) go on; the pools together
// never take the Reserve; expiry and Delete give room back to the pool
// they came from. The same with the memory layer and with a shared store.
func TestShortLivedPools(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := "memory"
		if shared {
			name = "shared"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := vault.NewShortLivedLimit(vaulttest.OpenBolt(t), 10) // Reserve 5: the pools hold at most 5
			if shared {
				e.Shared = mapShortLived{}
			}
			n := 0
			put := func(ctx context.Context, ttl time.Duration) error {
				n++
				return e.PutShortLived(ctx, vaulttest.Sample("acme", fmt.Sprintf("t%d", n), "fp"), ttl)
			}
			a := vault.WithPool(ctx, vault.Pool{Name: "juspay/a", Max: 3})
			b := vault.WithPool(ctx, vault.Pool{Name: "juspay/b", Max: 3})
			c := vault.WithPool(ctx, vault.Pool{Name: "juspay/c", Max: 3})
			for i := 0; i < 3; i++ {
				if err := put(a, 40*time.Millisecond); err != nil {
					t.Fatalf("a's card %d: %v", i+1, err)
				}
			}
			for i := 0; i < 5; i++ {
				if err := put(a, time.Minute); !errors.Is(err, vault.ErrShortLivedQuota) {
					t.Fatalf("a over its quota: %v", err)
				}
			}
			if e.PoolHeld("juspay/a") != 3 {
				t.Fatalf("a holds %d", e.PoolHeld("juspay/a"))
			}
			if err := put(b, time.Minute); err != nil {
				t.Fatalf("b while a is at its quota: %v", err)
			}
			if err := put(b, time.Minute); err != nil {
				t.Fatalf("b's second: %v", err)
			}
			// 5 in pools: the pools' share is taken, c is refused although
			// its own quota is free, and the gateway's own cards still fit.
			if err := put(c, time.Minute); !errors.Is(err, vault.ErrShortLivedFull) {
				t.Fatalf("c past the pools' share: %v", err)
			}
			for i := 0; i < 5; i++ {
				if err := put(ctx, time.Minute); err != nil {
					t.Fatalf("the gateway's own card %d with the pools full: %v", i+1, err)
				}
			}
			if err := put(ctx, time.Minute); !errors.Is(err, vault.ErrShortLivedFull) {
				t.Fatalf("past the total bound: %v", err)
			}
			time.Sleep(60 * time.Millisecond) // a's three expire
			if got := e.PoolHeld("juspay/a"); got != 0 {
				t.Fatalf("a after its cards expired: %d", got)
			}
			if err := put(c, time.Minute); err != nil {
				t.Fatalf("c once a's cards expired: %v", err)
			}
			if err := e.Delete(ctx, "acme", fmt.Sprintf("t%d", 9)); err != nil { // b's first
				t.Fatal(err)
			}
			if got := e.PoolHeld("juspay/b"); got != 1 {
				t.Fatalf("b after a Delete: %d", got)
			}
		})
	}
}

// Sweeping costs what expired, not what is held: a pool at its quota
// refuses in constant time, however many cards the layer holds.
func BenchmarkShortLivedQuotaRefusal(b *testing.B) {
	ctx := context.Background()
	e := vault.NewShortLivedLimit(vaulttest.OpenBolt(b), vault.MaxShortLived)
	full := vault.WithPool(ctx, vault.Pool{Name: "juspay/a", Max: 10_000})
	for i := 0; i < 50_000; i++ {
		p := ctx
		if i < 10_000 {
			p = full
		}
		if err := e.PutShortLived(p, vaulttest.Sample("acme", fmt.Sprintf("t%d", i), "fp"), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.PutShortLived(full, vaulttest.Sample("acme", "x", "fp"), time.Hour); !errors.Is(err, vault.ErrShortLivedQuota) {
			b.Fatal(err)
		}
	}
}

// Concurrent puts never hold more than a pool's quota: the check and the
// count are one step.
func TestShortLivedPoolConcurrent(t *testing.T) {
	e := vault.NewShortLivedLimit(vaulttest.OpenBolt(t), 1000)
	ctx := vault.WithPool(context.Background(), vault.Pool{Name: "p", Max: 50})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if e.PutShortLived(ctx, vaulttest.Sample("acme", fmt.Sprintf("w%d-%d", w, i), "fp"), time.Minute) == nil {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 50 || e.PoolHeld("p") != 50 {
		t.Fatalf("%d puts succeeded, %d held; want 50", ok.Load(), e.PoolHeld("p"))
	}
}
