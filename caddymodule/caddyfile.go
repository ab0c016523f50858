package caddymodule

import (
	"encoding/json"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("tokengate", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("tokenize", parseTokenize)
	httpcaddyfile.RegisterHandlerDirective("detokenize", parseDetokenize)
	// After authentication and rewrites, but before handle, route, respond
	// and reverse_proxy: a terminal handler ordered first would forward the
	// card data untouched.
	httpcaddyfile.RegisterDirectiveOrder("tokenize", httpcaddyfile.After, "forward_auth")
	httpcaddyfile.RegisterDirectiveOrder("detokenize", httpcaddyfile.After, "forward_auth")
	// tokengate_health before both (each After inserts right after
	// forward_auth, ahead of what was put there before): a probe to a site
	// that tokenizes must not meet tokenize first, whose `unmatched reject`
	// would refuse it. Health reads no body and forwards nothing, and comes
	// after authentication like every other handler.
	httpcaddyfile.RegisterDirectiveOrder("tokengate_health", httpcaddyfile.After, "forward_auth")
}

func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	app.FilesSHA256 = app.filesHash()
	return httpcaddyfile.App{Name: "tokengate", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the tokengate global option:
//
//	tokengate {
//		rules               <path>
//		vault <backend> ...           (default: vault bolt)
//		cvv_store <backend> ...       (default: cvv_store memory)
//		network <provider> ... | off  (repeatable; default: network builtin)
//		keyset_file         <path>
//		keyset_env          <VARIABLE>
//		kek_env             <VARIABLE>
//		kek_file            <path>
//		kek env <VARIABLE> | file <path> | aws_kms { key_uri <aws-kms://arn...>; region <r>; endpoint <url>; timeout <d> }
//		dev_keyset_file     <path>
//		legacy_records      accept|refuse
//		api_key             <key> <tenant>
//		api_key_hash        <sha256-hex> <tenant>
//		provision_timeout   <duration>
//		max_body_size       <size>
//		body_read_timeout   <duration>
//		audit <sink> ...              (file or postgres; default: none)
//		reseal off | { rate <records per second> }
//		retention { default <duration>; tenant <tenant> <duration>; sweep_interval <duration>; rate <n> }
//	}
//
// Each backend is a guest module whose own Caddyfile syntax follows its
// name: `vault bolt { path <file> }`, `cvv_store memory`, `network builtin {
// token_bin <brand> <bin...> ... }`.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "rules", "keyset_file", "keyset_env", "kek_env", "kek_file", "dev_keyset_file", "legacy_records":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return d.ArgErr()
			}
			*map[string]*string{
				"rules": &a.Rules, "keyset_file": &a.Keys.File,
				"keyset_env": &a.Keys.Env, "kek_env": &a.Keys.KEKEnv, "kek_file": &a.Keys.KEKFile, "dev_keyset_file": &a.Keys.DevFile,
				"legacy_records": &a.Keys.LegacyRecords,
			}[opt] = v
		case "api_key":
			var key, tenant string
			if !d.Args(&key, &tenant) || d.NextArg() {
				return d.Errf("api_key wants <key> <tenant>")
			}
			a.APIKeys = append(a.APIKeys, APIKey{Key: key, Tenant: tenant})
		case "api_key_hash":
			var hash, tenant string
			if !d.Args(&hash, &tenant) || d.NextArg() {
				return d.Errf("api_key_hash wants <sha256-hex> <tenant>")
			}
			a.APIKeys = append(a.APIKeys, APIKey{KeySHA256: hash, Tenant: tenant})
		case "provision_timeout", "body_read_timeout":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 || dur > 10*time.Minute {
				return d.Errf("%s %q: want a duration between 1ms and 10m", opt, v)
			}
			*map[string]*caddy.Duration{"provision_timeout": &a.ProvisionTimeout, "body_read_timeout": &a.BodyReadTimeout}[opt] = caddy.Duration(dur)
		case "max_body_size":
			size, err := parseSize(d)
			if err != nil {
				return err
			}
			a.MaxBodySize = size
		case "reseal":
			if err := a.unmarshalReseal(d); err != nil {
				return err
			}
		case "vault":
			if a.VaultRaw != nil {
				return d.Errf("vault is already set")
			}
			raw, err := unmarshalBackend(d, "tokengate.vaults", "backend")
			if err != nil {
				return err
			}
			a.VaultRaw = raw
		case "kek":
			if a.Keys.KEKRaw != nil {
				return d.Errf("kek is already set")
			}
			raw, err := unmarshalBackend(d, "tokengate.keks", "source")
			if err != nil {
				return err
			}
			a.Keys.KEKRaw = raw
		case "cvv_store":
			if a.CVVStoreRaw != nil {
				return d.Errf("cvv_store is already set")
			}
			raw, err := unmarshalBackend(d, "tokengate.cvv_stores", "backend")
			if err != nil {
				return err
			}
			a.CVVStoreRaw = raw
		case "audit":
			if a.AuditRaw != nil {
				return d.Errf("audit is already set")
			}
			raw, err := unmarshalBackend(d, "tokengate.audit_sinks", "sink")
			if err != nil {
				return err
			}
			a.AuditRaw = raw
		case "retention":
			r, err := parseRetention(d)
			if err != nil {
				return err
			}
			a.Retention = r
		case "network":
			if d.NextArg() {
				if d.Val() == "off" {
					if d.NextArg() || d.NextBlock(1) {
						return d.Errf("network off takes nothing more")
					}
					a.NoNetwork = true
					continue
				}
				d.Prev()
			}
			raw, err := unmarshalBackend(d, "tokengate.networks", "provider")
			if err != nil {
				return err
			}
			a.NetworksRaw = append(a.NetworksRaw, raw)
		default:
			return d.Errf("unrecognized tokengate option %q", opt)
		}
	}
	if a.NoNetwork && len(a.NetworksRaw) > 0 {
		return d.Errf("network off and another network are both set")
	}
	return nil
}

