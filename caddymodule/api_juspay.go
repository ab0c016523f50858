package caddymodule

import (
	"crypto/rsa"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/tokengate/tokengate/juspayapi"
	"github.com/tokengate/tokengate/jwe"
	"github.com/tokengate/tokengate/vault"
)

func init() {
	caddy.RegisterModule(JuspayAPI{})
	httpcaddyfile.RegisterHandlerDirective("juspay_api", parseJuspayAPI)
	httpcaddyfile.RegisterDirectiveOrder("juspay_api", httpcaddyfile.Before, "respond")
}

// JuspayAPI serves Juspay's tokenization APIs (POST /generateToken with its
// JWE card data, /v4/card/get, /v4/card/delete, /v4/card/status, GET /cards,
// GET /cardbins/{bin}) from the tokengate app's vault, keys and network
// token services, so a merchant or a Hyperswitch integrated with Juspay can
// point its base URL at tokengate. It answers every request itself.
type JuspayAPI struct {
	// Merchants are the merchant accounts: id, API key (the Basic auth
	// user, with an empty password) and the tenant whose cards it uses.
	Merchants []JuspayMerchant `json:"merchants,omitempty"`
	// JWEKeys decrypt generateToken's cardData; the JWE's kid picks one, so
	// several can be configured while clients move to a new one.
	JWEKeys []JuspayJWEKey `json:"jwe_keys,omitempty"`
	// MerchantKeys are the merchants' public keys generateToken's answers
	// are encrypted to; the request's keyId picks one when a merchant has
	// several.
	MerchantKeys []JuspayMerchantKey `json:"merchant_keys,omitempty"`
	// DevKeysDir, when set, makes missing keys for development: a JWE key
	// with kid "dev" when none is configured, and a key pair for each
	// merchant without a merchant key (its private half there, to decrypt
	// answers). A loud warning is logged; never use it in production.
	DevKeysDir string `json:"dev_keys_dir,omitempty"`
	// CardTokenTTL is how long a /card/tokenize ctkn_ token lives, CVV
	// included. The default is 15m, as Juspay's; at most 1h.
	CardTokenTTL caddy.Duration `json:"ctkn_ttl,omitempty"`
	// CardTokensPerMerchant bounds the live ctkn_ tokens one merchant
	// holds (its own pool of the short-lived cards): past it that
	// merchant's /card/tokenize answers 429, and no other merchant's, nor
	// the gateway's own no-consent checkouts, are affected. Default 10000.
	// Counted per gateway process, also with the Redis CVV store.
	CardTokensPerMerchant int `json:"ctkn_max_per_merchant,omitempty"`
	// ClientRate is how many /card/tokenize calls per second one client
	// (Caddy's client IP, so set trusted_proxies behind a load balancer;
	// an IPv6 client by its /64) may make, and ClientBurst how many at
	// once; past it, 429 with Retry-After. Defaults 10 and 20.
	ClientRate  float64 `json:"client_rate,omitempty"`
	ClientBurst int     `json:"client_burst,omitempty"`
	// TokenizeTruePerMinute bounds /card/tokenize calls with
	// tokenize=true (each a permanent record and a network token
	// provisioning) per merchant per minute, as a burst of as many that
	// refills over the minute; past it, 429. Default 60.
	TokenizeTruePerMinute int `json:"tokenize_true_rate,omitempty"`

	merchants keyring[juspayapi.Merchant]
	byID      map[string]juspayapi.Merchant
	decrypt   map[string]*rsa.PrivateKey
	served    *servedAPI
}

// JuspayMerchant is one merchant account.
type JuspayMerchant struct {
	// ID is the merchant id (x-merchantid, when sent, must match it).
	ID string `json:"id"`
	// APIKey is the key the merchant sends as the Basic auth user;
	// placeholders such as {env.JUSPAY_KEY} work. Set it or APIKeySHA256.
	APIKey string `json:"api_key,omitempty"`
	// APIKeySHA256 is the hex SHA-256 of the key (`caddy tokengate hash-key`).
	APIKeySHA256 string `json:"api_key_sha256,omitempty"`
	// Tenant is the tokengate tenant whose cards the merchant works on.
	Tenant string `json:"tenant"`
}

// JuspayJWEKey is a private key that decrypts card data.
type JuspayJWEKey struct {
	// KID is the key id clients put in the JWE header.
	KID string `json:"kid"`
	// PrivateKeyFile is an RSA-2048 private key in PEM (`caddy tokengate
	// rsa-keygen`).
	PrivateKeyFile string `json:"private_key_file"`
}

// JuspayMerchantKey is a merchant's public key.
type JuspayMerchantKey struct {
	// Merchant is the merchant id the key belongs to.
	Merchant string `json:"merchant"`
	// KeyID is the id requests name in keyId.
	KeyID string `json:"key_id"`
	// PublicKeyFile is the merchant's RSA public key in PEM.
	PublicKeyFile string `json:"public_key_file"`
}

// CaddyModule returns the Caddy module information.
func (JuspayAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.juspay_api", New: func() caddy.Module { return new(JuspayAPI) }}
}

