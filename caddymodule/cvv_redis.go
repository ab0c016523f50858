package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/cvv/cvvredis"
	"github.com/tokengate/tokengate/vault"
)

func init() {
	caddy.RegisterModule(RedisCVVStore{})
}

// RedisCVVStore holds CVVs in Redis, shared by several gateways: sealed
// before they leave the process (tenant and token bound in), kept with
// their TTL, taken once. When Redis cannot be reached, a card that comes
// with a CVV gets 503 and nothing is forwarded; a payment without its held
// CVV follows the rule set's fallback.
type RedisCVVStore struct {
	// Address is Redis's host:port (default 127.0.0.1:6379).
	Address string `json:"address,omitempty"`
	// Password authenticates to Redis; use a placeholder such as
	// {env.REDIS_PASSWORD}.
	Password string `json:"password,omitempty"`
	// DB is the Redis database number.
	DB int `json:"db,omitempty"`
	// Prefix starts every key tokengate writes (default "tokengate:").
	Prefix string `json:"prefix,omitempty"`

	client *redis.Client
}

// CaddyModule returns the Caddy module information.
func (RedisCVVStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.cvv_stores.redis", New: func() caddy.Module { return new(RedisCVVStore) }}
}

// Provision fills the defaults and sends go-redis's lines to Caddy's log.
func (r *RedisCVVStore) Provision(caddy.Context) error {
	useCaddyLogForRedis()
	if r.Address == "" {
		r.Address = "127.0.0.1:6379"
	}
	if r.Prefix == "" {
		r.Prefix = "tokengate:"
	}
	return nil
}

// Validate checks the database number.
func (r *RedisCVVStore) Validate() error {
	if r.DB < 0 || r.DB > 15 {
		return fmt.Errorf("cvv_store redis: db %d: want 0 to 15", r.DB)
	}
	return nil
}

// OpenCVVStore connects and checks Redis answers. Redis that does not
// answer is waited for (the app retries); Redis that answers with a refusal
// (a wrong password, a database it does not have) is misconfigured.
func (r *RedisCVVStore) OpenCVVStore(ctx context.Context, env Env) (cvv.Store, error) {
	client := redis.NewClient(cvvredis.Options(r.Address, caddy.NewReplacer().ReplaceKnown(r.Password, ""), r.DB))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		if redisRefused(err) {
			return nil, misconfigured(fmt.Errorf("cvv_store redis: %s refused the connection: %w", r.Address, err))
		}
		return nil, fmt.Errorf("cvv_store redis: %s does not answer: %w", r.Address, err)
	}
	r.client = client
	return cvvredis.New(r.client, env.Keys, r.Prefix), nil
}

// redisRefused reports whether err is Redis's own answer refusing the
// client (NOAUTH, WRONGPASS, ERR invalid DB index), as opposed to a
// connection that failed or a server still loading its data set.
func redisRefused(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	for _, transient := range []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"} {
		if strings.HasPrefix(rerr.Error(), transient) {
			return false
		}
	}
	return true
}

// Ping implements Pinger.
func (r *RedisCVVStore) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

// ShortLivedStore implements ShortLivedStorer on the same Redis.
func (r *RedisCVVStore) ShortLivedStore(env Env) vault.ShortLivedStore {
	return cvvredis.NewShortLived(r.client, env.Keys, r.Prefix)
}

// Cleanup closes the connections.
func (r *RedisCVVStore) Cleanup() error {
	if r.client != nil {
		return r.client.Close()
	}
	return nil
}

// UnmarshalCaddyfile sets up the store from the Caddyfile:
//
//	cvv_store redis {
//		address  <host:port>
//		password <password>
//		db       <n>
//		prefix   <prefix>
//	}
func (r *RedisCVVStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
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
		case "address":
			r.Address = v
		case "password":
			r.Password = v
		case "prefix":
			r.Prefix = v
		case "db":
			if _, err := fmt.Sscanf(v, "%d", &r.DB); err != nil {
				return d.Errf("db %q: want a number", v)
			}
		default:
			return d.Errf("unrecognized redis cvv_store option %q", opt)
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*RedisCVVStore)(nil)
	_ caddy.Validator       = (*RedisCVVStore)(nil)
	_ caddy.CleanerUpper    = (*RedisCVVStore)(nil)
	_ caddyfile.Unmarshaler = (*RedisCVVStore)(nil)
	_ CVVBackend            = (*RedisCVVStore)(nil)
	_ ShortLivedStorer      = (*RedisCVVStore)(nil)
	_ Pinger                = (*RedisCVVStore)(nil)
)
