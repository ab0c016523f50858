package cvvmem

import (
	"context"
	"testing"
	"time"

	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/cvv/cvvtest"
)

func TestMemoryCVVsTakeOnceAndExpire(t *testing.T) {
	ctx := context.Background()
	m := New(time.Hour)
	defer m.Close()
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }

	if err := m.PutCVV(ctx, "t1", "tok_a", "123", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.TakeCVV(ctx, "t2", "tok_a"); ok {
		t.Fatal("a CVV of another tenant was returned")
	}
	cvv, ok, err := m.TakeCVV(ctx, "t1", "tok_a")
	if err != nil || !ok || cvv != "123" {
		t.Fatalf("TakeCVV = %q %v %v, want 123 true nil", cvv, ok, err)
	}
	if _, ok, _ := m.TakeCVV(ctx, "t1", "tok_a"); ok {
		t.Fatal("a CVV was returned twice")
	}

	_ = m.PutCVV(ctx, "t1", "tok_b", "4567", time.Minute)
	now = now.Add(time.Minute)
	if _, ok, _ := m.TakeCVV(ctx, "t1", "tok_b"); ok {
		t.Fatal("an expired CVV was returned")
	}

	_ = m.PutCVV(ctx, "t1", "tok_c", "999", time.Second)
	now = now.Add(2 * time.Second)
	m.Sweep()
	if m.Len() != 0 {
		t.Fatalf("Sweep left %d expired CVVs", m.Len())
	}
}

func TestMemoryCVVsReplaceAndClose(t *testing.T) {
	ctx := context.Background()
	m := New(time.Hour)
	_ = m.PutCVV(ctx, "t", "tok", "111", time.Minute)
	_ = m.PutCVV(ctx, "t", "tok", "222", time.Minute)
	if cvv, _, _ := m.TakeCVV(ctx, "t", "tok"); cvv != "222" {
		t.Fatalf("got %q, want the newer CVV", cvv)
	}
	_ = m.PutCVV(ctx, "t", "tok", "333", time.Minute)
	m.Close()
	if m.Len() != 0 {
		t.Fatal("Close left CVVs in memory")
	}
}

func TestMemoryConformance(t *testing.T) {
	cvvtest.Run(t, func(t *testing.T) cvv.Store {
		m := New(time.Hour)
		t.Cleanup(func() { m.Close() })
		return m
	})
}
