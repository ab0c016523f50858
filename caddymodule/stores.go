package caddymodule

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/vault/boltvault"
)

// stores shares the stores that must outlive a config: a reload provisions
// the new config before the old one is cleaned up, and a bbolt file cannot be
// opened twice in one process, nor may held CVVs vanish on a reload. The
// guest modules that open them take a hold in OpenVault/OpenCVVStore and
// release it in Cleanup.
var stores = caddy.NewUsagePool()

type pooledBolt struct{ *boltvault.Bolt }

func (p pooledBolt) Destruct() error { return p.Close() }

type pooledCVVs struct{ *cvvmem.Store }

func (p pooledCVVs) Destruct() error { return p.Close() }
