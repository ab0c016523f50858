package network

// MemoryHeld reports what the service holds in memory now, for metrics:
// cached token states (at most maxCacheEntries, for cacheTTL) and
// provisioning idempotency keys (at most idempotencyEntries, for
// idempotencyTTL). Both are bounded; neither ever refuses a call.
func (b *Builtin) MemoryHeld() (states, idempotencyKeys int) {
	b.cache.mu.RLock()
	states = len(b.cache.m)
	b.cache.mu.RUnlock()
	return states, b.idempotent.Len()
}

// MemoryBounds are MemoryHeld's bounds.
func (*Builtin) MemoryBounds() (states, idempotencyKeys int) {
	return maxCacheEntries, idempotencyEntries
}
