package cvvredis

import (
	"testing"
	"time"
)

// TestBatchContext: every batch gets at least the store's timeout and at
// most batchSlack more; batches within the slack share one context, and a
// context too near its end is replaced (and cancelled).
func TestBatchContext(t *testing.T) {
	var b putBatcher
	check := func(ctxDeadline time.Time, before, after time.Time) {
		t.Helper()
		if ctxDeadline.Before(before.Add(timeout)) || ctxDeadline.After(after.Add(timeout+batchSlack)) {
			t.Fatalf("deadline %v: want within [%v, %v]", ctxDeadline, before.Add(timeout), after.Add(timeout+batchSlack))
		}
	}
	before := time.Now()
	first := b.batchContext()
	d, ok := first.Deadline()
	if !ok {
		t.Fatal("no deadline")
	}
	check(d, before, time.Now())
	if b.batchContext() != first {
		t.Error("a batch within the slack got a context of its own")
	}
	time.Sleep(batchSlack + 10*time.Millisecond)
	before = time.Now()
	next := b.batchContext()
	if next == first || first.Err() == nil {
		t.Fatalf("after the slack: same context %v, old one not cancelled (%v)", next == first, first.Err())
	}
	d, _ = next.Deadline()
	check(d, before, time.Now())
}
