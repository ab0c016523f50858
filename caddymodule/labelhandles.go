package caddymodule

import "sync"

// labelHandles caches the series handles of a metric vector by their label
// values: WithLabelValues hashes the labels and takes the vector's lock on
// every call, and the request paths count every request. The vectors are
// package-level and never reset, so a handle stays its vector's; the label
// values come from the configuration (rule sets, providers) and fixed sets
// (operations, outcomes), so the cache stays small. A lookup allocates
// nothing (an array key does not escape sync.Map.Load).
type labelHandles[K comparable, V any] struct {
	m    sync.Map // K -> V
	make func(K) V
}

// of returns the handles for the label values k, made once.
func (h *labelHandles[K, V]) of(k K) V {
	if v, ok := h.m.Load(k); ok {
		return v.(V)
	}
	v, _ := h.m.LoadOrStore(k, h.make(k))
	return v.(V)
}
