package caddymodule

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A cached handle is the vector's series for its labels, made once: counts
// through it are what WithLabelValues reads, and other labels get their own.
func TestLabelHandles(t *testing.T) {
	made := 0
	h := labelHandles[[2]string, int]{make: func([2]string) int { made++; return made }}
	if a, b := h.of([2]string{"x", "y"}), h.of([2]string{"x", "y"}); a != 1 || b != 1 || made != 1 {
		t.Fatalf("the same labels made %d handles (%d, %d)", made, a, b)
	}
	if c := h.of([2]string{"x", "z"}); c != 2 {
		t.Fatalf("other labels got handle %d", c)
	}

	series := detokenizeRequests.WithLabelValues("labelhandles-test", "detokenized")
	before := testutil.ToFloat64(series)
	detokenizeOutcomes.of([2]string{"labelhandles-test", "detokenized"}).Inc()
	other := detokenizeRequests.WithLabelValues("labelhandles-test", "unauthorized")
	if got := testutil.ToFloat64(series) - before; got != 1 || testutil.ToFloat64(other) != 0 {
		t.Fatalf("counted %v on the series, %v on another outcome", got, testutil.ToFloat64(other))
	}
	calls := networkCalls.WithLabelValues("labelhandles-test", "cryptogram", "ok")
	before = testutil.ToFloat64(calls)
	networkCallSeries.of([3]string{"labelhandles-test", "cryptogram", "ok"}).calls.Inc()
	if got := testutil.ToFloat64(calls) - before; got != 1 {
		t.Fatalf("network calls counted %v", got)
	}
}
