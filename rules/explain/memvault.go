package explain

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/tokengate/tokengate/vault"
)

// memVault is a throwaway in-memory vault.Vault, and the short-lived store
// under it, for one explanation: explain needs no storage, only somewhere
// for the real tokenizer and detokenizer to put and read records. It also
// remembers every token stored, in both layers, so the tokens the real
// code drew can be found and shown as placeholders.
type memVault struct {
	mu     sync.Mutex
	recs   map[string]vault.Record // tenant \x00 token
	tokens []string                // every token stored, in order
}

var (
	_ vault.Vault           = (*memVault)(nil)
	_ vault.ShortLivedStore = (*memVault)(nil)
)

func newMemVault() *memVault { return &memVault{recs: map[string]vault.Record{}} }

func memKey(tenant, token string) string { return tenant + "\x00" + token }

func (m *memVault) Put(_ context.Context, rec vault.Record) (vault.Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if r.Tenant == rec.Tenant && r.Fingerprint == rec.Fingerprint && !vault.IsShortLived(r) {
			return r, false, nil
		}
	}
	if _, ok := m.recs[memKey(rec.Tenant, rec.Token)]; ok {
		return vault.Record{}, false, vault.ErrTokenTaken
	}
	now := time.Now().UTC()
	rec.CreatedAt, rec.UpdatedAt, rec.Version = now, now, 1
	m.store(rec)
	return rec, true, nil
}

// store keeps rec under its token; the caller holds mu.
func (m *memVault) store(rec vault.Record) {
	m.recs[memKey(rec.Tenant, rec.Token)] = rec
	m.tokens = append(m.tokens, rec.Token)
}

func (m *memVault) Get(_ context.Context, tenant, token string) (vault.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[memKey(tenant, token)]
	if !ok {
		return vault.Record{}, vault.ErrNotFound
	}
	return r, nil
}

func (m *memVault) GetByFingerprint(_ context.Context, tenant, fp string) (vault.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if r.Tenant == tenant && r.Fingerprint == fp && !vault.IsShortLived(r) {
			return r, nil
		}
	}
	return vault.Record{}, vault.ErrNotFound
}

func (m *memVault) Update(_ context.Context, rec vault.Record) (vault.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey(rec.Tenant, rec.Token)
	old, ok := m.recs[k]
	switch {
	case !ok:
		return vault.Record{}, vault.ErrNotFound
	case old.Version != rec.Version:
		return vault.Record{}, vault.ErrConflict
	}
	rec.CreatedAt, rec.UpdatedAt, rec.Version = old.CreatedAt, time.Now().UTC(), old.Version+1
	m.recs[k] = rec
	return rec, nil
}

func (m *memVault) GetByNetworkToken(_ context.Context, provider, id string) (vault.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if r.Network.Provider == provider && r.Network.ID == id {
			return r, nil
		}
	}
	return vault.Record{}, vault.ErrNotFound
}

func (m *memVault) List(_ context.Context, tenant string, o vault.ListOptions) (vault.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var p vault.Page
	for _, r := range m.recs {
		if r.Tenant == tenant && r.Token > o.After {
			p.Records = append(p.Records, r)
		}
	}
	sort.Slice(p.Records, func(i, j int) bool { return p.Records[i].Token < p.Records[j].Token })
	if n := o.PageLimit(); len(p.Records) > n {
		p.Records = p.Records[:n]
		p.Next = p.Records[n-1].Token
	}
	return p, nil
}

func (m *memVault) Delete(_ context.Context, tenant, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey(tenant, token)
	if _, ok := m.recs[k]; !ok {
		return vault.ErrNotFound
	}
	delete(m.recs, k)
	return nil
}

func (m *memVault) Close() error { return nil }

// PutShortLived keeps a short-lived card (one kept without consent) with
// the others: an explanation lasts less than any TTL.
func (m *memVault) PutShortLived(_ context.Context, rec vault.Record, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[memKey(rec.Tenant, rec.Token)]; ok {
		return vault.ErrTokenTaken
	}
	m.store(rec)
	return nil
}

func (m *memVault) GetShortLived(ctx context.Context, tenant, token string) (vault.Record, error) {
	return m.Get(ctx, tenant, token)
}

func (m *memVault) DeleteShortLived(ctx context.Context, tenant, token string) error {
	return m.Delete(ctx, tenant, token)
}

// stored returns every token stored so far.
func (m *memVault) stored() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.tokens...)
}
