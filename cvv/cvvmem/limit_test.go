package cvvmem

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/tokengate/tokengate/cvv"
)

// TestMemoryCVVsRefuseBeyondMaxHeld: a full store refuses a new CVV with
// cvv.ErrFull and counts it, keeps every CVV it holds, still takes a
// replacement for a held token, and makes room as CVVs are taken or expire.
func TestMemoryCVVsRefuseBeyondMaxHeld(t *testing.T) {
	ctx := context.Background()
	m := NewLimit(time.Hour, 5)
	defer m.Close()
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }

	for i := range 5 {
		if err := m.PutCVV(ctx, "t", fmt.Sprint("tok_", i), "123", time.Minute); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	err := m.PutCVV(ctx, "t", "tok_5", "456", time.Minute)
	if !errors.Is(err, cvv.ErrFull) {
		t.Fatalf("6th put: %v, want cvv.ErrFull", err)
	}
	if m.Refused() != 1 || m.Len() != 5 || m.Cap() != 5 {
		t.Fatalf("refused %d held %d cap %d, want 1 5 5", m.Refused(), m.Len(), m.Cap())
	}
	if err := m.PutCVV(ctx, "t", "tok_0", "999", time.Minute); err != nil {
		t.Fatalf("replacing a held CVV when full: %v", err)
	}
	for i := range 5 {
		got, ok, _ := m.TakeCVV(ctx, "t", fmt.Sprint("tok_", i))
		want := "123"
		if i == 0 {
			want = "999"
		}
		if !ok || got != want {
			t.Fatalf("tok_%d: a held CVV was lost or changed when the store was full", i)
		}
	}
	if _, ok, _ := m.TakeCVV(ctx, "t", "tok_5"); ok {
		t.Fatal("the refused CVV is held")
	}

	// Expired CVVs make room on the next put, without waiting for the janitor.
	for i := range 5 {
		_ = m.PutCVV(ctx, "t", fmt.Sprint("tok_", i), "123", time.Second)
	}
	now = now.Add(2 * time.Second)
	if err := m.PutCVV(ctx, "t", "tok_new", "4567", time.Minute); err != nil {
		t.Fatalf("put after the held CVVs expired: %v", err)
	}
	if got, ok, _ := m.TakeCVV(ctx, "t", "tok_new"); !ok || got != "4567" {
		t.Fatal("the CVV put after expiry was not held")
	}

	m.SetMax(1)
	_ = m.PutCVV(ctx, "t", "a", "111", time.Minute)
	if err := m.PutCVV(ctx, "t", "b", "222", time.Minute); !errors.Is(err, cvv.ErrFull) {
		t.Fatalf("after SetMax(1), a second CVV: %v, want cvv.ErrFull", err)
	}
	if m.Refused() != 2 {
		t.Fatalf("refused %d, want 2", m.Refused())
	}
}

// TestMemoryCVVsRefuseLongValues: a value longer than a CVV is refused,
// and the error does not hold it.
func TestMemoryCVVsRefuseLongValues(t *testing.T) {
	m := New(time.Hour)
	defer m.Close()
	err := m.PutCVV(context.Background(), "t", "tok", "98765", time.Minute)
	if err == nil || errors.Is(err, cvv.ErrFull) {
		t.Fatalf("a 5-character value: %v, want a refusal that is not ErrFull", err)
	}
	if containsDigits(err.Error(), "98765") {
		t.Fatal("the error holds the value")
	}
}

func containsDigits(s, v string) bool {
	for i := 0; i+len(v) <= len(s); i++ {
		if s[i:i+len(v)] == v {
			return true
		}
	}
	return false
}

// TestMemoryCVVsSlabWiped: a taken CVV's digits are gone from the slab,
// and growing the slab leaves no copy behind in the old one.
func TestMemoryCVVsSlabWiped(t *testing.T) {
	ctx := context.Background()
	m := New(time.Hour)
	defer m.Close()
	_ = m.PutCVV(ctx, "t", "tok_first", "7531", time.Minute)
	old := m.slab[:1]
	for i := range 100 { // past the first slab's 64 slots
		_ = m.PutCVV(ctx, "t", fmt.Sprint("tok_", i), "123", time.Minute)
	}
	if old[0] != (heldCVV{}) {
		t.Fatal("the slab grew and left a CVV in the old one")
	}
	slot := m.tenants["t"][cvvKey("t", "tok_first")]
	_, _, _ = m.TakeCVV(ctx, "t", "tok_first")
	if m.slab[slot] != (heldCVV{}) {
		t.Fatal("a taken CVV stays in its slot")
	}
}

// BenchmarkHeldBytes measures the Go heap a held CVV costs (B/held), with
// tokens shaped like tokengate's. go test -run XXX -bench HeldBytes ./cvv/cvvmem/
func BenchmarkHeldBytes(b *testing.B) {
	const n = 200_000
	ctx := context.Background()
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("tok_%022d", i)
	}
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := NewLimit(time.Hour, n)
		for _, tok := range tokens {
			_ = m.PutCVV(ctx, "default", tok, "123", 15*time.Minute)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/held")
		runtime.KeepAlive(m)
		m.Close()
	}
}
