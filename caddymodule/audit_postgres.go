package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/audit/pgaudit"
	"github.com/tokengate/tokengate/vault/pgvault"
)

func init() {
	caddy.RegisterModule(PostgresAuditSink{})
}

// PostgresAuditSink keeps the audit trail in PostgreSQL, for several
// gateways sharing a database: one chain per gateway (table
// tokengate_audit, keyed by gateway and seq; the head of each chain in
// tokengate_audit_head). Each entry's row is committed before the access
// it records goes on.
type PostgresAuditSink struct {
	// DSN is the pgx connection string, e.g. {env.TOKENGATE_AUDIT_DSN}
	// (required). It may be the vault's database.
	DSN string `json:"dsn,omitempty"`
	// Gateway names this gateway's chain; each gateway sharing the
	// database needs its own. The default is the host's name.
	Gateway string `json:"gateway,omitempty"`
	// CheckpointEvery and CheckpointInterval: as for the file sink
	// (defaults 100 and 1m).
	CheckpointEvery    int            `json:"checkpoint_every,omitempty"`
	CheckpointInterval caddy.Duration `json:"checkpoint_interval,omitempty"`
	// FailOpen: as for the file sink (default false: 503).
	FailOpen bool `json:"fail_open,omitempty"`

	dsn, gateway string
	poolKey      string
	chain        *audit.Chain
}

// CaddyModule returns the Caddy module information.
func (PostgresAuditSink) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.audit_sinks.postgres", New: func() caddy.Module { return new(PostgresAuditSink) }}
}

// Provision resolves placeholders and the gateway's name; it connects
// nowhere.
func (s *PostgresAuditSink) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	s.dsn = repl.ReplaceKnown(s.DSN, "")
	s.gateway = repl.ReplaceKnown(s.Gateway, "")
	if s.gateway == "" {
		s.gateway, _ = os.Hostname()
	}
	return nil
}

// Validate requires a DSN that parses (without connecting).
func (s *PostgresAuditSink) Validate() error {
	switch {
	case s.dsn == "":
		return errors.New("audit postgres: dsn is required (an {env.*} placeholder may be unset)")
	case s.gateway == "":
		return errors.New("audit postgres: gateway is required (the host has no name)")
	case s.CheckpointEvery < 0 || s.CheckpointInterval < 0:
		return errors.New("audit postgres: checkpoint_every and checkpoint_interval must not be negative")
	}
	if _, err := pgvault.ParseDSN(s.dsn); err != nil {
		return fmt.Errorf("audit postgres: dsn: %w", err) // never the DSN itself
	}
	return nil
}

// FailsOpen implements AuditBackend.
func (s *PostgresAuditSink) FailsOpen() bool { return s.FailOpen }

// Describe implements AuditBackend; never the DSN.
func (s *PostgresAuditSink) Describe() string {
	return "PostgreSQL audit chain of gateway " + s.gateway
}

type pooledAuditPG struct {
	*audit.Chain
	pool *pgxpool.Pool
}

func (p pooledAuditPG) Destruct() error {
	err := p.Close()
	p.pool.Close()
	return err
}

// OpenAudit implements AuditBackend: connects (creating the tables),
// checks the end of the chain and continues it, or shares it with the
// config being replaced. A database that does not answer is retried; a
// chain that does not verify, or a refusal retrying cannot fix, is
// misconfigured.
func (s *PostgresAuditSink) OpenAudit(ctx context.Context, env Env) (*audit.Chain, error) {
	if s.chain != nil {
		return s.chain, nil
	}
	opts := chainOptions(env, s.CheckpointEvery, s.CheckpointInterval, false, s.FailOpen, s.gateway)
	key := "audit-postgres:" + s.gateway + "\x00" + s.dsn
	v, loaded, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		pool, err := pgaudit.Connect(ctx, s.dsn)
		if err != nil {
			return nil, err
		}
		c, err := pgaudit.OpenChain(ctx, pool, s.gateway, opts)
		if err != nil {
			pool.Close()
			return nil, err
		}
		return pooledAuditPG{c, pool}, nil
	})
	var tailErr *audit.TailError
	switch {
	case errors.As(err, &tailErr) || err != nil && pgRefused(err):
		return nil, misconfigured(err)
	case err != nil:
		return nil, err
	}
	s.poolKey = key
	s.chain = v.(pooledAuditPG).Chain
	if loaded {
		if err := s.chain.SetOptions(ctx, opts); err != nil {
			return nil, err
		}
	}
	return s.chain, nil
}

