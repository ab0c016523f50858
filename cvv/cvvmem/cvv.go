// Package cvvmem is the embedded CVV store: CVVs held in process memory only.
package cvvmem

import (
	"context"
	"sync"
	"time"

	"github.com/tokengate/tokengate/cvv"
)

// Store is the embedded cvv.Store: a map in process memory with a janitor
// that wipes expired entries, so a CVV does not outlive its TTL even if nobody
// asks for it again.
type Store struct {
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

// New starts a Store whose janitor runs every sweep interval;
// call Close to stop it.
func New(sweep time.Duration) *Store {
	m := &Store{entries: make(map[string]heldCVV), now: time.Now, stop: make(chan struct{})}
	go m.janitor(sweep)
	return m
}

func cvvKey(tenant, token string) string { return tenant + "\x00" + token }

// PutCVV implements cvv.Store.
func (m *Store) PutCVV(_ context.Context, tenant, token, cvv string, ttl time.Duration) error {
	key := cvvKey(tenant, token)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.entries[key]; ok {
		wipe(old.value)
	}
	m.entries[key] = heldCVV{value: []byte(cvv), expires: m.now().Add(ttl)}
	return nil
}

// TakeCVV implements cvv.Store.
func (m *Store) TakeCVV(_ context.Context, tenant, token string) (string, bool, error) {
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
func (m *Store) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Sweep wipes every expired CVV now.
func (m *Store) Sweep() {
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

func (m *Store) janitor(every time.Duration) {
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
func (m *Store) Close() error {
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

// Interface guard.
var _ cvv.Store = (*Store)(nil)