// devKID is the kid of a development JWE key.
const devKID = "dev"

// Provision loads the keys (making development ones if asked) and the
// merchants. The app is looked up on the first request.
func (h *JuspayAPI) Provision(ctx caddy.Context) error {
	h.served = newServedAPI(ctx, "juspay")
	if h.DevKeysDir != "" {
		if err := h.makeDevKeys(ctx.Logger()); err != nil {
			return fmt.Errorf("juspay_api: development keys: %w", err)
		}
	}
	h.decrypt = map[string]*rsa.PrivateKey{}
	for _, k := range h.JWEKeys {
		key, err := jwe.LoadPrivateKey(k.PrivateKeyFile)
		if err != nil {
			return fmt.Errorf("juspay_api: jwe_key %s: %w", k.KID, err)
		}
		h.decrypt[k.KID] = key
	}
	pubs := map[string]map[string]*rsa.PublicKey{}
	for _, k := range h.MerchantKeys {
		key, err := jwe.LoadPublicKey(k.PublicKeyFile)
		if err != nil {
			return fmt.Errorf("juspay_api: merchant_key %s %s: %w", k.Merchant, k.KeyID, err)
		}
		if pubs[k.Merchant] == nil {
			pubs[k.Merchant] = map[string]*rsa.PublicKey{}
		}
		pubs[k.Merchant][k.KeyID] = key
	}
	for i, m := range h.Merchants {
		hash, err := keyHash(m.APIKey, m.APIKeySHA256)
		if err != nil {
			return fmt.Errorf("juspay_api: merchant %d: %w", i+1, err)
		}
		merchant := juspayapi.Merchant{ID: m.ID, Tenant: m.Tenant, Keys: pubs[m.ID]}
		h.merchants = append(h.merchants, keyEntry[juspayapi.Merchant]{hash: hash, value: merchant})
		if h.byID == nil {
			h.byID = map[string]juspayapi.Merchant{}
		}
		h.byID[m.ID] = merchant
	}
	if h.CardTokenTTL == 0 {
		h.CardTokenTTL = caddy.Duration(juspayapi.DefaultCardTokenTTL)
	}
	return nil
}

// makeDevKeys creates, in DevKeysDir, the keys the config lacks.
func (h *JuspayAPI) makeDevKeys(logger *zap.Logger) error {
	dir, err := filepath.Abs(h.DevKeysDir)
	if err != nil {
		return err
	}
	ensure := func(name string) (priv, pub string, err error) {
		priv, pub = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".pub.pem")
		if _, err := os.Stat(priv); err == nil {
			return priv, pub, nil
		}
		return priv, pub, jwe.GenerateKeyPair(priv, pub)
	}
	if len(h.JWEKeys) == 0 {
		priv, _, err := ensure("jwe-" + devKID)
		if err != nil {
			return err
		}
		h.JWEKeys = append(h.JWEKeys, JuspayJWEKey{KID: devKID, PrivateKeyFile: priv})
	}
	for _, m := range h.Merchants {
		has := false
		for _, k := range h.MerchantKeys {
			has = has || k.Merchant == m.ID
		}
		if !has {
			_, pub, err := ensure("merchant-" + m.ID)
			if err != nil {
				return err
			}
			h.MerchantKeys = append(h.MerchantKeys, JuspayMerchantKey{Merchant: m.ID, KeyID: devKID, PublicKeyFile: pub})
		}
	}
	logger.Warn("USING DEVELOPMENT KEYS FOR THE JUSPAY API: RSA keys generated in clear on disk; for production make them with `caddy tokengate rsa-keygen` and configure jwe_key and merchant_key",
		zap.String("dir", dir))
	return nil
}

// Validate checks the merchants and keys are complete and consistent.
func (h *JuspayAPI) Validate() error {
	ids := map[string]bool{}
	for i, m := range h.Merchants {
		switch {
		case m.ID == "" || m.Tenant == "":
			return fmt.Errorf("juspay_api: merchant %d: an id and a tenant are required", i+1)
		case ids[m.ID]:
			return fmt.Errorf("juspay_api: merchant %s is configured twice", m.ID)
		}
		ids[m.ID] = true
	}
	if d := time.Duration(h.CardTokenTTL); d < time.Second || d > time.Hour {
		return fmt.Errorf("juspay_api: ctkn_ttl %s: want between 1s and 1h", d)
	}
	switch {
	case h.CardTokensPerMerchant < 0 || h.CardTokensPerMerchant > vault.MaxShortLived/2:
		return fmt.Errorf("juspay_api: ctkn_max_per_merchant %d: want between 1 and %d (the merchants' share of the short-lived pool)", h.CardTokensPerMerchant, vault.MaxShortLived/2)
	case h.ClientRate < 0 || math.IsNaN(h.ClientRate) || math.IsInf(h.ClientRate, 0):
		return fmt.Errorf("juspay_api: client_rate: want a positive number of requests per second")
	case h.ClientBurst < 0:
		return fmt.Errorf("juspay_api: client_burst %d: want a positive number", h.ClientBurst)
	case h.TokenizeTruePerMinute < 0:
		return fmt.Errorf("juspay_api: tokenize_true_rate %d: want a positive number per minute", h.TokenizeTruePerMinute)
	}
	if len(h.JWEKeys) == 0 {
		return fmt.Errorf("juspay_api: no jwe_key: generateToken could not decrypt card data (configure jwe_key, or dev_keys for development)")
	}
	for _, k := range h.MerchantKeys {
		if !ids[k.Merchant] {
			return fmt.Errorf("juspay_api: merchant_key for unknown merchant %q", k.Merchant)
		}
	}
	return nil
}

