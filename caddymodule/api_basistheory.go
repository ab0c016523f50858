package caddymodule

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/btapi"
	"github.com/tokengate/tokengate/jwe"
	"github.com/tokengate/tokengate/webhooks"
)

func init() {
	caddy.RegisterModule(BasisTheoryAPI{})
	httpcaddyfile.RegisterHandlerDirective("basistheory_api", parseBasisTheoryAPI)
	httpcaddyfile.RegisterDirectiveOrder("basistheory_api", httpcaddyfile.Before, "respond")
}

// BasisTheoryAPI serves Basis Theory's network tokens API (POST
// /network-tokens, GET, cryptogram, suspend, resume, DELETE) from the
// tokengate app's vault, keys and network token services, so a merchant
// integrated with Basis Theory can point its base URL at tokengate. It
// answers every request itself.
type BasisTheoryAPI struct {
	// APIKeys are the keys callers send in BT-API-KEY, each with its tenant
	// and its permissions (network-token:create, read, reveal, cryptogram,
	// suspend, resume, delete).
	APIKeys []BasisTheoryKey `json:"api_keys,omitempty"`
	// WebhookURL, when set, receives Basis Theory's network-token.updated
	// and network-token.deleted events on every state change, signed with
	// WebhookKeyFile (an RSA private key in PEM) in BT-SIGNATURE.
	WebhookURL     string `json:"webhook_url,omitempty"`
	WebhookKeyFile string `json:"webhook_key_file,omitempty"`

	keys   keyring[btapi.Principal]
	idem   *btapi.Idempotency
	sender *webhooks.Sender
	served *servedAPI
}

// BasisTheoryKey is one API key of the Basis Theory API.
type BasisTheoryKey struct {
	// Key is the secret callers send in BT-API-KEY; placeholders such as
	// {env.BT_KEY} work. Set either Key or KeySHA256.
	Key string `json:"key,omitempty"`
	// KeySHA256 is the hex SHA-256 of the key (`caddy tokengate hash-key`),
	// so the key itself is not in the config.
	KeySHA256 string `json:"key_sha256,omitempty"`
	// Tenant is the tokengate tenant whose cards the key works on.
	Tenant string `json:"tenant"`
	// Permissions are what the key may do, by Basis Theory's names.
	Permissions []string `json:"permissions"`
}

// CaddyModule returns the Caddy module information.
func (BasisTheoryAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.basistheory_api", New: func() caddy.Module { return new(BasisTheoryAPI) }}
}

// Provision resolves the keys. The app is looked up on the first request,
// as the other handlers are bound (see binding).
func (h *BasisTheoryAPI) Provision(ctx caddy.Context) error {
	h.served = newServedAPI(ctx, "basistheory")
	if h.WebhookURL != "" {
		key, err := jwe.LoadPrivateKey(h.WebhookKeyFile)
		if err != nil {
			return fmt.Errorf("basistheory_api: webhook_key: %w", err)
		}
		if h.sender, err = webhooks.NewSender(h.WebhookURL, key); err != nil {
			return fmt.Errorf("basistheory_api: %w", err)
		}
	}
	h.idem = btapi.NewIdempotency(100_000, 24*time.Hour)
	h.keys = make(keyring[btapi.Principal], 0, len(h.APIKeys))
	for i, k := range h.APIKeys {
		hash, err := keyHash(k.Key, k.KeySHA256)
		if err != nil {
			return fmt.Errorf("basistheory_api: api key %d: %w", i+1, err)
		}
		p := btapi.Principal{Tenant: k.Tenant, Permissions: map[btapi.Permission]bool{}, KeyID: audit.KeyIDOf(hash)}
		for _, perm := range k.Permissions {
			p.Permissions[btapi.Permission(perm)] = true
		}
		h.keys = append(h.keys, keyEntry[btapi.Principal]{hash: hash, value: p})
	}
	return nil
}

// Validate checks every key has a tenant and known permissions.
func (h *BasisTheoryAPI) Validate() error {
	for i, k := range h.APIKeys {
		if k.Tenant == "" {
			return fmt.Errorf("basistheory_api: api key %d: a tenant is required", i+1)
		}
		if len(k.Permissions) == 0 {
			return fmt.Errorf("basistheory_api: api key %d: no permissions", i+1)
		}
		for _, perm := range k.Permissions {
			if !slices.Contains(btapi.Permissions, btapi.Permission(perm)) {
				return fmt.Errorf("basistheory_api: api key %d: unknown permission %q (want %v)", i+1, perm, btapi.Permissions)
			}
		}
	}
	return nil
}

// ServeHTTP answers the API call; it never calls next.
func (h *BasisTheoryAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	return h.served.serve(w, r, func(a *App) http.Handler {
		s := a.stack.Load().BasisTheoryAPI()
		s.Authenticate = h.keys.lookup
		s.Idempotency = h.idem
		s.Observe = h.served.observe
		s.Failed = h.served.failed
		if h.sender != nil {
			s.Notify = h.sender.Send
		}
		return s.Handler()
	})
}

// UnmarshalCaddyfile sets up the API from the Caddyfile:
//
//	basistheory_api {
//		api_key      <key> <tenant> <permission...>
//		api_key_hash <sha256-hex> <tenant> <permission...>
//		webhook      <url> <rsa_private_key.pem>
//	}
func (h *BasisTheoryAPI) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		args := d.RemainingArgs()
		if opt == "webhook" {
			if len(args) != 2 {
				return d.Errf("webhook wants <url> <rsa_private_key.pem>")
			}
			h.WebhookURL, h.WebhookKeyFile = args[0], args[1]
			continue
		}
		if len(args) < 3 {
			return d.Errf("%s wants <key> <tenant> <permission...>", opt)
		}
		k := BasisTheoryKey{Tenant: args[1], Permissions: args[2:]}
		switch opt {
		case "api_key":
			k.Key = args[0]
		case "api_key_hash":
			k.KeySHA256 = args[0]
		default:
			return d.Errf("unrecognized basistheory_api option %q", opt)
		}
		h.APIKeys = append(h.APIKeys, k)
	}
	if err := h.Validate(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

func parseBasisTheoryAPI(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	api := new(BasisTheoryAPI)
	if err := api.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return api, needApp(h, "basistheory_api")
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*BasisTheoryAPI)(nil)
	_ caddy.Validator             = (*BasisTheoryAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*BasisTheoryAPI)(nil)
	_ caddyfile.Unmarshaler       = (*BasisTheoryAPI)(nil)
)
