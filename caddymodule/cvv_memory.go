package caddymodule

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/cvv/cvvmem"
)

func init() {
	caddy.RegisterModule(MemoryCVVStore{})
}

// defaultCVVSweep is how often expired CVVs are wiped from memory.
const defaultCVVSweep = 10 * time.Second

// MemoryCVVStore holds CVVs in this process's memory only, for the TTL the
// inbound rule set gives them, and wipes them when they expire or are used.
// It is the default CVV store; CVVs survive a config reload but not a
// restart, and are not shared between gateways.
type MemoryCVVStore struct {
	// SweepInterval is how often expired CVVs are wiped even if nobody asks
	// for them. The default is 10s; it must be between 1s and 1m, so a CVV
	// never lingers long past its TTL.
	SweepInterval caddy.Duration `json:"sweep_interval,omitempty"`
	// MaxHeld is how many CVVs are held at once, at most (default 100,000,
	// about 5 MB of heap when full). Past it a card that comes with a CVV
	// is answered as the inbound rule set's cvv_store_down says: 503 naming
	// the store and nothing forwarded (reject, the default), or the CVV
	// dropped and the request forwarded without it (drop). A held CVV is
	// never dropped to make room. The store is one per process: the last
	// config loaded sets the bound.
	MaxHeld int `json:"max_held,omitempty"`
	// MaxHeldPerTenant is how many of max_held one tenant's CVVs may take
	// (between 1 and max_held). 0 or absent is max_held: no share, as a
	// single-tenant gateway wants (a share there would only leave room
	// unused). A gateway serving several merchants sets it lower, so that
	// one merchant's checkouts, or a flood against its unauthenticated
	// tokenize route, are refused past its share while the others' CVVs
	// are still held (README, "Memory bounds"). A reload's share applies to
	// the store it keeps.
	MaxHeldPerTenant int `json:"max_held_per_tenant,omitempty"`

	poolKey string
}

// CaddyModule returns the Caddy module information.
func (MemoryCVVStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.cvv_stores.memory", New: func() caddy.Module { return new(MemoryCVVStore) }}
}

// Provision fills the default sweep interval.
func (m *MemoryCVVStore) Provision(caddy.Context) error {
	if m.SweepInterval == 0 {
		m.SweepInterval = caddy.Duration(defaultCVVSweep)
	}
	if m.MaxHeld == 0 {
		m.MaxHeld = cvvmem.DefaultMaxHeld
	}
	if m.MaxHeldPerTenant == 0 {
		m.MaxHeldPerTenant = m.MaxHeld
	}
	return nil
}

// maxMaxHeld bounds max_held: 100 million CVVs is some 5 GB of heap, more
// than any gateway should hold; a larger number is a typo.
const maxMaxHeld = 100_000_000

// Validate checks the sweep interval's and the bounds' ranges.
func (m *MemoryCVVStore) Validate() error {
	if d := time.Duration(m.SweepInterval); d < time.Second || d > time.Minute {
		return fmt.Errorf("cvv_store memory: sweep_interval %s: want between 1s and 1m", d)
	}
	if m.MaxHeld < 1 || m.MaxHeld > maxMaxHeld {
		return fmt.Errorf("cvv_store memory: max_held %d: want between 1 and %d", m.MaxHeld, maxMaxHeld)
	}
	if m.MaxHeldPerTenant < 1 || m.MaxHeldPerTenant > m.MaxHeld {
		return fmt.Errorf("cvv_store memory: max_held_per_tenant %d: want between 1 and max_held (%d)", m.MaxHeldPerTenant, m.MaxHeld)
	}
	return nil
}

// OpenCVVStore returns the process's store, shared across config reloads so
// that a reload does not forget the CVVs it holds; a reload's max_held and
// max_held_per_tenant apply to it.
func (m *MemoryCVVStore) OpenCVVStore(context.Context, Env) (cvv.Store, error) {
	const key = "cvv:memory"
	v, loaded, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		s := cvvmem.NewLimit(time.Duration(m.SweepInterval), m.MaxHeld)
		s.SetMaxPerTenant(m.MaxHeldPerTenant)
		return pooledCVVs{s}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("cvv store: %w", err)
	}
	m.poolKey = key
	s := v.(pooledCVVs).Store
	if loaded {
		s.SetLimits(m.MaxHeld, m.MaxHeldPerTenant)
	}
	return s, nil
}

// Cleanup releases this config's hold on the store.
func (m *MemoryCVVStore) Cleanup() error {
	if m.poolKey == "" {
		return nil
	}
	_, err := stores.Delete(m.poolKey)
	return err
}

// UnmarshalCaddyfile sets up the store from the Caddyfile:
//
//	cvv_store memory {
//		sweep_interval <duration>
//		max_held            <n>
//		max_held_per_tenant <n>
//	}
func (m *MemoryCVVStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "sweep_interval":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("sweep_interval %q: %v", v, err)
			}
			m.SweepInterval = caddy.Duration(dur)
		case "max_held":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return d.Errf("max_held %q: want a number of CVVs", v)
			}
			m.MaxHeld = n
		case "max_held_per_tenant":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return d.Errf("max_held_per_tenant %q: want a number of CVVs", v)
			}
			m.MaxHeldPerTenant = n
		default:
			return d.Errf("unrecognized memory cvv_store option %q", d.Val())
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*MemoryCVVStore)(nil)
	_ caddy.Validator       = (*MemoryCVVStore)(nil)
	_ caddy.CleanerUpper    = (*MemoryCVVStore)(nil)
	_ caddyfile.Unmarshaler = (*MemoryCVVStore)(nil)
	_ CVVBackend            = (*MemoryCVVStore)(nil)
)
