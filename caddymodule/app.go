// Package caddymodule plugs tokengate into Caddy: the tokengate app (a global
// option block owning the rules, vault, keys and network token service) and
// the tokenize and detokenize HTTP handlers.
package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/stack"
	"github.com/tokengate/tokengate/vault"
)

func init() {
	caddy.RegisterModule(App{})
}

// Defaults for the app's settings.
const (
	defaultProvisionTimeout = 2 * time.Second
	defaultMaxBodySize      = 10 << 20
	defaultBodyReadTimeout  = 10 * time.Second
)

// App is the tokengate app. It owns everything the tokenize and detokenize
// handlers share: the rules file, the vault, the keys, the CVV store and the
// network token service. Stores that must outlive a config reload (the bbolt
// file, held CVVs) live in a caddy.UsagePool, so a reload neither reopens the
// file nor forgets CVVs.
type App struct {
	// Rules is the path of the rules file (YAML) that names the inbound and
	// outbound rule sets. It is required.
	Rules string `json:"rules,omitempty"`

	// VaultRaw is the vault, a tokengate.vaults module chosen by its
	// "backend" key. The default is the bolt vault in Caddy's data
	// directory.
	VaultRaw json.RawMessage `json:"vault,omitempty" caddy:"namespace=tokengate.vaults inline_key=backend"`

	// CVVStoreRaw holds CVVs between tokenize and detokenize, a
	// tokengate.cvv_stores module chosen by its "backend" key. The default
	// is the memory store.
	CVVStoreRaw json.RawMessage `json:"cvv_store,omitempty" caddy:"namespace=tokengate.cvv_stores inline_key=backend"`

	// NetworksRaw are the network token services, tokengate.networks
	// modules chosen by their "provider" key. The first provisions new
	// cards; every one stays available to the cards whose tokens it issued.
	// The default is the builtin service alone.
	NetworksRaw []json.RawMessage `json:"networks,omitempty" caddy:"namespace=tokengate.networks inline_key=provider"`

	// NoNetwork turns network tokens off: every card is vault-only and
	// outbound uses the rule set's fallback.
	NoNetwork bool `json:"no_network,omitempty"`

	// Keys says where the keyset that seals PANs and keys fingerprints comes
	// from. Without a file or environment variable, a development keyset is
	// generated next to the vault file, with a loud warning.
	Keys KeysConfig `json:"keys,omitempty"`

	// APIKeys authenticate callers of detokenize; each key maps to the tenant
	// whose tokens it may use. Keys may be placeholders such as {env.PSP_KEY}.
	APIKeys []APIKey `json:"api_keys,omitempty"`

	// ProvisionTimeout bounds how long tokenize waits for a network token
	// before storing the card vault-only. The default is 2s.
	ProvisionTimeout caddy.Duration `json:"provision_timeout,omitempty"`

	// MaxBodySize is the largest request body, in bytes, the handlers read;
	// a larger one gets 413. The default is 10 MiB. Handlers may lower it.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// FilesSHA256 is the SHA-256 of the rules file and the keyset file as
	// they were when the config was adapted. The Caddyfile adapter sets it so
	// that `caddy reload` sees a change in those files: Caddy skips a reload
	// whose config is unchanged, and without it edited rules or a rotated
	// keyset would not load until a restart. The files are read again on
	// every load whatever it says; with JSON configs set it (or use
	// `caddy reload --force`).
	FilesSHA256 string `json:"files_sha256,omitempty"`

	// BodyReadTimeout bounds the time the handlers spend reading a request
	// body, from its first byte to its last; a body still arriving then gets
	// 408 and the connection is closed. Card bodies are small, and a body
	// trickled a byte at a time must not hold a connection, a goroutine and
	// a buffer forever. The default is 10s.
	BodyReadTimeout caddy.Duration `json:"body_read_timeout,omitempty"`

	// AuditRaw is the audit trail's sink, a tokengate.audit_sinks module
	// chosen by its "sink" key ("file", "postgres"). Without it nothing is
	// audited. It is opened at Start (see audit_sinks.go).
	AuditRaw json.RawMessage `json:"audit,omitempty" caddy:"namespace=tokengate.audit_sinks inline_key=sink"`
	// Reseal is the background re-seal after a rotation (see
	// ResealConfig): on, at 200 records per second, unless set.
	Reseal *ResealConfig `json:"reseal,omitempty"`
	// Retention erases cards not used for a tenant's period (see
	// Retention); absent, cards are kept until deleted.
	Retention *Retention `json:"retention,omitempty"`
	retention *retentionRunner

	rules    *rules.File
	vault    VaultBackend // the module; opened at Start (see start.go)
	apiKeys  keyring[caller]
	networks network.Registry
	logger   *zap.Logger
	ctx      caddy.Context

	// keys is the loaded keyset: in Provision when it exists, at Start when
	// a development keyset must first be generated.
	keys *keys.Keys
	// kek is the kek module's source (nil: kek_env, kek_file or none), and
	// kekModule its name; a remote one defers the keyset to Start.
	kek       keys.KEKSource
	kekModule string
	// cvvBackend and lateNetworks (those that keep their state in the
	// vault) are loaded in Provision and opened at Start.
	cvvBackend   CVVBackend
	lateNetworks []lateNetwork
	provisioner  string // the network service that provisions new cards

	// opened is what Start has opened so far; only Start and the retry
	// loop it starts (one at a time) touch it.
	opened backends
	// stack is the Caddy-free parts the handlers and served APIs use. It is
	// nil until the backends are open (see start.go), and set once: a
	// handler that finds it nil answers 503 and forwards nothing. (A
	// pointer: Caddy copies an App value to read its module info.)
	stack *atomic.Pointer[stack.Stack]
	// status is what Readiness reports.
	status *readiness
	// tried is closed once Start's first attempt to open the storage has
	// ended, either way (see App.serving).
	tried chan struct{}
	// audit records accesses to card data and keys; nil records nothing
	// (see package audit).
	audit audit.Recorder
	// auditBackend is the audit sink module (nil: none), opened at Start.
	auditBackend AuditBackend
	// stopRetry and retryDone stop and await the retry loop.
	stopRetry context.CancelFunc
	retryDone chan struct{}
	// reseal is the running background re-seal (reseal_worker.go).
	reseal *resealRun
}

