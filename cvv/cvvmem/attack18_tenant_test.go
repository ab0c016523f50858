package cvvmem

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tokengate/tokengate/cvv"
)

// TestAttackOneTenantFillsTheStore: max_held was one bound for every
// tenant. Whoever can post checkouts to one merchant's tokenize route
// (the browser side is unauthenticated; 50 cards a request by default)
// filled it with new Luhn-valid numbers, and every other merchant's
// checkouts were then answered 503 cvv_store_full for the CVV TTL (15
// minutes by default) after the flood stopped. A rate limit
// (docs/operations.md, "Rate limits") slows it; the per-tenant share
// (max_held_per_tenant) shares the store: the flooded tenant fills its
// share and is refused past it, and another tenant's CVVs are still held.
func TestAttackOneTenantFillsTheStore(t *testing.T) {
	ctx := context.Background()
	m := NewLimit(time.Hour, 100)
	defer m.Close()
	m.SetMaxPerTenant(50)
	for i := range 100 {
		err := m.PutCVV(ctx, "flooded", fmt.Sprintf("tok_%d", i), "123", 15*time.Minute)
		switch {
		case i < 50 && err != nil:
			t.Fatalf("put %d within the share: %v", i, err)
		case i >= 50 && (!errors.Is(err, cvv.ErrFull) || !errors.Is(err, ErrShareFull)):
			t.Fatalf("put %d beyond the share: %v, want cvv.ErrFull and ErrShareFull", i, err)
		}
	}
	if m.HeldBy("flooded") != 50 || m.Len() != 50 || m.Refused() != 50 {
		t.Fatalf("held %d (flooded %d), refused %d; want 50, 50, 50", m.Len(), m.HeldBy("flooded"), m.Refused())
	}
	if err := m.PutCVV(ctx, "other_merchant", "tok_x", "123", 15*time.Minute); err != nil {
		t.Fatalf("another tenant's CVV refused after one tenant filled its share: %v", err)
	}
	if got, ok, _ := m.TakeCVV(ctx, "other_merchant", "tok_x"); !ok || got != "123" {
		t.Fatal("another tenant's CVV was not held")
	}
}

// TestTenantShareCounts: a tenant's count follows what it holds: a
// replacement for a held token is counted once and fits a full share, a
// taken CVV and an expired one (swept on a put, or by the janitor) give
// their room back, and max_held still bounds the store when the shares add
// up to more than it.
func TestTenantShareCounts(t *testing.T) {
	ctx := context.Background()
	m := NewLimit(time.Hour, 5)
	defer m.Close()
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	m.SetMaxPerTenant(3)
	if m.MaxPerTenant() != 3 {
		t.Fatalf("MaxPerTenant %d, want 3", m.MaxPerTenant())
	}
	for i := range 3 {
		if err := m.PutCVV(ctx, "a", fmt.Sprint("tok_", i), "123", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.PutCVV(ctx, "a", "tok_0", "999", time.Minute); err != nil || m.HeldBy("a") != 3 {
		t.Fatalf("replacing a held CVV at the share: %v, held %d; want nil, 3", err, m.HeldBy("a"))
	}
	if err := m.PutCVV(ctx, "a", "tok_3", "123", time.Minute); !errors.Is(err, ErrShareFull) {
		t.Fatalf("a 4th new CVV of a: %v, want ErrShareFull", err)
	}

	// Taken: room again.
	if got, ok, _ := m.TakeCVV(ctx, "a", "tok_0"); !ok || got != "999" {
		t.Fatal("the replaced CVV was not held")
	}
	if m.HeldBy("a") != 2 {
		t.Fatalf("after a take a holds %d, want 2", m.HeldBy("a"))
	}
	if err := m.PutCVV(ctx, "a", "tok_3", "123", time.Minute); err != nil {
		t.Fatalf("a new CVV after a take: %v", err)
	}

	// max_held bounds the sum: b gets 2, then the store is full for both.
	for i := range 2 {
		if err := m.PutCVV(ctx, "b", fmt.Sprint("tok_", i), "456", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	err := m.PutCVV(ctx, "b", "tok_2", "456", time.Minute)
	if !errors.Is(err, cvv.ErrFull) || errors.Is(err, ErrShareFull) {
		t.Fatalf("b's 3rd CVV with the store full: %v, want cvv.ErrFull naming max_held", err)
	}

	// Expired: a put sweeps them (at most once a second) and the counts drop.
	now = now.Add(2 * time.Minute)
	if err := m.PutCVV(ctx, "a", "tok_new", "777", time.Minute); err != nil {
		t.Fatalf("a put after every CVV expired: %v", err)
	}
	if m.HeldBy("a") != 1 || m.HeldBy("b") != 0 || m.Len() != 1 {
		t.Fatalf("after the sweep a %d b %d total %d, want 1 0 1", m.HeldBy("a"), m.HeldBy("b"), m.Len())
	}
	if _, ok := m.tenants["b"]; ok {
		t.Fatal("an emptied tenant's map stays after the sweep")
	}
	now = now.Add(2 * time.Minute)
	m.Sweep()
	if m.HeldBy("a") != 0 || m.Len() != 0 {
		t.Fatalf("after the janitor's sweep a %d total %d, want 0 0", m.HeldBy("a"), m.Len())
	}

	// No share (0) and a share above max are max.
	m.SetLimits(4, 0)
	if m.MaxPerTenant() != 4 || m.Cap() != 4 {
		t.Fatalf("no share: %d of %d, want 4 of 4", m.MaxPerTenant(), m.Cap())
	}
	m.SetLimits(4, 9)
	if m.MaxPerTenant() != 4 {
		t.Fatalf("a share above max: %d, want 4", m.MaxPerTenant())
	}
}