// unmarshalBackend reads `<option> <module> [args] [{ block }]` into the JSON
// of the module <namespace>.<module>, with the module's name under key.
func unmarshalBackend(d *caddyfile.Dispenser, namespace, key string) (json.RawMessage, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	name := d.Val()
	if _, err := caddy.GetModule(namespace + "." + name); err != nil {
		return nil, d.Errf("unknown %s module %q", namespace, name)
	}
	unm, err := caddyfile.UnmarshalModule(d, namespace+"."+name)
	if err != nil {
		return nil, err
	}
	return caddyconfig.JSONModuleObject(unm, key, name, nil), nil
}

func parseSize(d *caddyfile.Dispenser) (int64, error) {
	var v string
	if !d.Args(&v) || d.NextArg() {
		return 0, d.ArgErr()
	}
	size, err := humanize.ParseBytes(v)
	if err != nil || size == 0 {
		return 0, d.Errf("max_body_size %q: want a size such as 1MB or 512KiB", v)
	}
	return int64(size), nil
}

func parseTokenize(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	t := new(Tokenize)
	if err := t.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return t, needApp(h, "tokenize")
}

func parseDetokenize(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	t := new(Detokenize)
	if err := t.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return t, needApp(h, "detokenize")
}

// needApp refuses a handler directive without the tokengate global option:
// the handler could only answer 500. (A JSON config without the app loads,
// and its handlers answer 500 and log why: see binding.)
func needApp(h httpcaddyfile.Helper, directive string) error {
	if h.Option("tokengate") == nil {
		return h.Errf("%s needs the tokengate global option (rules, keys, vault) in the Caddyfile's global options block", directive)
	}
	return nil
}

// UnmarshalCaddyfile sets up the handler:
//
//	tokenize [<rule_set>...] {
//		max_body_size <size>
//		unmatched     reject|log|pass
//	}
func (h *Tokenize) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	h.RuleSets = d.RemainingArgs()
	for d.NextBlock(0) {
		switch d.Val() {
		case "max_body_size":
			size, err := parseSize(d)
			if err != nil {
				return err
			}
			h.MaxBodySize = size
		case "unmatched":
			if !d.Args(&h.Unmatched) || d.NextArg() {
				return d.ArgErr()
			}
			switch h.Unmatched {
			case UnmatchedReject, UnmatchedLog, UnmatchedPass:
			default:
				return d.Errf("unmatched %q: want reject, log or pass", h.Unmatched)
			}
		default:
			return d.Errf("unrecognized tokenize option %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the handler:
//
//	detokenize [<rule_set>...] {
//		api_key_header <name>
//		max_body_size  <size>
//	}
func (h *Detokenize) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	h.RuleSets = d.RemainingArgs()
	for d.NextBlock(0) {
		switch d.Val() {
		case "api_key_header":
			if !d.Args(&h.APIKeyHeader) || d.NextArg() {
				return d.ArgErr()
			}
		case "max_body_size":
			size, err := parseSize(d)
			if err != nil {
				return err
			}
			h.MaxBodySize = size
		default:
			return d.Errf("unrecognized detokenize option %q", d.Val())
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Tokenize)(nil)
	_ caddyfile.Unmarshaler = (*Detokenize)(nil)
)
