package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/tokengate/tokengate/jwe"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/network/juspay"
)

func init() {
	caddy.RegisterModule(JuspayNetwork{})
}

// JuspayNetwork provisions network tokens through Juspay's tokenization
// APIs: generateToken with the card as a JWE, /v4/card/get for each
// payment's cryptogram, the status check and delete. Calls are retried
// with backoff where safe and pass a circuit breaker.
type JuspayNetwork struct {
	// BaseURL is the API's base, e.g. https://sandbox.juspay.in (or a
	// tokengate serving juspay_api).
	BaseURL string `json:"base_url"`
	// APIKey is the merchant's Juspay API key; use a placeholder such as
	// {env.JUSPAY_API_KEY}.
	APIKey string `json:"api_key"`
	// MerchantID is the merchant's Juspay id (x-merchantid).
	MerchantID string `json:"merchant_id"`
	// JWEKeyID and JWEKeyFile are Juspay's public key (PEM) the card data
	// is encrypted to, and the kid Juspay gave it.
	JWEKeyID   string `json:"jwe_key_id"`
	JWEKeyFile string `json:"jwe_key_file"`
	// PrivateKeyID and PrivateKeyFile are the merchant's key pair id
	// (keyId) and private key (PEM) that decrypts Juspay's answers.
	PrivateKeyID   string `json:"private_key_id"`
	PrivateKeyFile string `json:"private_key_file"`
	// CustomerID is the Juspay customer cards are saved for; the default is
	// the card's tenant.
	CustomerID string `json:"customer_id,omitempty"`
	// Timeout bounds one HTTP attempt; the default is 5s. Provisioning as a
	// whole stays within the app's provision_timeout.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (JuspayNetwork) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.networks.juspay", New: func() caddy.Module { return new(JuspayNetwork) }}
}

func (n *JuspayNetwork) config() (juspay.Config, error) {
	repl := caddy.NewReplacer()
	cfg := juspay.Config{BaseURL: repl.ReplaceKnown(n.BaseURL, ""), APIKey: repl.ReplaceKnown(n.APIKey, ""), MerchantID: n.MerchantID,
		JWEKeyID: n.JWEKeyID, PrivateKeyID: n.PrivateKeyID, CustomerID: n.CustomerID, Timeout: time.Duration(n.Timeout)}
	var err error
	if n.JWEKeyFile != "" {
		if cfg.JWEKey, err = jwe.LoadPublicKey(n.JWEKeyFile); err != nil {
			return cfg, fmt.Errorf("network juspay: jwe_key: %w", err)
		}
	}
	if n.PrivateKeyFile != "" {
		if cfg.PrivateKey, err = jwe.LoadPrivateKey(n.PrivateKeyFile); err != nil {
			return cfg, fmt.Errorf("network juspay: private_key: %w", err)
		}
	}
	return cfg, nil
}

// Validate loads the keys and checks the settings.
func (n *JuspayNetwork) Validate() error {
	if n.Timeout < 0 || time.Duration(n.Timeout) > time.Minute {
		return fmt.Errorf("network juspay: timeout %s: want at most 1m", time.Duration(n.Timeout))
	}
	cfg, err := n.config()
	if err != nil {
		return err
	}
	_, err = juspay.New(cfg)
	return err
}

// OpenNetwork returns the client.
func (n *JuspayNetwork) OpenNetwork(Env) (network.Service, error) {
	cfg, err := n.config()
	if err != nil {
		return nil, err
	}
	return juspay.New(cfg)
}

// UnmarshalCaddyfile sets up the service from the Caddyfile:
//
//	network juspay {
//		base_url    <url>
//		api_key     <key>
//		merchant_id <id>
//		jwe_key     <kid> <juspay_public_key.pem>
//		private_key <key_id> <merchant_private_key.pem>
//		customer_id <id>
//		timeout     <duration>
//	}
func (n *JuspayNetwork) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		args := d.RemainingArgs()
		want := 1
		if opt == "jwe_key" || opt == "private_key" {
			want = 2
		}
		if len(args) != want {
			return d.Errf("%s wants %d argument(s)", opt, want)
		}
		switch opt {
		case "base_url":
			n.BaseURL = args[0]
		case "api_key":
			n.APIKey = args[0]
		case "merchant_id":
			n.MerchantID = args[0]
		case "customer_id":
			n.CustomerID = args[0]
		case "jwe_key":
			n.JWEKeyID, n.JWEKeyFile = args[0], args[1]
		case "private_key":
			n.PrivateKeyID, n.PrivateKeyFile = args[0], args[1]
		case "timeout":
			dur, err := caddy.ParseDuration(args[0])
			if err != nil {
				return d.Errf("timeout %q: %v", args[0], err)
			}
			n.Timeout = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized network juspay option %q", opt)
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Validator       = (*JuspayNetwork)(nil)
	_ caddyfile.Unmarshaler = (*JuspayNetwork)(nil)
	_ NetworkBackend        = (*JuspayNetwork)(nil)
)
