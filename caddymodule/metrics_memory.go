package caddymodule

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
)

// The bounded caches' fill, as tokengate_memory_entries{cache} and
// tokengate_memory_capacity{cache}: the vault read cache, and the builtin
// network token service's token states and idempotency keys. They drop the
// least recently used entry when full and never refuse a request, so they
// have no refusal counter; they are here so that a heap that grows can be
// told apart from caches that are merely full (docs/memory.md).
var memoryCollectors = []prometheus.Collector{
	memoryGauge("entries", "read_cache", "Entries held now", func(m *memoryState) int { return m.cache.Len() }),
	memoryGauge("capacity", "read_cache", "Entries held at most", func(m *memoryState) int { return m.cache.Cap() }),
	memoryGauge("entries", "network_states", "Entries held now", func(m *memoryState) int { s, _ := m.builtinHeld(); return s }),
	memoryGauge("capacity", "network_states", "Entries held at most", func(m *memoryState) int { s, _ := m.builtinBounds(); return s }),
	memoryGauge("entries", "network_idempotency_keys", "Entries held now", func(m *memoryState) int { _, k := m.builtinHeld(); return k }),
	memoryGauge("capacity", "network_idempotency_keys", "Entries held at most", func(m *memoryState) int { _, k := m.builtinBounds(); return k }),
}

// memoryState is the running config's caches, set when it starts.
type memoryState struct {
	cache    *vault.Cache
	networks network.Registry
}

var memoryWatched atomic.Pointer[memoryState]

// builtinMemory is the builtin network token service's view of its memory.
type builtinMemory interface {
	MemoryHeld() (states, idempotencyKeys int)
	MemoryBounds() (states, idempotencyKeys int)
}

func (m *memoryState) builtins() []builtinMemory {
	var out []builtinMemory
	for _, svc := range m.networks {
		if o, ok := svc.(observedNetwork); ok {
			svc = o.Service
		}
		if b, ok := svc.(builtinMemory); ok {
			out = append(out, b)
		}
	}
	return out
}

func (m *memoryState) builtinHeld() (states, keys int) {
	for _, b := range m.builtins() {
		s, k := b.MemoryHeld()
		states, keys = states+s, keys+k
	}
	return states, keys
}

func (m *memoryState) builtinBounds() (states, keys int) {
	for _, b := range m.builtins() {
		s, k := b.MemoryBounds()
		states, keys = states+s, keys+k
	}
	return states, keys
}

func memoryGauge(name, cache, help string, read func(*memoryState) int) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "memory_" + name, ConstLabels: prometheus.Labels{"cache": cache},
		Help: help + " by a bounded in-memory cache (read_cache, network_states, network_idempotency_keys); see docs/memory.md.",
	}, func() float64 {
		if m := memoryWatched.Load(); m != nil && m.cache != nil {
			return float64(read(m))
		}
		return 0
	})
}
