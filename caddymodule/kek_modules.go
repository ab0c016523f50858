package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/tokengate/tokengate/keys"
)

// The keyset's key-encrypting key is a guest module of namespace
// tokengate.keks, chosen by its "source" key: env (today's kek_env), file
// (kek_file) and aws_kms. Another KMS plugs in the same way: a module
// tokengate.keks.<name> whose KEKSource returns a keys.KEKSource (GCP KMS
// with tink-go-gcpkms as tokengate.keks.gcp_kms, HashiCorp Vault Transit
// with tink-go-hcvault as tokengate.keks.vault_transit).
func init() {
	caddy.RegisterModule(EnvKEK{})
	caddy.RegisterModule(FileKEK{})
	caddy.RegisterModule(AWSKMSKEK{})
}

// KEKBackend is a tokengate.keks module.
type KEKBackend interface {
	// KEKSource returns where the key-encrypting key comes from. It calls
	// nothing: a remote source (Remote true) is used at the app's Start.
	KEKSource() keys.KEKSource
}

// EnvKEK is tokengate.keks.env: a base64 32-byte key-encrypting key in an
// environment variable (what kek_env says).
type EnvKEK struct {
	// Variable is the name of the environment variable holding the base64
	// 32-byte key-encrypting key.
	Variable string `json:"variable,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (EnvKEK) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.keks.env", New: func() caddy.Module { return new(EnvKEK) }}
}

// Validate requires the variable's name.
func (e *EnvKEK) Validate() error {
	if e.Variable == "" {
		return fmt.Errorf("tokengate: kek env: variable is required")
	}
	return nil
}

// KEKSource is the variable.
func (e *EnvKEK) KEKSource() keys.KEKSource { return keys.EnvKEK(e.Variable) }

// UnmarshalCaddyfile reads `kek env <VARIABLE>`.
func (e *EnvKEK) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if !d.Args(&e.Variable) || d.NextArg() || d.NextBlock(0) {
		return d.Errf("kek env wants <VARIABLE>")
	}
	return nil
}

// FileKEK is tokengate.keks.file: a base64 32-byte key-encrypting key in a
// file (what kek_file says).
type FileKEK struct {
	// Path is the file holding the base64 32-byte key-encrypting key: a
	// systemd credential ("{env.CREDENTIALS_DIRECTORY}/kek"; placeholders
	// are replaced when the module loads) or a container secret
	// ("/run/secrets/kek").
	Path string `json:"path,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (FileKEK) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.keks.file", New: func() caddy.Module { return new(FileKEK) }}
}

// Validate requires the path.
func (f *FileKEK) Validate() error {
	if f.Path == "" {
		return fmt.Errorf("tokengate: kek file: path is required")
	}
	return nil
}

// KEKSource is the file, its placeholders replaced.
func (f *FileKEK) KEKSource() keys.KEKSource {
	return keys.FileKEK(caddy.NewReplacer().ReplaceKnown(f.Path, ""))
}

// UnmarshalCaddyfile reads `kek file <path>`.
func (f *FileKEK) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if !d.Args(&f.Path) || d.NextArg() || d.NextBlock(0) {
		return d.Errf("kek file wants <path>")
	}
	return nil
}

// AWSKMSKEK is tokengate.keks.aws_kms: the key-encrypting key is a key in
// AWS KMS (or a service speaking its API) that never leaves it; the keyset
// is wrapped by it with Tink's AWS KMS integration. The keyset is unwrapped
// once, at the app's Start (kms:Decrypt), never per request; a KMS that
// does not answer then leaves the gateway not ready (503) and retried, as a
// database that is down does; a KMS that answers and refuses (a key that
// did not wrap this keyset, access denied) fails the start. Credentials
// come from the AWS default chain (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance or task role).
type AWSKMSKEK struct {
	// KeyURI is the key: aws-kms://arn:aws:kms:<region>:<account>:key/<id>.
	// Required. Not a secret: it names the key in errors and logs.
	KeyURI string `json:"key_uri,omitempty"`
	// Region is the key's AWS region. The default is the region in the
	// key's ARN.
	Region string `json:"region,omitempty"`
	// Endpoint replaces the KMS endpoint URL: a VPC endpoint
	// (https://vpce-....kms.<region>.vpce.amazonaws.com) or local-kms in
	// tests (http://127.0.0.1:8080). The default is AWS's. Plain http is
	// refused off this machine: the KMS answers with the keyset in clear.
	Endpoint string `json:"endpoint,omitempty"`
	// Timeout bounds each call to the KMS. The default is 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (AWSKMSKEK) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.keks.aws_kms", New: func() caddy.Module { return new(AWSKMSKEK) }}
}

func (k *AWSKMSKEK) source() keys.AWSKMS {
	return keys.AWSKMS{KeyURI: k.KeyURI, Region: k.Region, Endpoint: k.Endpoint, Timeout: time.Duration(k.Timeout)}
}

// Validate checks the settings; it calls nothing.
func (k *AWSKMSKEK) Validate() error {
	if k.KeyURI == "" {
		return fmt.Errorf("tokengate: kek aws_kms: key_uri is required")
	}
	if time.Duration(k.Timeout) > 10*time.Minute {
		return fmt.Errorf("tokengate: kek aws_kms: timeout %s: want at most 10m", time.Duration(k.Timeout))
	}
	if err := k.source().Check(); err != nil {
		return fmt.Errorf("tokengate: kek aws_kms: %w", err)
	}
	return nil
}

// KEKSource is the KMS key.
func (k *AWSKMSKEK) KEKSource() keys.KEKSource { return k.source() }

// UnmarshalCaddyfile reads:
//
//	kek aws_kms {
//		key_uri  aws-kms://arn:aws:kms:<region>:<account>:key/<id>
//		region   <region>
//		endpoint <url>
//		timeout  <duration>
//	}
func (k *AWSKMSKEK) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		var v string
		if !d.Args(&v) || d.NextArg() {
			return d.Errf("%s wants one value", opt)
		}
		switch opt {
		case "key_uri":
			k.KeyURI = v
		case "region":
			k.Region = v
		case "endpoint":
			k.Endpoint = v
		case "timeout":
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 || dur > 10*time.Minute {
				return d.Errf("timeout %q: want a duration between 1ms and 10m", v)
			}
			k.Timeout = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized kek aws_kms option %q", opt)
		}
	}
	return nil
}

// Interface guards.
var (
	_ KEKBackend            = (*EnvKEK)(nil)
	_ KEKBackend            = (*FileKEK)(nil)
	_ KEKBackend            = (*AWSKMSKEK)(nil)
	_ caddy.Validator       = (*EnvKEK)(nil)
	_ caddy.Validator       = (*FileKEK)(nil)
	_ caddy.Validator       = (*AWSKMSKEK)(nil)
	_ caddyfile.Unmarshaler = (*EnvKEK)(nil)
	_ caddyfile.Unmarshaler = (*FileKEK)(nil)
	_ caddyfile.Unmarshaler = (*AWSKMSKEK)(nil)
)
