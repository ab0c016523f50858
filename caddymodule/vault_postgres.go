package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/pgvault"
)

func init() {
	caddy.RegisterModule(PostgresVault{})
}

// PostgresVault keeps the vault in PostgreSQL, for several gateways sharing
// it: only sealed card data and keyed fingerprints reach the database. The
// schema is created and migrated by the gateway at start. The builtin
// network token service keeps its state in the same database.
type PostgresVault struct {
	// DSN is the pgx connection string (pool settings in it), e.g.
	// {env.TOKENGATE_PG_DSN}.
	DSN string `json:"dsn"`

	dsn     string
	poolKey string
	pg      *pgvault.Vault
	logger  *zap.Logger
	feed    *pgvault.Fanout // this config's: the pool may be shared
	// listening is whether the change feed hears the database now (a
	// pointer: Caddy copies the module's value to read its info).
	listening *atomic.Bool
}

// CaddyModule returns the Caddy module information.
func (PostgresVault) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.vaults.postgres", New: func() caddy.Module { return new(PostgresVault) }}
}

// Provision resolves the DSN's placeholders.
func (p *PostgresVault) Provision(caddy.Context) error {
	p.dsn = caddy.NewReplacer().ReplaceKnown(p.DSN, "")
	p.listening = new(atomic.Bool)
	return nil
}

// Validate requires a DSN that parses (without connecting: `caddy
// validate` must not reach the database).
func (p *PostgresVault) Validate() error {
	if p.dsn == "" {
		return fmt.Errorf("vault postgres: dsn is required (an {env.*} placeholder may be unset)")
	}
	if _, err := pgvault.ParseDSN(p.dsn); err != nil {
		return fmt.Errorf("vault postgres: dsn: %w", err) // never the DSN itself: pgvault.DSNError
	}
	return nil
}

type pooledPG struct{ *pgvault.Vault }

func (p pooledPG) Destruct() error { return p.Close() }

// OpenVault connects (or shares the pool with the config being replaced)
// and migrates the schema (under the migrator's advisory lock, so gateways
// starting together migrate once). A database that does not answer is
// waited for; one that answers with a refusal retrying cannot fix is
// misconfigured (see pgRefused).
func (p *PostgresVault) OpenVault(ctx context.Context, env Env) (vault.Vault, error) {
	p.logger = env.Logger
	key := "postgres:" + p.dsn
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		pg, err := pgvault.Open(ctx, p.dsn)
		if err != nil {
			return nil, err
		}
		return pooledPG{pg}, nil
	})
	if err != nil {
		err = fmt.Errorf("opening the PostgreSQL vault: %w", err)
		if pgRefused(err) {
			return nil, misconfigured(err)
		}
		return nil, err
	}
	p.poolKey = key
	p.pg = v.(pooledPG).Vault
	p.feed = p.pg.NewFanout()
	return p.pg, nil
}

// pgRefused reports whether err is PostgreSQL's own answer that waiting
// does not change: a wrong password or unknown role (SQLSTATE class 28), a
// database that does not exist (3D000), missing privileges or a schema the
// migrations cannot apply (class 42); or a DSN that does not parse. A
// connection refused, a timeout, or a server starting up (57P03) is waited
// for. Codes: https://www.postgresql.org/docs/current/errcodes-appendix.html
func pgRefused(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000" || strings.HasPrefix(pgErr.Code, "42")
	}
	var parseErr *pgconn.ParseConfigError
	return errors.As(err, &parseErr)
}

// Ping implements Pinger.
func (p *PostgresVault) Ping(ctx context.Context) error { return p.pg.Ping(ctx) }

// Describe implements VaultBackend; it never shows the DSN (it may hold a
// password).
func (p *PostgresVault) Describe() string { return "PostgreSQL vault" }

// StateStore implements StateStorer with a key-value table, which hears of
// other gateways' changes (a StateWatcher).
func (p *PostgresVault) StateStore(name string) (network.StateStore, error) {
	return p.feed.KV(name), nil
}

// Cleanup releases this config's hold on the pool.
func (p *PostgresVault) Cleanup() error {
	if p.poolKey == "" {
		return nil
	}
	_, err := stores.Delete(p.poolKey)
	return err
}

// UnmarshalCaddyfile sets up the vault from the Caddyfile:
//
//	vault postgres [<dsn>] {
//		dsn <dsn>
//	}
func (p *PostgresVault) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		p.DSN = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "dsn":
			if !d.AllArgs(&p.DSN) {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized postgres vault option %q", d.Val())
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*PostgresVault)(nil)
	_ caddy.Validator       = (*PostgresVault)(nil)
	_ caddy.CleanerUpper    = (*PostgresVault)(nil)
	_ caddyfile.Unmarshaler = (*PostgresVault)(nil)
	_ VaultBackend          = (*PostgresVault)(nil)
	_ StateStorer           = (*PostgresVault)(nil)
	_ ChangeFeed            = (*PostgresVault)(nil)
	_ Pinger                = (*PostgresVault)(nil)
	_ StateWatcher          = pgvault.WatchedKV{}
)

// Listening implements ChangeFeed.
func (p *PostgresVault) Listening() bool { return p.listening.Load() }

// WatchChanges implements ChangeFeed with PostgreSQL's LISTEN/NOTIFY on a
// connection of its own. The cache is paused until the connection listens,
// and whenever it is lost, so a change no announcement reached is never
// served from memory: the bound on staleness is the announcement's delay
// (milliseconds), or, for a connection that dies silently, the time TCP
// keepalive takes to notice it (about 20 s), within the cache TTL (30 s).
func (p *PostgresVault) WatchChanges(ctx context.Context, cache *vault.Cache) {
	var lastErr atomic.Pointer[error] // why the feed was last lost
	notYet := errors.New("not connected yet")
	lastErr.Store(&notYet)
	p.feed.Watch(ctx, cache, pgvault.Watcher{
		Listening: func(up bool) {
			// Log transitions only: while the database is down the
			// listener retries every second.
			switch was := p.listening.Swap(up); {
			case up && !was:
				p.logger.Info("hearing other gateways' vault changes; record cache on")
			case !up && was:
				p.logger.Warn("not hearing other gateways' vault changes; record cache off until the database answers again", zap.Error(*lastErr.Load()))
			}
		},
		Error: func(err error) {
			lastErr.Store(&err)
			p.logger.Debug("PostgreSQL change notifications", zap.Error(err))
		},
	})
}
