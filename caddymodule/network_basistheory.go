package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/network/basistheory"
)

func init() {
	caddy.RegisterModule(BasisTheoryNetwork{})
}

// BasisTheoryNetwork provisions network tokens through Basis Theory's
// network tokens API: cards go to the card networks through Basis Theory,
// and detokenize asks it for each payment's cryptogram. Calls are retried
// with backoff where safe and pass a circuit breaker.
type BasisTheoryNetwork struct {
	// BaseURL is the API's base URL, https://api.basistheory.com (or a test
	// tenant's, or a tokengate serving basistheory_api).
	BaseURL string `json:"base_url"`
	// APIKey is a private application's key with the network-token
	// permissions create, read, reveal, cryptogram, suspend, resume and
	// delete. Use a placeholder such as {env.BT_API_KEY}.
	APIKey string `json:"api_key"`
	// Timeout bounds one HTTP attempt; the default is 5s. Provisioning as a
	// whole stays within the app's provision_timeout.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (BasisTheoryNetwork) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.networks.basistheory", New: func() caddy.Module { return new(BasisTheoryNetwork) }}
}

func (n *BasisTheoryNetwork) config() basistheory.Config {
	repl := caddy.NewReplacer()
	return basistheory.Config{BaseURL: repl.ReplaceKnown(n.BaseURL, ""), APIKey: repl.ReplaceKnown(n.APIKey, ""), Timeout: time.Duration(n.Timeout)}
}

// Validate checks the URL, the key and the timeout.
func (n *BasisTheoryNetwork) Validate() error {
	if n.Timeout < 0 || time.Duration(n.Timeout) > time.Minute {
		return fmt.Errorf("network basistheory: timeout %s: want at most 1m", time.Duration(n.Timeout))
	}
	_, err := basistheory.New(n.config())
	return err
}

// OpenNetwork returns the client.
func (n *BasisTheoryNetwork) OpenNetwork(Env) (network.Service, error) {
	return basistheory.New(n.config())
}

// UnmarshalCaddyfile sets up the service from the Caddyfile:
//
//	network basistheory {
//		base_url <url>
//		api_key  <key>
//		timeout  <duration>
//	}
func (n *BasisTheoryNetwork) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		var v string
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		switch opt {
		case "base_url":
			n.BaseURL = v
		case "api_key":
			n.APIKey = v
		case "timeout":
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("timeout %q: %v", v, err)
			}
			n.Timeout = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized network basistheory option %q", opt)
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Validator       = (*BasisTheoryNetwork)(nil)
	_ caddyfile.Unmarshaler = (*BasisTheoryNetwork)(nil)
	_ NetworkBackend        = (*BasisTheoryNetwork)(nil)
)