// Cleanup releases this config's hold on the chain.
func (s *PostgresAuditSink) Cleanup() error {
	if s.poolKey == "" {
		return nil
	}
	_, err := stores.Delete(s.poolKey)
	return err
}

// UnmarshalCaddyfile sets up the sink from the Caddyfile:
//
//	audit postgres [<dsn>] {
//		dsn                 <dsn>
//		gateway             <name>      (default: the host's name)
//		checkpoint_every    <n>
//		checkpoint_interval <duration>
//		fail_open
//	}
func (s *PostgresAuditSink) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		s.DSN = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "fail_open":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.FailOpen = true
		case "dsn", "gateway":
			if !d.AllArgs(map[string]*string{"dsn": &s.DSN, "gateway": &s.Gateway}[opt]) {
				return d.ArgErr()
			}
		case "checkpoint_every", "checkpoint_interval":
			// The file sink's parser checks these two.
			var f FileAuditSink
			if err := f.parseCheckpoint(d, opt); err != nil {
				return err
			}
			s.CheckpointEvery = max(s.CheckpointEvery, f.CheckpointEvery)
			if f.CheckpointInterval > 0 {
				s.CheckpointInterval = f.CheckpointInterval
			}
		default:
			return d.Errf("unrecognized audit postgres option %q", opt)
		}
	}
	return nil
}

// connectAudit connects for the commands (creating the tables if absent).
func connectAudit(ctx context.Context, args auditArgs) (*pgxpool.Pool, string, error) {
	gateway := args.gateway
	if gateway == "" {
		gateway, _ = os.Hostname()
	}
	pool, err := pgaudit.Connect(ctx, args.dsn)
	if err != nil {
		return nil, "", fmt.Errorf("--dsn: %w", err)
	}
	return pool, gateway, nil
}

// verifyPostgresAudit verifies a PostgreSQL audit sink's chain.
func verifyPostgresAudit(ctx context.Context, args auditArgs, key []byte) (string, audit.Report, error) {
	pool, gateway, err := connectAudit(ctx, args)
	if err != nil {
		return "", audit.Report{}, err
	}
	defer pool.Close()
	if !args.noHead {
		h, err := pgaudit.ReadHead(ctx, pool, gateway)
		if err != nil {
			return "", audit.Report{}, err
		}
		if h == nil {
			return "", audit.Report{}, fmt.Errorf("gateway %s has no head row in tokengate_audit_head (no chain by that name? see --gateway); verify without it with --no-head", gateway)
		}
	}
	rep, err := pgaudit.Verify(ctx, pool, gateway, key)
	return "PostgreSQL audit chain of gateway " + gateway, rep, err
}

// searchPostgresAudit searches a PostgreSQL audit sink's chain.
func searchPostgresAudit(ctx context.Context, args auditArgs, out io.Writer) (int, error) {
	pool, gateway, err := connectAudit(ctx, args)
	if err != nil {
		return exitFailure, err
	}
	defer pool.Close()
	if _, err := pgaudit.Search(ctx, pool, gateway, args.filter, out); err != nil {
		return exitFailure, err
	}
	return exitSuccess, nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*PostgresAuditSink)(nil)
	_ caddy.Validator       = (*PostgresAuditSink)(nil)
	_ caddy.CleanerUpper    = (*PostgresAuditSink)(nil)
	_ caddyfile.Unmarshaler = (*PostgresAuditSink)(nil)
	_ AuditBackend          = (*PostgresAuditSink)(nil)
)