// ServeHTTP answers the API call; it never calls next.
func (h *JuspayAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	return h.served.serve(w, r, func(a *App) http.Handler {
		s := a.stack.Load().JuspayAPI()
		s.Authenticate = h.merchants.lookup
		s.MerchantByID = func(id string) (juspayapi.Merchant, bool) {
			m, ok := h.byID[id]
			return m, ok
		}
		s.CardTokenTTL = time.Duration(h.CardTokenTTL)
		s.CardTokensPerMerchant = h.CardTokensPerMerchant
		s.ClientRate = rate.Limit(h.ClientRate)
		s.ClientBurst = h.ClientBurst
		s.ClientIP = func(r *http.Request) string {
			ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
			return ip
		}
		s.TokenizeTruePerMinute = h.TokenizeTruePerMinute
		s.DecryptionKeys = h.decrypt
		s.Observe = h.served.observe
		s.Failed = h.served.failed
		s.RequestID = requestID // Caddy's {http.request.uuid}, as the gateway's own error bodies
		return s.Handler()
	})
}

// UnmarshalCaddyfile sets up the API from the Caddyfile:
//
//	juspay_api {
//		merchant      <merchant_id> <api_key> <tenant>
//		merchant_hash <merchant_id> <api_key_sha256> <tenant>
//		jwe_key       <kid> <rsa_private_key.pem>
//		merchant_key  <merchant_id> <key_id> <rsa_public_key.pem>
//		dev_keys      [<dir>]
//		ctkn_ttl      <duration>
//		ctkn_max_per_merchant <n>
//		client_rate   <per_second> [<burst>]
//		tokenize_true_rate <per_minute>
//	}
func (h *JuspayAPI) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		args := d.RemainingArgs()
		want := map[string]int{"merchant": 3, "merchant_hash": 3, "jwe_key": 2, "merchant_key": 3}[opt]
		switch {
		case opt == "ctkn_ttl":
			if len(args) != 1 {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(args[0])
			if err != nil {
				return d.Errf("ctkn_ttl %q: %v", args[0], err)
			}
			h.CardTokenTTL = caddy.Duration(dur)
			continue
		case opt == "ctkn_max_per_merchant" || opt == "tokenize_true_rate":
			if len(args) != 1 {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 {
				return d.Errf("%s %q: want a positive whole number", opt, args[0])
			}
			if opt == "ctkn_max_per_merchant" {
				h.CardTokensPerMerchant = n
			} else {
				h.TokenizeTruePerMinute = n
			}
			continue
		case opt == "client_rate":
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			r, err := strconv.ParseFloat(args[0], 64)
			if err != nil || !(r > 0) || math.IsInf(r, 0) {
				return d.Errf("client_rate %q: want a positive number of requests per second", args[0])
			}
			h.ClientRate = r
			if len(args) == 2 {
				b, err := strconv.Atoi(args[1])
				if err != nil || b < 1 {
					return d.Errf("client_rate burst %q: want a positive whole number", args[1])
				}
				h.ClientBurst = b
			}
			continue
		case opt == "dev_keys":
			if len(args) > 1 {
				return d.ArgErr()
			}
			h.DevKeysDir = filepath.Join(caddy.AppDataDir(), "tokengate", "juspay-dev-keys")
			if len(args) == 1 {
				h.DevKeysDir = args[0]
			}
			continue
		case want == 0:
			return d.Errf("unrecognized juspay_api option %q", opt)
		case len(args) != want:
			return d.Errf("%s wants %d arguments", opt, want)
		}
		switch opt {
		case "merchant":
			h.Merchants = append(h.Merchants, JuspayMerchant{ID: args[0], APIKey: args[1], Tenant: args[2]})
		case "merchant_hash":
			h.Merchants = append(h.Merchants, JuspayMerchant{ID: args[0], APIKeySHA256: args[1], Tenant: args[2]})
		case "jwe_key":
			h.JWEKeys = append(h.JWEKeys, JuspayJWEKey{KID: args[0], PrivateKeyFile: args[1]})
		case "merchant_key":
			h.MerchantKeys = append(h.MerchantKeys, JuspayMerchantKey{Merchant: args[0], KeyID: args[1], PublicKeyFile: args[2]})
		}
	}
	return nil
}

func parseJuspayAPI(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	api := new(JuspayAPI)
	if err := api.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return api, needApp(h, "juspay_api")
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*JuspayAPI)(nil)
	_ caddy.Validator             = (*JuspayAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*JuspayAPI)(nil)
	_ caddyfile.Unmarshaler       = (*JuspayAPI)(nil)
)