// lateNetwork is a network token service opened at Start, with its name.
type lateNetwork struct {
	name    string
	backend NetworkBackend
}

// KeysConfig locates the keyset. Env wins over File; KEKEnv, when set, names
// the variable holding the key-encrypting key the keyset is wrapped with.
type KeysConfig struct {
	// File is the path of a keyset file made with `caddy tokengate keygen`.
	File string `json:"file,omitempty"`
	// Env is the name of an environment variable holding the keyset JSON.
	Env string `json:"env,omitempty"`
	// KEKEnv is the name of an environment variable holding a base64 32-byte
	// key-encrypting key; the keyset must then be encrypted with it.
	KEKEnv string `json:"kek_env,omitempty"`
	// KEKFile is the path of a file holding the base64 32-byte
	// key-encrypting key, instead of KEKEnv: a systemd credential
	// ("{env.CREDENTIALS_DIRECTORY}/kek", placeholders are replaced when the
	// keys load) or a container secret ("/run/secrets/kek").
	KEKFile string `json:"kek_file,omitempty"`
	// KEKRaw is the key-encrypting key as a tokengate.keks module chosen by
	// its "source" key: env ({"source":"env","variable":...}, what kek_env
	// says), file ({"source":"file","path":...}, kek_file) or aws_kms
	// ({"source":"aws_kms","key_uri":"aws-kms://arn:...","region":...,
	// "endpoint":...}: a key in AWS KMS; the keyset is then opened at
	// Start). Set this or kek_env or kek_file.
	KEKRaw json.RawMessage `json:"kek,omitempty" caddy:"namespace=tokengate.keks inline_key=source"`
	// DevFile is where the development keyset is kept when neither File nor
	// Env is set. The default is dev-keyset.json beside the vault file.
	DevFile string `json:"dev_file,omitempty"`
	// LegacyRecords is what happens to records sealed before the token was
	// bound (their sealed data opens under any token of their tenant and
	// fingerprint): "accept" (the default) opens them and re-seals each on
	// its next write; "refuse", once `caddy tokengate reseal` has re-sealed
	// the vault, refuses them, so no older ciphertext (from a backup, say)
	// can be put back into a row and open.
	LegacyRecords string `json:"legacy_records,omitempty"`
}

