package caddymodule

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
)

func init() {
	caddy.RegisterModule(BoltVault{})
}

// BoltVault is the embedded vault: every tenant's sealed cards in one bbolt
// file on this machine, which also keeps the built-in network token
// service's state. It is the default vault.
type BoltVault struct {
	// Path is the bbolt file. The default is tokengate/vault.db in Caddy's
	// data directory. The file is created 0600 in a 0700 directory; it
	// holds only sealed card data, but it is what a backup must keep.
	Path string `json:"path,omitempty"`

	path    string
	poolKey string
	bolt    *boltvault.Bolt
}

// CaddyModule returns the Caddy module information.
func (BoltVault) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.vaults.bolt", New: func() caddy.Module { return new(BoltVault) }}
}

// Provision resolves the file's path.
func (b *BoltVault) Provision(caddy.Context) error {
	b.path = b.Path
	if b.path == "" {
		b.path = filepath.Join(caddy.AppDataDir(), "tokengate", "vault.db")
	}
	abs, err := filepath.Abs(b.path)
	if err != nil {
		return fmt.Errorf("vault path %s: %w", b.path, err)
	}
	b.path = abs
	return nil
}

// Validate refuses a path that names a directory.
func (b *BoltVault) Validate() error {
	if fi, err := os.Stat(b.path); err == nil && fi.IsDir() {
		return fmt.Errorf("vault path %s is a directory; name the bbolt file", b.path)
	}
	return nil
}

// OpenVault opens the file (creating it and its directory), or shares it
// with the config being replaced: a bbolt file cannot be opened twice in one
// process. A failure is a local one (a lock another process holds, a
// permission, a damaged file) that waiting does not fix: misconfigured.
func (b *BoltVault) OpenVault(context.Context, Env) (vault.Vault, error) {
	key := "bolt:" + b.path
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		bv, err := boltvault.Open(b.path)
		if err != nil {
			return nil, err
		}
		return pooledBolt{bv}, nil
	})
	if err != nil {
		return nil, misconfigured(fmt.Errorf("opening vault %s: %w", b.path, err))
	}
	b.poolKey = key
	b.bolt = v.(pooledBolt).Bolt
	return b.bolt, nil
}

// Describe implements VaultBackend.
func (b *BoltVault) Describe() string { return "vault file " + b.path }

// KeysDir implements KeysDirer: the development keyset lives beside the file.
func (b *BoltVault) KeysDir() string { return filepath.Dir(b.path) }

// Sample implements Sampler.
func (b *BoltVault) Sample(n int) ([]vault.Record, error) { return b.bolt.Sample(n) }

// StateStore implements StateStorer with a key-value bucket of the file.
// DPAN reservations are kept in memory and logged in write order, not filed
// under their random keys: a new card then dirties one random page fewer.
func (b *BoltVault) StateStore(name string) (network.StateStore, error) {
	return b.bolt.KV(name).KeepInMemory(network.DPANReservationPrefix), nil
}

// Cleanup releases this config's hold on the file.
func (b *BoltVault) Cleanup() error {
	if b.poolKey == "" {
		return nil
	}
	_, err := stores.Delete(b.poolKey)
	return err
}

// UnmarshalCaddyfile sets up the vault from the Caddyfile:
//
//	vault bolt [<path>] {
//		path <path>
//	}
func (b *BoltVault) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		b.Path = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "path":
			if !d.AllArgs(&b.Path) {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized bolt vault option %q", d.Val())
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*BoltVault)(nil)
	_ caddy.Validator       = (*BoltVault)(nil)
	_ caddy.CleanerUpper    = (*BoltVault)(nil)
	_ caddyfile.Unmarshaler = (*BoltVault)(nil)
	_ VaultBackend          = (*BoltVault)(nil)
	_ KeysDirer             = (*BoltVault)(nil)
	_ Sampler               = (*BoltVault)(nil)
	_ StateStorer           = (*BoltVault)(nil)
)
