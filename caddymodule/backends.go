package caddymodule

import (
	"context"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
)

// The tokengate app loads its backends as guest modules, as reverse_proxy
// loads transports: vaults from tokengate.vaults, CVV stores from
// tokengate.cvv_stores, network token services from tokengate.networks.
// Caddy provisions a guest module (its own settings, checked by Validate);
// the app then opens it with what the app owns (Env), and Caddy cleans it
// up when its config is unloaded.
//
// Opening is the app's Start, never its Provision: `caddy validate` runs
// Provision and Validate only, and must not take a file lock, create a file
// or change a database (see start.go). An Open method is called again, by
// the app's retry loop, after it failed; ctx ends when the config is
// stopped. An error that retrying cannot fix (a wrong password, a file that
// cannot be opened) is wrapped with misconfigured.

// Env is what the app hands its backends when it opens them.
type Env struct {
	// Keys seal card data and derive the backends' own keys.
	Keys *keys.Keys
	// Vault is the opened vault backend (nil while the vault itself opens).
	Vault VaultBackend
	// Logger is the app's logger.
	Logger *zap.Logger
}

// VaultBackend is a tokengate.vaults module.
type VaultBackend interface {
	// OpenVault opens (or shares, across a config reload) the store, and
	// creates or migrates its schema.
	OpenVault(ctx context.Context, env Env) (vault.Vault, error)
	// Describe names the store in messages ("bbolt file /var/lib/...").
	Describe() string
}

// KeysDirer is implemented by a vault kept in a local file, beside which
// the development keyset is kept when no keyset is configured.
type KeysDirer interface {
	KeysDir() string
}

// Sampler is implemented by a vault that can return a few records per
// tenant, so the app can check at startup that the keyset opens them.
type Sampler interface {
	Sample(n int) ([]vault.Record, error)
}

// StateStorer is implemented by a vault that can also keep a network token
// service's state (the built-in service keeps its tokens in the vault file).
type StateStorer interface {
	StateStore(name string) (network.StateStore, error)
}

// ChangeFeed is implemented by a vault that several gateways share and that
// announces what any of them changes (PostgreSQL's notifications), so each
// gateway drops what it keeps in memory instead of serving it until a TTL.
type ChangeFeed interface {
	// WatchChanges invalidates cache's copy of every record changed
	// elsewhere, and tells the state stores it handed out of their changes
	// (see StateWatcher), until ctx ends. While the feed is down the cache
	// is paused.
	WatchChanges(ctx context.Context, cache *vault.Cache)
	// Listening reports whether the feed hears the other gateways now.
	Listening() bool
}

// StateWatcher is implemented by a state store of a ChangeFeed vault:
// forget is called with the id of each entry another gateway changed, or
// with "" when any may have changed.
type StateWatcher interface {
	OnChange(forget func(id string))
}

// ShortLivedStorer is implemented by a CVV store several gateways share: it
// also keeps the short-lived cards (ctkn_, cards kept without consent), so
// that every gateway can pay with them.
type ShortLivedStorer interface {
	ShortLivedStore(env Env) vault.ShortLivedStore
}

// CVVBackend is a tokengate.cvv_stores module.
type CVVBackend interface {
	OpenCVVStore(ctx context.Context, env Env) (cvv.Store, error)
}

// Pinger is implemented by a vault or CVV store module that reaches a
// service (PostgreSQL, Redis), once opened: Ping tells whether it answers
// now, for App.Check. A local store (bbolt, memory) has nothing to ask.
type Pinger interface {
	Ping(ctx context.Context) error
}

// NetworkBackend is a tokengate.networks module. A service that is only a
// client of a provider is opened in Provision (it touches nothing); one that
// keeps its state in the vault (a VaultStateNetwork) once the vault is open.
type NetworkBackend interface {
	OpenNetwork(env Env) (network.Service, error)
}

// VaultStateNetwork is implemented by a network token service that keeps
// its state in the vault (the builtin): it is opened at Start, after the
// vault; CheckVault tells in Provision whether the configured vault can
// keep its state.
type VaultStateNetwork interface {
	CheckVault(v VaultBackend) error
}
