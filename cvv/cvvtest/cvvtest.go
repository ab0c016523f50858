// Package cvvtest is the conformance suite for cvv.Store backends: the
// in-memory store runs it now, a shared store (Redis) will. It checks the
// promises the gateway relies on: a CVV is used once, never after its TTL,
// only by its own tenant, and a newer one replaces an older one.
package cvvtest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/cvv"
)

// Run runs every conformance subtest against a fresh store from open.
func Run(t *testing.T, open func(t *testing.T) cvv.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s cvv.Store)
	}{
		{"TakeOnce", testTakeOnce},
		{"TenantIsolation", testTenants},
		{"Replace", testReplace},
		{"Expiry", testExpiry},
		{"ConcurrentTakeGivesOne", testConcurrentTake},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func put(t *testing.T, s cvv.Store, tenant, token, value string, ttl time.Duration) {
	t.Helper()
	if err := s.PutCVV(context.Background(), tenant, token, value, ttl); err != nil {
		t.Fatalf("PutCVV: %v", err)
	}
}

// take returns whether a CVV was held and whether it was want; the suite
// never prints a CVV.
func take(t *testing.T, s cvv.Store, tenant, token, want string) (held, same bool) {
	t.Helper()
	got, ok, err := s.TakeCVV(context.Background(), tenant, token)
	if err != nil {
		t.Fatalf("TakeCVV: %v", err)
	}
	return ok, got == want
}

func testTakeOnce(t *testing.T, s cvv.Store) {
	put(t, s, "acme", "tok_1", "123", time.Minute)
	if held, same := take(t, s, "acme", "tok_1", "123"); !held || !same {
		t.Fatalf("first take: held %v, same value %v", held, same)
	}
	if held, _ := take(t, s, "acme", "tok_1", ""); held {
		t.Fatal("a CVV was returned twice")
	}
	if held, _ := take(t, s, "acme", "tok_never", ""); held {
		t.Fatal("a CVV was returned for a token that never had one")
	}
}

func testTenants(t *testing.T, s cvv.Store) {
	put(t, s, "acme", "tok_1", "123", time.Minute)
	if held, _ := take(t, s, "other", "tok_1", ""); held {
		t.Fatal("another tenant took the CVV")
	}
	if held, same := take(t, s, "acme", "tok_1", "123"); !held || !same {
		t.Fatal("another tenant's attempt used up the CVV")
	}
}

func testReplace(t *testing.T, s cvv.Store) {
	put(t, s, "acme", "tok_1", "111", time.Minute)
	put(t, s, "acme", "tok_1", "2222", time.Minute)
	if held, same := take(t, s, "acme", "tok_1", "2222"); !held || !same {
		t.Fatalf("after a replace: held %v, the newer value %v", held, same)
	}
}

func testExpiry(t *testing.T, s cvv.Store) {
	put(t, s, "acme", "tok_short", "123", 100*time.Millisecond)
	put(t, s, "acme", "tok_long", "456", time.Minute)
	time.Sleep(250 * time.Millisecond)
	if held, _ := take(t, s, "acme", "tok_short", ""); held {
		t.Fatal("a CVV was returned after its TTL")
	}
	if held, same := take(t, s, "acme", "tok_long", "456"); !held || !same {
		t.Fatal("a CVV within its TTL was lost")
	}
}

func testConcurrentTake(t *testing.T, s cvv.Store) {
	put(t, s, "acme", "tok_1", "123", time.Minute)
	var got atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, ok, err := s.TakeCVV(context.Background(), "acme", "tok_1"); err == nil && ok {
				got.Add(1)
			}
		})
	}
	wg.Wait()
	if n := got.Load(); n != 1 {
		t.Fatalf("%d concurrent takes got the CVV, want exactly 1", n)
	}
}