// APIKey is one detokenize credential.
type APIKey struct {
	// Key is the secret the caller sends in the API key header (or as
	// Proxy-Authorization: Bearer). Set either Key or KeySHA256.
	Key string `json:"key,omitempty"`
	// KeySHA256 is the hex SHA-256 of the key (`caddy tokengate hash-key`),
	// so the key itself need not sit in the admin API's config or in
	// autosave.json. SHA-256 fits API keys, which are long random strings;
	// a password hash such as bcrypt would cost tens of milliseconds per
	// request.
	KeySHA256 string `json:"key_sha256,omitempty"`
	// Tenant is the tenant whose tokens the key may detokenize.
	Tenant string `json:"tenant"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate", New: func() caddy.Module { return new(App) }}
}

// Provision loads and checks everything that needs no storage: the rules,
// the keyset (if it exists yet), the API keys, the guest modules' settings,
// the network token services that are only clients, and the routes. It
// opens no vault, takes no lock, and creates no file: `caddy validate` runs
// it (with Validate) and must change nothing. Start opens the storage.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	a.stack = new(atomic.Pointer[stack.Stack])
	a.tried = make(chan struct{})
	// First, before anything can fail: Caddy serves /metrics from the
	// registry of the config being loaded from before its apps provision
	// (caddy v2.11.9 caddy.go, run: replaceLocalAdminServer, then the
	// apps), and keeps serving it when the load fails and the old config
	// runs on. Registered here, tokengate's collectors (package-level, so
	// the old config's counts) stay on /metrics after a reload that
	// tokengate refuses.
	registerMetrics(ctx)
	if err := a.loadRules(); err != nil {
		return err
	}
	a.setDefaults()
	if err := a.Reseal.validate(); err != nil {
		return err
	}
	if err := a.loadBackends(ctx); err != nil {
		return err
	}
	a.status = newReadiness(a)
	return a.checkRoutes()
}

// loadRules reads the rules file.
func (a *App) loadRules() error {
	if a.Rules == "" {
		return fmt.Errorf("tokengate: no rules file configured (set `rules` in the tokengate global option)")
	}
	rf, err := rules.Load(a.Rules)
	if err != nil {
		return fmt.Errorf("tokengate: %w", err)
	}
	// Only the gateway reads signing keys: lint and explain need none.
	if err := rf.ResolveSecrets(); err != nil {
		return fmt.Errorf("tokengate: %w", err)
	}
	// What `caddy tokengate rules lint` calls an error would mishandle card
	// data, so it fails the load like a parse error; its warnings depend on
	// how the Caddyfile uses the sets, so they are only logged.
	findings := rules.Lint(rf)
	if err := rules.LintError(findings); err != nil {
		return fmt.Errorf("tokengate: %w", err)
	}
	for _, f := range findings {
		a.logger.Warn("rules lint: "+f.Message, zap.String("file", f.Path), zap.Int("line", f.Line), zap.String("set", f.Set))
	}
	a.rules = rf
	if a.FilesSHA256 != "" && a.FilesSHA256 != a.filesHash() {
		a.logger.Info("the rules or keyset file changed since this config was adapted; loading the files as they are now")
	}
	return nil
}

// setDefaults fills in what the config leaves out: the bolt vault in
// Caddy's data directory, the memory CVV store and the bounds. (The network
// default, the builtin service, is set by openNetworks, which knows
// no_network.)
func (a *App) setDefaults() {
	if a.VaultRaw == nil {
		a.VaultRaw = json.RawMessage(`{"backend":"bolt"}`)
	}
	if a.CVVStoreRaw == nil {
		a.CVVStoreRaw = json.RawMessage(`{"backend":"memory"}`)
	}
	if a.ProvisionTimeout == 0 {
		a.ProvisionTimeout = caddy.Duration(defaultProvisionTimeout)
	}
	if a.MaxBodySize == 0 {
		a.MaxBodySize = defaultMaxBodySize
	}
	if a.BodyReadTimeout == 0 {
		a.BodyReadTimeout = caddy.Duration(defaultBodyReadTimeout)
	}
}

// backends are the opened guest modules the stack is built over.
type backends struct {
	vault      vault.Vault
	cvvs       cvv.Store
	shortLived vault.ShortLivedStore // nil: short-lived cards in memory
	networks   int                   // how many of lateNetworks are open
	// keysChecked: the keyset holds the vault's keys (keycheck.go).
	keysChecked bool
}

// loadBackends loads the guest modules (Caddy provisions and validates
// them), the keyset and the API keys, and opens the network token services
// that are only clients; the vault, the CVV store and the services that
// keep state in the vault are opened at Start.
func (a *App) loadBackends(ctx caddy.Context) error {
	mod, err := ctx.LoadModule(a, "VaultRaw")
	if err != nil {
		return fmt.Errorf("tokengate: loading vault module: %w", err)
	}
	a.vault = mod.(VaultBackend)
	if err := a.loadKEK(ctx); err != nil {
		return err
	}
	if a.keys, err = a.loadKeys(ctx, false); err != nil {
		return err
	}
	if err := a.loadAPIKeys(); err != nil {
		return err
	}
	mod, err = ctx.LoadModule(a, "CVVStoreRaw")
	if err != nil {
		return fmt.Errorf("tokengate: loading cvv_store module: %w", err)
	}
	a.cvvBackend = mod.(CVVBackend)
	if err := a.loadNetworks(ctx); err != nil {
		return err
	}
	if a.AuditRaw != nil {
		mod, err := ctx.LoadModule(a, "AuditRaw")
		if err != nil {
			return fmt.Errorf("tokengate: loading audit module: %w", err)
		}
		a.auditBackend = mod.(AuditBackend)
	}
	for _, set := range a.rules.Inbound {
		if _, ok := a.networks.Lookup(set.Network); set.Network != "" && !ok && !a.isLateNetwork(set.Network) {
			return fmt.Errorf("tokengate: %s:%d: inbound rule set %q names network %q, which is not configured (configured: %v)",
				a.rules.Path, set.Line, set.Name, set.Network, a.networkNames())
		}
	}
	return nil
}

// logCVVUnavailable is the detokenizer's CVVUnavailable hook.
func (a *App) logCVVUnavailable(ctx context.Context, field string, err error) {
	a.logger.Warn("the CVV store failed; the card is paid by PAN without its CVV", zap.String("field", body.SafePath(field)), zap.Error(err),
		requestLogOf(ctx))
}

// logTampered is the detokenizer's Tampered hook.
func (a *App) logTampered(ctx context.Context, tenant, field string) {
	a.logger.Error("a record filed under this tenant does not open for it (moved from another tenant, or sealed with another keyset); answered as an unknown token",
		zap.String("tenant", tenant), zap.String("field", body.SafePath(field)), requestLogOf(ctx))
}

// loadNetworks loads the network token services, opens those that are
// only clients of a provider, and keeps for Start those that keep their
// state in the vault. The first provisions new cards.
func (a *App) loadNetworks(ctx caddy.Context) error {
	a.networks = network.Registry{}
	if a.NoNetwork {
		if len(a.NetworksRaw) > 0 {
			return fmt.Errorf("tokengate: no_network and networks are both set; choose one")
		}
		return nil
	}
	if len(a.NetworksRaw) == 0 {
		a.NetworksRaw = []json.RawMessage{json.RawMessage(`{"provider":"builtin"}`)}
	}
	mods, err := ctx.LoadModule(a, "NetworksRaw")
	if err != nil {
		return fmt.Errorf("tokengate: loading network modules: %w", err)
	}
	seen := map[string]bool{}
	for _, mod := range mods.([]any) {
		// The module's name is the service's (tokengate.networks.juspay
		// is "juspay"), known before the service is opened.
		name := caddy.GetModuleName(mod)
		if seen[name] {
			return fmt.Errorf("tokengate: network %s is configured twice", name)
		}
		seen[name] = true
		if a.provisioner == "" {
			a.provisioner = name
		}
		backend := mod.(NetworkBackend)
		if late, ok := backend.(VaultStateNetwork); ok {
			if err := late.CheckVault(a.vault); err != nil {
				return fmt.Errorf("tokengate: %w", err)
			}
			a.lateNetworks = append(a.lateNetworks, lateNetwork{name: name, backend: backend})
			continue
		}
		svc, err := backend.OpenNetwork(Env{Keys: a.keys, Logger: a.logger, Vault: a.vault})
		if err != nil {
			return fmt.Errorf("tokengate: %w", err)
		}
		a.networks[name] = observe(svc)
	}
	return nil
}

// isLateNetwork reports whether name is a service opened at Start.
func (a *App) isLateNetwork(name string) bool {
	return slices.ContainsFunc(a.lateNetworks, func(n lateNetwork) bool { return n.name == name })
}

// networkNames lists the configured network token services.
func (a *App) networkNames() []string {
	names := make([]string, 0, len(a.networks)+len(a.lateNetworks))
	for name := range a.networks {
		names = append(names, name)
	}
	for _, n := range a.lateNetworks {
		names = append(names, n.name)
	}
	slices.Sort(names)
	return names
}

// loadKeys loads the keyset. With create false (Provision) a development
// keyset that does not exist yet is not generated: it returns nil, and
// Start generates it (create true). A keyset wrapped by a KMS key is
// loaded only with create true, at Start: Provision calls no KMS.
func (a *App) loadKeys(ctx context.Context, create bool) (*keys.Keys, error) {
	if a.remoteKEK() && !create {
		return nil, a.checkWrapped() // kek_load.go
	}
	devFile := a.Keys.DevFile
	if devFile == "" {
		dir := filepath.Join(caddy.AppDataDir(), "tokengate")
		if d, ok := a.vault.(KeysDirer); ok {
			dir = d.KeysDir()
		}
		devFile = filepath.Join(dir, "dev-keyset.json")
	}
	ks, warning, err := keys.LoadContext(ctx, keys.Options{File: a.Keys.File, Env: a.Keys.Env, KEKEnv: a.Keys.KEKEnv,
		KEKFile: caddy.NewReplacer().ReplaceKnown(a.Keys.KEKFile, ""), KEK: a.kek, DevFile: devFile, NoCreate: !create})
	if errors.Is(err, keys.ErrNoDevKeyset) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokengate: keys: %w", err)
	}
	ks.RefuseLegacy(a.Keys.LegacyRecords == "refuse")
	switch {
	case warning != "" && a.Keys.File == "" && a.Keys.Env == "":
		a.logger.Warn("USING A DEVELOPMENT KEYSET: cards are sealed with keys stored in clear on disk; for production make one with `caddy tokengate keygen --keyset <file> --kek-env <VARIABLE>` and configure keyset_file (or keyset_env) and kek_env",
			zap.String("detail", warning))
	case warning != "":
		a.logger.Warn("cleartext keyset file: the keys that seal card data are stored unencrypted", zap.String("detail", warning))
	}
	return ks, nil
}

// filesHash is the SHA-256 over the contents of the files the app reads:
// the rules file and the keyset file. A file that cannot be read counts as
// empty here; loading it reports the error.
func (a *App) filesHash() string {
	h := sha256.New()
	for _, path := range []string{a.Rules, a.Keys.File} {
		if path == "" {
			continue
		}
		data, _ := os.ReadFile(path)
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkKeysOpen refuses to start with a keyset that cannot open the cards
// already in the vault (a replaced keyset, a development keyset swapped for a
// production one): every read would fail and every returning card would get
// a new token. It opens a few of the most recent records of each tenant:
// checkKeys (keycheck.go) runs it after comparing every key id the vault
// recorded with the keyset, for what ids do not show (first-format records,
// a vault that has not listed its ids yet).
func (a *App) checkKeysOpen(ks *keys.Keys) error {
	sampler, ok := a.vault.(Sampler)
	if !ok {
		return nil
	}
	recs, err := sampler.Sample(3)
	if err != nil {
		return fmt.Errorf("tokengate: reading the %s: %w", a.vault.Describe(), err)
	}
	legacy := 0
	for _, rec := range recs {
		if keys.NeedsReseal(rec.Sealed) {
			if a.Keys.LegacyRecords == "refuse" {
				return fmt.Errorf("tokengate: legacy_records refuse, and the %s holds records sealed before the token was bound (tenant %s): run `caddy tokengate reseal` first", a.vault.Describe(), rec.Tenant)
			}
			legacy++
		}
		if _, err := ks.Open(rec.Tenant, rec.Fingerprint, rec.Token, rec.Sealed); err != nil {
			return fmt.Errorf("tokengate: the configured keyset cannot open the cards in the %s (tenant %s): it is not the keyset they were sealed with. "+
				"Configure that keyset again (a development keyset is kept in dev-keyset.json beside the vault), or use a new vault for the new keyset", a.vault.Describe(), rec.Tenant)
		}
	}
	if legacy > 0 {
		a.logger.Warn("the vault holds records sealed before the token was bound: they open under another token of their tenant if rows are swapped; each is re-sealed on its next write, and `caddy tokengate reseal` re-seals them all",
			zap.Int("sampled", len(recs)), zap.Int("old_format", legacy))
	}
	return nil
}

// Validate checks the app's own bounds, so JSON configs get the checks the
// Caddyfile parser makes.
func (a *App) Validate() error {
	switch {
	case a.Keys.LegacyRecords != "" && a.Keys.LegacyRecords != "accept" && a.Keys.LegacyRecords != "refuse":
		return fmt.Errorf("tokengate: legacy_records %q: want accept or refuse", a.Keys.LegacyRecords)
	case a.MaxBodySize < 0:
		return fmt.Errorf("tokengate: max_body_size %d: want a positive size", a.MaxBodySize)
	case a.ProvisionTimeout < 0 || time.Duration(a.ProvisionTimeout) > 10*time.Minute:
		return fmt.Errorf("tokengate: provision_timeout %s: want between 1ms and 10m", time.Duration(a.ProvisionTimeout))
	case a.BodyReadTimeout < 0 || time.Duration(a.BodyReadTimeout) > 10*time.Minute:
		return fmt.Errorf("tokengate: body_read_timeout %s: want between 1ms and 10m", time.Duration(a.BodyReadTimeout))
	case a.Retention != nil && a.Retention.check() != nil:
		return a.Retention.check()
	}
	return nil
}

// Interface guards.
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
	_ caddy.Validator   = (*App)(nil)
)
