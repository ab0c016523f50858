package caddymodule

import (
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/tokengate/tokengate/network"
)

func init() {
	caddy.RegisterModule(BuiltinNetwork{})
}

// BuiltinNetwork is the embedded network token service, an emulator of Visa
// VTS and Mastercard MDES behind a token service provider: it issues
// Luhn-valid network tokens from network-token BINs, stable PARs and fresh
// cryptograms, and refuses the Basis Theory test cards with their documented
// outcomes. Its state lives in the vault (which must be able to keep it, as
// the bolt vault does); its keys derive from the keyset. It is the default
// network token service.
type BuiltinNetwork struct {
	// TokenBINs lists, per brand ("visa", "mastercard", ...), the BIN ranges
	// network tokens are issued from. Brands left out use built-in defaults;
	// a brand given an empty list gets no network tokens.
	TokenBINs map[string][]string `json:"token_bins,omitempty"`
	// TokenExpiryMonths sets, per brand, how many months after provisioning
	// a network token expires; 0 means it expires with the card.
	TokenExpiryMonths map[string]int `json:"token_expiry_months,omitempty"`
	// ECI sets, per brand, the ECI returned with cryptograms. The default is
	// "07" for every brand, as in the token service samples.
	ECI map[string]string `json:"eci,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (BuiltinNetwork) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.networks.builtin", New: func() caddy.Module { return new(BuiltinNetwork) }}
}

func (n *BuiltinNetwork) config() network.BuiltinConfig {
	return network.BuiltinConfig{TokenBINs: n.TokenBINs, TokenExpiryMonths: n.TokenExpiryMonths, ECI: n.ECI}
}

// Validate checks the brands, BINs, months and ECIs.
func (n *BuiltinNetwork) Validate() error {
	if err := n.config().Check(); err != nil {
		return fmt.Errorf("network builtin: %w", err)
	}
	return nil
}

// CheckVault implements VaultStateNetwork: the vault must keep state.
func (n *BuiltinNetwork) CheckVault(v VaultBackend) error {
	if _, ok := v.(StateStorer); !ok {
		return fmt.Errorf("network builtin keeps its tokens in the vault, and the %s cannot hold them", v.Describe())
	}
	return nil
}

// OpenNetwork starts the emulator over a state store of the opened vault.
func (n *BuiltinNetwork) OpenNetwork(env Env) (network.Service, error) {
	if err := n.CheckVault(env.Vault); err != nil {
		return nil, err
	}
	store, err := env.Vault.(StateStorer).StateStore("network_tokens")
	if err != nil {
		return nil, fmt.Errorf("network builtin: %w", err)
	}
	cfg := n.config()
	cfg.Key = env.Keys.DeriveKey("tokengate builtin network token service")
	svc, err := network.NewBuiltin(cfg, store)
	if err != nil {
		return nil, fmt.Errorf("network builtin: %w", err)
	}
	if w, ok := store.(StateWatcher); ok {
		w.OnChange(svc.Forget) // another gateway suspended or deleted a token
	}
	return svc, nil
}

// UnmarshalCaddyfile sets up the service from the Caddyfile:
//
//	network builtin {
//		token_bin           <brand> <bin...>
//		token_expiry_months <brand> <months>
//		eci                 <brand> <eci>
//	}
func (n *BuiltinNetwork) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		args := d.RemainingArgs()
		if len(args) < 2 {
			return d.Errf("%s wants <brand> and a value", opt)
		}
		brand := args[0]
		switch opt {
		case "token_bin":
			if n.TokenBINs == nil {
				n.TokenBINs = map[string][]string{}
			}
			n.TokenBINs[brand] = append(n.TokenBINs[brand], args[1:]...)
		case "token_expiry_months":
			months, err := strconv.Atoi(args[1])
			if err != nil || months < 0 || months > 120 || len(args) != 2 {
				return d.Errf("token_expiry_months %s: want a number of months between 0 and 120", brand)
			}
			if n.TokenExpiryMonths == nil {
				n.TokenExpiryMonths = map[string]int{}
			}
			n.TokenExpiryMonths[brand] = months
		case "eci":
			if len(args) != 2 || len(args[1]) != 2 {
				return d.Errf("eci %s: want a two-digit ECI such as 05 or 07", brand)
			}
			if n.ECI == nil {
				n.ECI = map[string]string{}
			}
			n.ECI[brand] = args[1]
		default:
			return d.Errf("unrecognized network builtin option %q", opt)
		}
	}
	if err := n.Validate(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Validator       = (*BuiltinNetwork)(nil)
	_ caddyfile.Unmarshaler = (*BuiltinNetwork)(nil)
	_ NetworkBackend        = (*BuiltinNetwork)(nil)
	_ VaultStateNetwork     = (*BuiltinNetwork)(nil)
)
