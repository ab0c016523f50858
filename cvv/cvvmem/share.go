package cvvmem

import (
	"errors"
	"fmt"

	"github.com/tokengate/tokengate/cvv"
)

// ErrShareFull is wrapped, with cvv.ErrFull, in the refusal of a CVV whose
// tenant holds its share (max_held_per_tenant) while the store has room:
// the gateway answers it as any full store (503 cvv_store_full, or the
// rule set's cvv_store_down: drop) and can say which bound it met.
var ErrShareFull = errors.New("tenant's share of the cvv store full")

// A per-tenant share exists because max_held alone is one bound for every
// tenant: whoever can post checkouts to one merchant's tokenize route (the
// browser side is unauthenticated) could fill the store with new cards, and
// every other merchant's checkouts would then be refused for the CVV TTL
// (attack18_tenant_test.go). With a share, one tenant's flood takes at most
// its share and leaves max_held minus that share to the others.

// SetMaxPerTenant changes how many CVVs one tenant may hold at most (its
// share); 0 or less means no share, a tenant may hold up to max. A share
// above max is max. A tenant's CVVs held beyond a lowered share stay until
// taken or expired; its new ones wait for room.
func (m *Store) SetMaxPerTenant(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.perTenant = max(n, 0)
}

// SetLimits sets max and the per-tenant share at once (SetMax and
// SetMaxPerTenant), so that a reload never has puts see one new and one
// old.
func (m *Store) SetLimits(maxHeld, perTenant int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.max = max(maxHeld, 1)
	m.perTenant = max(perTenant, 0)
}

// MaxPerTenant is how many CVVs one tenant may hold at most: its share, or
// max when there is none or it is larger.
func (m *Store) MaxPerTenant() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.shareLocked()
}

// HeldBy reports how many CVVs tenant has held, expired or not; for tests.
func (m *Store) HeldBy(tenant string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tenants[tenant])
}

func (m *Store) shareLocked() int {
	if m.perTenant <= 0 || m.perTenant > m.max {
		return m.max
	}
	return m.perTenant
}

// fullFor tells whether a new CVV of tenant would be refused; the caller
// holds mu.
func (m *Store) fullFor(tenant string) bool {
	return m.n >= m.max || len(m.tenants[tenant]) >= m.shareLocked()
}

// refuseLocked counts and returns the refusal of a new CVV of tenant, or
// nil if it fits; the caller holds mu. The error names the bound met and
// the tenant, never the token or the CVV.
func (m *Store) refuseLocked(tenant string) error {
	switch {
	case m.n >= m.max:
		m.refused.Add(1)
		return fmt.Errorf("%w: the memory CVV store holds its max_held %d CVVs", cvv.ErrFull, m.max)
	case len(m.tenants[tenant]) >= m.shareLocked():
		m.refused.Add(1)
		return fmt.Errorf("%w: %w: the memory CVV store holds tenant %q's max_held_per_tenant %d CVVs", cvv.ErrFull, ErrShareFull, tenant, m.shareLocked())
	}
	return nil
}
