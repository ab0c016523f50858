package caddymodule

import (
	"crypto/rsa"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/tokengate/tokengate/jwe"
)

func init() {
	caddy.RegisterModule(Webhooks{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_webhooks", parseWebhooks)
	httpcaddyfile.RegisterDirectiveOrder("tokengate_webhooks", httpcaddyfile.Before, "respond")
}

// Webhooks receives a network token provider's lifecycle events and updates
// the vault, so the next detokenize follows what the network decided. It
// answers every request itself.
type Webhooks struct {
	// Provider is juspay or basistheory.
	Provider string `json:"provider"`
	// Secret is the Authorization value Juspay sends (juspay); use a
	// placeholder such as {env.JUSPAY_WEBHOOK_SECRET}.
	Secret string `json:"secret,omitempty"`
	// PublicKeyFile is Basis Theory's webhook signing key in PEM
	// (basistheory): BT-SIGNATURE is verified with it.
	PublicKeyFile string `json:"public_key_file,omitempty"`

	key    *rsa.PublicKey
	served *servedAPI
}

// CaddyModule returns the Caddy module information.
func (Webhooks) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_webhooks", New: func() caddy.Module { return new(Webhooks) }}
}

// Provision loads the key.
func (h *Webhooks) Provision(ctx caddy.Context) error {
	h.served = newServedAPI(ctx, "webhooks_"+h.Provider)
	if h.PublicKeyFile != "" {
		key, err := jwe.LoadPublicKey(h.PublicKeyFile)
		if err != nil {
			return fmt.Errorf("tokengate_webhooks: public_key: %w", err)
		}
		h.key = key
	}
	return nil
}

// Validate checks the provider has what verifies its events.
func (h *Webhooks) Validate() error {
	switch {
	case h.Provider == "juspay" && h.Secret == "":
		return fmt.Errorf("tokengate_webhooks juspay: a secret is required")
	case h.Provider == "basistheory" && h.key == nil:
		return fmt.Errorf("tokengate_webhooks basistheory: public_key is required")
	case h.Provider != "juspay" && h.Provider != "basistheory":
		return fmt.Errorf("tokengate_webhooks: unknown provider %q (want juspay or basistheory)", h.Provider)
	}
	return nil
}

// ServeHTTP receives one event; it never calls next.
func (h *Webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	return h.served.serve(w, r, func(a *App) http.Handler {
		rcv := a.stack.Load().Webhooks()
		rcv.JuspaySecret = caddy.NewReplacer().ReplaceKnown(h.Secret, "")
		rcv.BasisTheoryKey = h.key
		rcv.Observe = func(provider, outcome string) { webhookEvents.WithLabelValues(provider, outcome).Inc() }
		rcv.Failed = h.served.failed
		if h.Provider == "juspay" {
			return http.HandlerFunc(rcv.Juspay)
		}
		return http.HandlerFunc(rcv.BasisTheory)
	})
}

// UnmarshalCaddyfile sets up the handler from the Caddyfile:
//
//	tokengate_webhooks juspay {
//		secret <value>
//	}
//	tokengate_webhooks basistheory {
//		public_key <pem>
//	}
func (h *Webhooks) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive
	if !d.Args(&h.Provider) || d.NextArg() {
		return d.Errf("tokengate_webhooks wants juspay or basistheory")
	}
	for d.NextBlock(0) {
		var v string
		opt := d.Val()
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		switch opt {
		case "secret":
			h.Secret = v
		case "public_key":
			h.PublicKeyFile = v
		default:
			return d.Errf("unrecognized tokengate_webhooks option %q", opt)
		}
	}
	return nil
}

func parseWebhooks(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	wh := new(Webhooks)
	if err := wh.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return wh, needApp(h, "tokengate_webhooks")
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Webhooks)(nil)
	_ caddy.Validator             = (*Webhooks)(nil)
	_ caddyhttp.MiddlewareHandler = (*Webhooks)(nil)
	_ caddyfile.Unmarshaler       = (*Webhooks)(nil)
)
