// Package stack assembles tokengate's Caddy-free parts into one stack:
// the vault under its read cache and its short-lived layer, the lifecycle
// manager, the tokenizer, the detokenizer, and the pieces the served token
// APIs and webhooks take. The tokengate Caddy app, the tests and the
// benchmarks all build the stack here, so what they exercise is what runs
// (as Caddy's tracing module builds its wrapper in one function), and the
// rule that every part shares one vault object holds by construction.
package stack

import (
	"context"
	"crypto/rand"
	"github.com/tokengate/tokengate/audit"
	"io"
	"time"

	"github.com/tokengate/tokengate/btapi"
	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/juspayapi"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/webhooks"
)

// Defaults of the read cache: sealed records (never a PAN) of returning
// cards stay in memory this long, so repeat customers and outbound requests
// skip the disk.
const (
	DefaultCacheTTL  = 30 * time.Second
	DefaultCacheSize = 100_000
)

// Config is what the stack is built from: the opened backends and the
// hooks the caller observes it with. Vault, Keys and CVVs are required.
type Config struct {
	// Vault is the opened storage backend (bbolt, PostgreSQL, ...).
	Vault vault.Vault
	// Keys seal and open card data and key fingerprints.
	Keys *keys.Keys
	// CVVs holds CVVs between tokenize and detokenize.
	CVVs cvv.Store
	// ShortLived, when set, keeps the short-lived cards (Juspay's ctkn_,
	// cards kept without consent) where every gateway sees them (the Redis
	// CVV store's); nil keeps them in this process's memory.
	ShortLived vault.ShortLivedStore
	// Networks are the configured network token services by name, and
	// Provisioner the one that provisions new cards ("" for none).
	Networks    network.Registry
	Provisioner string
	// ProvisionTimeout bounds a provisioning call; zero means no bound
	// beyond the request's.
	ProvisionTimeout time.Duration
	// CacheTTL and CacheSize bound the read cache; zero means the defaults.
	CacheTTL  time.Duration
	CacheSize int
	// Random is the source of token strings; nil means crypto/rand.
	Random io.Reader
	// ObserveStatus, CVVUnavailable and Tampered are the lifecycle's and
	// the detokenizer's hooks (see lifecycle.Manager.Observe,
	// detokenize.Detokenizer); nil ones are not called.
	ObserveStatus  func(provider, status string)
	CVVUnavailable func(ctx context.Context, field string, err error)
	Tampered       func(ctx context.Context, tenant, field string)
	// Audit records accesses to card data and keys (see package audit);
	// nil records nothing. AuditFailed is told of an entry it could not
	// write for an event that stands (a token state change the network
	// made); nil ignores those.
	Audit       audit.Recorder
	AuditFailed func(ctx context.Context, action string, err error)
	// ObservePurge, when set, is told of each card erased or kept (see
	// purge.Eraser.Observe).
	ObservePurge func(reason string, ok bool)
}

// Stack is the assembled gateway.
type Stack struct {
	// Records is the one vault every part reads and writes: the backend
	// under the read cache, under the short-lived layer. One object, so a
	// status change one direction writes is what the other reads next.
	Records *vault.ShortLived
	// Cache is the read cache, for a change feed to invalidate.
	Cache       *vault.Cache
	Keys        *keys.Keys
	CVVs        cvv.Store
	Lifecycle   *lifecycle.Manager
	Tokenizer   *tokenize.Tokenizer
	Detokenizer *detokenize.Detokenizer
	// Audit is cfg.Audit, or audit.Discard.
	Audit audit.Recorder
	// Eraser erases cards (retention, purge, the served APIs' deletes):
	// network token, record, cached and short-lived copies, held CVV.
	Eraser *purge.Eraser
}

// New builds the stack over cfg's backends.
func New(cfg Config) *Stack {
	ttl, size := cfg.CacheTTL, cfg.CacheSize
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	random := cfg.Random
	if random == nil {
		random = rand.Reader
	}
	cache := vault.NewCache(cfg.Vault, ttl, size)
	cache.Reseal = cfg.Keys.Reseal // records sealed before the token was bound move on their next write
	// Reads by token record the day a card was last used, for retention.
	records := vault.NewShortLived(&vault.Touching{Vault: cache})
	records.Shared = cfg.ShortLived
	lc := &lifecycle.Manager{Vault: records, Keys: cfg.Keys, Networks: cfg.Networks, Provisioner: cfg.Provisioner,
		ProvisionTimeout: cfg.ProvisionTimeout, Observe: cfg.ObserveStatus}
	rec := cfg.Audit
	if rec == nil {
		rec = audit.Discard
	}
	lc.Audit, lc.AuditFailed = rec, cfg.AuditFailed
	return &Stack{
		Audit: rec, Records: records,
		Eraser: &purge.Eraser{Vault: records, Lifecycle: lc, CVVs: cfg.CVVs, Audit: rec, Observe: cfg.ObservePurge}, Cache: cache, Keys: cfg.Keys, CVVs: cfg.CVVs, Lifecycle: lc,
		Tokenizer: &tokenize.Tokenizer{Vault: records, Keys: cfg.Keys, Lifecycle: lc,
			CVVs: cfg.CVVs, Random: random},
		Detokenizer: &detokenize.Detokenizer{Vault: records, Keys: cfg.Keys, Lifecycle: lc, CVVs: cfg.CVVs,
			CVVUnavailable: cfg.CVVUnavailable, Tampered: cfg.Tampered},
	}
}

// BasisTheoryAPI returns the Basis Theory token API over the stack; the
// caller sets how it authenticates, notifies and observes. Its DELETE
// erases the card through the stack's Eraser.
func (g *Stack) BasisTheoryAPI() *btapi.Server {
	return &btapi.Server{Tokenizer: g.Tokenizer, Vault: g.Records, Keys: g.Keys, Lifecycle: g.Lifecycle, Audit: g.Audit, Eraser: g.Eraser}
}

// JuspayAPI returns the Juspay token API over the stack; the caller sets
// its merchants, keys and limits. Its /v4/card/delete of a card's last
// customer erases the card through the stack's Eraser.
func (g *Stack) JuspayAPI() *juspayapi.Server {
	return &juspayapi.Server{Tokenizer: g.Tokenizer, Vault: g.Records, Keys: g.Keys, Lifecycle: g.Lifecycle, Audit: g.Audit, Eraser: g.Eraser}
}

// Webhooks returns the receiver of the network token services' lifecycle
// events over the stack; the caller sets the providers' secrets.
func (g *Stack) Webhooks() *webhooks.Receiver {
	return &webhooks.Receiver{Vault: g.Records, Lifecycle: g.Lifecycle, Audit: g.Audit}
}
