package vault

import (
	"context"
	"sync"
	"time"
)

// CVVStore holds card verification values for a short while, linked to a
// token. PCI DSS forbids storing a CVV after authorization, even encrypted, so
// implementations keep it in memory only (or in a memory-only shared store)
// and never on disk.
type CVVStore interface {
	// PutCVV holds cvv for the token until ttl passes, replacing any earlier one.
	PutCVV(ctx context.Context, tenant, token, cvv string, ttl time.Duration) error
	// TakeCVV returns the held CVV and forgets it: a CVV serves one
	// authorization. ok is false when none is held (never sent, or expired).
	TakeCVV(ctx context.Context, tenant, token string) (cvv string, ok bool, err error)
}

// MemoryCVVs is the embedded CVVStore: a map in process memory with a janitor
// that wipes expired entries, so a CVV does not outlive its TTL even if nobody
// asks for it again.
type MemoryCVVs struct {
	mu      sync.Mutex
	entries map[string]heldCVV
	now     func() time.Time
	stop    chan struct{}
	once    sync.Once
}

type heldCVV struct {
	value   []byte
	expires time.Time
}

// NewMemoryCVVs starts a MemoryCVVs whose janitor runs every sweep interval;
// call Close to stop it.
func NewMemoryCVVs(sweep time.Duration) *MemoryCVVs {
	m := &MemoryCVVs{entries: make(map[string]heldCVV), now: time.Now, stop: make(chan struct{})}
	go m.janitor(sweep)
	return m
}

func cvvKey(tenant, token string) string { return tenant + "\x00" + token }

// PutCVV implements CVVStore.
func (m *MemoryCVVs) PutCVV(_ context.Context, tenant, token, cvv string, ttl time.Duration) error {
	key := cvvKey(tenant, token)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.entries[key]; ok {
		wipe(old.value)
	}
	m.entries[key] = heldCVV{value: []byte(cvv), expires: m.now().Add(ttl)}
	return nil
}

// TakeCVV implements CVVStore.
func (m *MemoryCVVs) TakeCVV(_ context.Context, tenant, token string) (string, bool, error) {
	key := cvvKey(tenant, token)
	m.mu.Lock()
	defer m.mu.Unlock()
	held, ok := m.entries[key]
	if !ok {
		return "", false, nil
	}
	delete(m.entries, key)
	defer wipe(held.value)
	if !m.now().Before(held.expires) {
		return "", false, nil
	}
	return string(held.value), true, nil
}

// Len reports how many CVVs are held, expired or not; for tests and metrics.
func (m *MemoryCVVs) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Sweep wipes every expired CVV now.
func (m *MemoryCVVs) Sweep() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, held := range m.entries {
		if !now.Before(held.expires) {
			wipe(held.value)
			delete(m.entries, key)
		}
	}
}

func (m *MemoryCVVs) janitor(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.Sweep()
		case <-m.stop:
			return
		}
	}
}

// Close stops the janitor and wipes every held CVV.
func (m *MemoryCVVs) Close() error {
	m.once.Do(func() { close(m.stop) })
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, held := range m.entries {
		wipe(held.value)
		delete(m.entries, key)
	}
	return nil
}

// wipe overwrites a CVV's bytes so the value does not linger in freed memory
// longer than necessary (strings handed out are copies the caller drops).
func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

var _ CVVStore = (*MemoryCVVs)(nil)
