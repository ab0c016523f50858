package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/vault/boltvault"
)

// stores shares the stores that must outlive a config: a reload provisions
// the new config before the old one is cleaned up, and a bbolt file cannot be
// opened twice in one process, nor may held CVVs vanish on a reload.
var stores = caddy.NewUsagePool()

type pooledBolt struct{ *boltvault.Bolt }

func (p pooledBolt) Destruct() error { return p.Close() }

type pooledCVVs struct{ *cvvmem.Store }

func (p pooledCVVs) Destruct() error { return p.Close() }

// cvvSweep is how often expired CVVs are wiped from memory.
const cvvSweep = 10 * time.Second

func (a *App) openBolt() (*boltvault.Bolt, error) {
	key := "bolt:" + a.vaultPath
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		b, err := boltvault.Open(a.vaultPath)
		if err != nil {
			return nil, err
		}
		return pooledBolt{b}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("tokengate: opening vault %s: %w", a.vaultPath, err)
	}
	a.poolKeys = append(a.poolKeys, key)
	return v.(pooledBolt).Bolt, nil
}

func (a *App) openCVVs() (*cvvmem.Store, error) {
	const key = "cvv:memory"
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		return pooledCVVs{cvvmem.New(cvvSweep)}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("tokengate: cvv store: %w", err)
	}
	a.poolKeys = append(a.poolKeys, key)
	return v.(pooledCVVs).Store, nil
}
