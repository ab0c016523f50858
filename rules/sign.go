package rules

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SignScheme names how a rule set signs the request it sends.
type SignScheme string

// SignCybersource is Cybersource's HTTP Signature with a shared secret
// (HmacSHA256 over host, date, request-target, digest and v-c-merchant-id;
// see the signing package).
const SignCybersource SignScheme = "cybersource_http_signature"

// Sign is an outbound set's signing of the request it sends. A processor
// that signs the request body (Cybersource's Digest) rejects the merchant's
// signature once tokengate has changed the body, so tokengate signs the
// request itself, after detokenization, with the merchant's key.
type Sign struct {
	Scheme SignScheme
	// Tenant is the one tenant whose requests are signed with this key:
	// the key is one merchant's, and any other tenant reaching the set
	// would send payments under that merchant's account. The gateway
	// refuses other tenants' requests through the set (403), unsigned and
	// unsent.
	Tenant     string
	MerchantID string
	KeyID      string
	// SecretEnv is the environment variable that holds the secret
	// (secret: "{env.NAME}"), SecretFile the file that does (secret_file);
	// exactly one is set.
	SecretEnv  string
	SecretFile string
	// Secret is the decoded shared secret, set by File.ResolveSecrets at
	// the gateway's load (rules lint and explain never read it).
	Secret Secret
	// Line is the sign key's line, for errors at load.
	Line int
}

// Secret is key material; it formats and marshals as [redacted] so that
// no %v or JSON of a rule set can show it.
type Secret []byte

// Format implements fmt.Formatter.
func (Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[redacted]") }

// MarshalJSON redacts it, for any JSON dump of a rule set.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// envRef is the one way to name a secret in the rules file: the whole
// value a Caddy-style {env.NAME} placeholder.
var envRef = regexp.MustCompile(`^\{env\.([A-Za-z_][A-Za-z0-9_]*)\}$`)

// sign decodes a set's sign block. The secret itself is never written in
// the rules file (which is reviewed and committed): only where it is.
func (p *parser) sign(key, n *yaml.Node, ctx string) (*Sign, error) {
	ctx += ": sign"
	es, err := p.entries(n, ctx, []string{"scheme", "tenant", "merchant_id", "key_id", "secret", "secret_file"})
	if err != nil {
		return nil, err
	}
	s := &Sign{Line: key.Line}
	for _, e := range es {
		if e.key.Value == "tenant" {
			if s.Tenant, err = p.tenant(e.val, ctx); err != nil {
				return nil, err
			}
			continue
		}
		var v string
		if v, err = p.str(e.val, ctx, e.key.Value); err != nil {
			return nil, err
		}
		if strings.TrimSpace(v) == "" {
			return nil, p.errAt(e.val, ctx, "%s is empty", e.key.Value)
		}
		switch e.key.Value {
		case "scheme":
			if SignScheme(v) != SignCybersource {
				return nil, p.errAt(e.val, ctx, "unknown scheme %q (want %s)", v, SignCybersource)
			}
			s.Scheme = SignScheme(v)
		case "merchant_id":
			s.MerchantID = v
		case "key_id":
			s.KeyID = v
		case "secret":
			m := envRef.FindStringSubmatch(v)
			if m == nil {
				return nil, p.errAt(e.val, ctx, "secret: write \"{env.NAME}\" (or use secret_file): the key does not belong in the rules file")
			}
			s.SecretEnv = m[1]
		case "secret_file":
			s.SecretFile = v
		}
	}
	for _, k := range []struct{ name, v string }{{"scheme", string(s.Scheme)}, {"tenant", s.Tenant}, {"merchant_id", s.MerchantID}, {"key_id", s.KeyID}} {
		if k.v == "" {
			return nil, p.errAt(key, ctx, "needs %s", k.name)
		}
	}
	for _, v := range []string{s.MerchantID, s.KeyID} {
		// Both go into headers; the key id into a quoted parameter.
		if strings.ContainsAny(v, "\"\\\r\n") || strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
			return nil, p.errAt(key, ctx, "merchant_id and key_id must be printable ASCII without quotes or backslashes")
		}
	}
	if (s.SecretEnv == "") == (s.SecretFile == "") {
		return nil, p.errAt(key, ctx, "needs one of secret (\"{env.NAME}\") and secret_file")
	}
	return s, nil
}

// ResolveSecrets reads every set's signing secret, from the environment or
// its file (relative to the rules file), and refuses, with the sign key's
// line, one that is missing, empty or not base64: a gateway that could not
// sign would send requests the processor rejects. Errors never hold the
// secret.
func (f *File) ResolveSecrets() error {
	for _, s := range f.Outbound {
		if s.Sign == nil {
			continue
		}
		sg := s.Sign
		ctx := fmt.Sprintf("outbound %q: sign", s.Name)
		var raw, from string
		if sg.SecretEnv != "" {
			from = "environment variable " + sg.SecretEnv
			raw = os.Getenv(sg.SecretEnv)
		} else {
			path := sg.SecretFile
			if !filepath.IsAbs(path) {
				path = filepath.Join(filepath.Dir(f.Path), path)
			}
			from = "secret_file " + path
			b, err := os.ReadFile(path)
			if err != nil {
				return &Error{File: f.Path, Line: sg.Line, Msg: fmt.Sprintf("%s: cannot read %s: %v", ctx, from, errorsKind(err))}
			}
			raw = string(b)
		}
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return &Error{File: f.Path, Line: sg.Line, Msg: fmt.Sprintf("%s: %s is missing or empty", ctx, from)}
		}
		key, err := base64.StdEncoding.DecodeString(raw)
		if err != nil || len(key) == 0 {
			return &Error{File: f.Path, Line: sg.Line, Msg: fmt.Sprintf("%s: %s is not base64 (the shared secret key as the processor's portal shows it)", ctx, from)}
		}
		sg.Secret = key
	}
	return nil
}

// errorsKind keeps an os error's kind without the path twice.
func errorsKind(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
