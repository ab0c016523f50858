package panguard

import (
	"net/http"
	"slices"
	"testing"
)

// A trace context header whose random id holds a card-like run is dropped,
// not refused; one without is kept; every other header is still read.
func TestDropTraceHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Traceparent", "00-4111111111111111a0b1c2d3e4f5a6b7-00f067aa0ba902b7-01")
	h.Set("Tracestate", "vendor=abc")
	h.Set("X-Other", "4111111111111111")
	if got := DropTraceHeaders(h); !slices.Equal(got, []string{"Traceparent"}) {
		t.Fatalf("dropped %v, want [Traceparent]", got)
	}
	if h.Get("Traceparent") != "" || h.Get("Tracestate") != "vendor=abc" {
		t.Fatalf("headers after: %v", h)
	}
	if place, found := Headers(h, "header:", nil); !found || place != "header:X-Other" {
		t.Fatalf("the other header: %q %v, want it found", place, found)
	}
	clean := http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
	if got := DropTraceHeaders(clean); got != nil || clean.Get("Traceparent") == "" {
		t.Fatalf("a trace id without a card number: dropped %v", got)
	}
}
