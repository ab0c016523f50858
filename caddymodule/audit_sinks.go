package caddymodule

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/vault"
)

// The audit trail (PCI DSS 10.2, 10.3) is written by a tokengate.audit_sinks
// guest module, configured as `audit file { ... }` or `audit postgres {
// ... }` in the tokengate global option. Like the vault, a sink is opened
// at Start (never in Provision: `caddy validate` creates no file and
// connects nowhere), and a.audit is set to it before the stack is built, so
// every part that records gets it. A sink that cannot be opened leaves the
// gateway not ready (503) and is retried, unless it fails open.

func init() {
	caddy.RegisterModule(FileAuditSink{})
}

// AuditBackend is a tokengate.audit_sinks module.
type AuditBackend interface {
	// OpenAudit opens (or shares, across a config reload) the chain, with
	// its checkpoint key from env.Keys.
	OpenAudit(ctx context.Context, env Env) (*audit.Chain, error)
	// FailsOpen says whether a failure to write lets the access go on.
	FailsOpen() bool
	// Describe names the sink in messages.
	Describe() string
}

// auditWriteFailures counts the audit entries a sink failed to write
// (fail_open or not).
var auditWriteFailures = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: metricsNamespace, Name: "audit_write_failures_total",
	Help: "Audit entries (or checkpoints) the audit sink failed to write; with fail_open the access went on without its entry.",
})

// Defaults of the file sink: roll at 100 MB, keep 10 rolled files for at
// most a year (PCI DSS 10.5.1 keeps audit logs a year; ship them to
// long-term storage, see docs/operations.md).
const (
	defaultAuditRollSizeMB   = 100
	defaultAuditRollKeep     = 10
	defaultAuditRollKeepDays = 365
)

// FileAuditSink writes the audit trail to a file, one JSON entry per line,
// each chained to the one before by hash, rolled by size.
type FileAuditSink struct {
	// Path is the file (required). Rolled files are kept beside it as
	// <name>-<time>-size<ext>, and the chain's head as <path>.head.
	Path string `json:"path,omitempty"`
	// RollSizeMB rolls the file at this size in megabytes (default 100).
	RollSizeMB int `json:"roll_size_mb,omitempty"`
	// RollKeep is how many rolled files are kept (default 10).
	RollKeep int `json:"roll_keep,omitempty"`
	// RollKeepDays is how long rolled files are kept, in days (default
	// 365: PCI DSS 10.5.1).
	RollKeepDays int `json:"roll_keep_days,omitempty"`
	// CheckpointEvery writes an authenticated checkpoint after this many
	// entries (default 1000).
	CheckpointEvery int `json:"checkpoint_every,omitempty"`
	// CheckpointInterval writes one at most this long after an entry
	// (default 1m).
	CheckpointInterval caddy.Duration `json:"checkpoint_interval,omitempty"`
	// Fsync is "checkpoint" (the default: entries are written before
	// Record returns, so a crash of the process loses none, and synced to
	// disk at each checkpoint and on close) or "every" (each entry synced
	// before Record returns: a power loss loses none either, at the cost
	// of an fsync per audited access).
	Fsync string `json:"fsync,omitempty"`
	// FailOpen lets an access go on when its entry cannot be written
	// (logged, counted in tokengate_audit_write_failures_total). The
	// default fails closed: the access is refused with 503.
	FailOpen bool `json:"fail_open,omitempty"`

	path    string
	poolKey string
	chain   *audit.Chain // once opened
}

// CaddyModule returns the Caddy module information.
func (FileAuditSink) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate.audit_sinks.file", New: func() caddy.Module { return new(FileAuditSink) }}
}

// Provision resolves the path; it creates nothing.
func (s *FileAuditSink) Provision(caddy.Context) error {
	if s.Path == "" {
		return nil // Validate says so
	}
	abs, err := filepath.Abs(caddy.NewReplacer().ReplaceKnown(s.Path, ""))
	if err != nil {
		return fmt.Errorf("audit file: path %s: %w", s.Path, err)
	}
	s.path = abs
	return nil
}

// Validate checks the settings.
func (s *FileAuditSink) Validate() error {
	switch {
	case s.path == "":
		return errors.New("audit file: path is required")
	case s.RollSizeMB < 0, s.RollKeep < 0, s.RollKeepDays < 0, s.CheckpointEvery < 0, s.CheckpointInterval < 0:
		return errors.New("audit file: roll_size_mb, roll_keep, roll_keep_days, checkpoint_every and checkpoint_interval must not be negative")
	case s.Fsync != "" && s.Fsync != "every" && s.Fsync != "checkpoint":
		return fmt.Errorf("audit file: fsync %q: want every or checkpoint", s.Fsync)
	}
	if fi, err := os.Stat(s.path); err == nil && fi.IsDir() {
		return fmt.Errorf("audit file: path %s is a directory; name the file", s.path)
	} else if err == nil && fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		// A named pipe would block the start's open until someone writes.
		return fmt.Errorf("audit file: path %s is a named pipe or socket, not a regular file", s.path)
	}
	return nil
}

// FailsOpen implements AuditBackend.
func (s *FileAuditSink) FailsOpen() bool { return s.FailOpen }

// Describe implements AuditBackend.
func (s *FileAuditSink) Describe() string { return "audit file " + s.path }

// chainOptions are the options of a chain for env.
func chainOptions(env Env, every int, interval caddy.Duration, syncEvery, failOpen bool, gateway string) audit.Options {
	logger := env.Logger
	return audit.Options{
		Gateway: gateway, Key: env.Keys.DeriveKey(audit.CheckpointKeyLabel),
		Every: every, Interval: time.Duration(interval), SyncEvery: syncEvery, FailOpen: failOpen,
		OnFailure: func(err error) {
			auditWriteFailures.Inc()
			if logger != nil {
				logger.Error("writing the audit trail failed", zap.Bool("fail_open", failOpen), zap.Error(err))
			}
		},
	}
}

type pooledChain struct {
	*audit.Chain
	files audit.FileOptions // the rolling it was opened with (a file chain)
}

func (p pooledChain) Destruct() error { return p.Close() }

// OpenAudit implements AuditBackend: the chain in the file is opened (its
// tail checked), or shared with the config being replaced, so a reload
// neither forks the chain nor reopens the file. A chain that does not
// verify is refused: misconfigured (see audit.OpenFile for the recovery);
// one that cannot be written now (a full disk, a permission) is retried.
func (s *FileAuditSink) OpenAudit(ctx context.Context, env Env) (*audit.Chain, error) {
	if s.chain != nil {
		return s.chain, nil
	}
	host, _ := os.Hostname()
	opts := chainOptions(env, s.CheckpointEvery, s.CheckpointInterval, s.Fsync == "every", s.FailOpen, host)
	key := "audit-file:" + s.path
	files := audit.FileOptions{
		MaxSizeMB:  cmp.Or(s.RollSizeMB, defaultAuditRollSizeMB),
		MaxBackups: cmp.Or(s.RollKeep, defaultAuditRollKeep),
		MaxAgeDays: cmp.Or(s.RollKeepDays, defaultAuditRollKeepDays),
	}
	v, loaded, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		c, err := audit.OpenFileChain(ctx, s.path, files, opts)
		if err != nil {
			return nil, err
		}
		return pooledChain{Chain: c, files: files}, nil
	})
	var tailErr *audit.TailError
	switch {
	case errors.As(err, &tailErr):
		return nil, misconfigured(err)
	case err != nil:
		return nil, err
	}
	s.poolKey = key
	s.chain = v.(pooledChain).Chain
	if was := v.(pooledChain).files; loaded && env.Logger != nil &&
		(was.MaxSizeMB != files.MaxSizeMB || was.MaxBackups != files.MaxBackups || was.MaxAgeDays != files.MaxAgeDays) {
		// One writer per file: the open chain keeps rolling as it was
		// opened (a second one would fork the chain).
		env.Logger.Warn("the audit file's roll_size, roll_keep and roll_keep_for changed: they apply from the next restart",
			zap.String("path", s.path))
	}
	if loaded {
		if err := s.chain.SetOptions(ctx, opts); err != nil {
			return nil, err
		}
	}
	return s.chain, nil
}

// Cleanup releases this config's hold on the chain; the last one closes it
// with a checkpoint.
func (s *FileAuditSink) Cleanup() error {
	if s.poolKey == "" {
		return nil
	}
	_, err := stores.Delete(s.poolKey)
	return err
}

// UnmarshalCaddyfile sets up the sink from the Caddyfile:
//
//	audit file [<path>] {
//		path                <path>
//		roll_size           <size>       (default 100MiB)
//		roll_keep           <n>          (default 10)
//		roll_keep_for       <duration>   (default 8760h)
//		checkpoint_every    <n>          (default 1000)
//		checkpoint_interval <duration>   (default 1m)
//		fsync               every|checkpoint
//		fail_open
//	}
func (s *FileAuditSink) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		s.Path = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		opt := d.Val()
		if opt == "fail_open" {
			if d.NextArg() {
				return d.ArgErr()
			}
			s.FailOpen = true
			continue
		}
		var v string
		if !d.Args(&v) || d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "path":
			s.Path = v
		case "fsync":
			if v != "every" && v != "checkpoint" {
				return d.Errf("fsync %q: want every or checkpoint", v)
			}
			s.Fsync = v
		case "roll_size":
			size, err := humanize.ParseBytes(v)
			if err != nil || size < 1<<20 {
				return d.Errf("roll_size %q: want a size of at least 1MiB, such as 100MiB", v)
			}
			s.RollSizeMB = int((size + (1 << 20) - 1) >> 20)
		case "roll_keep":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return d.Errf("%s %q: want a positive number", opt, v)
			}
			s.RollKeep = n
		case "roll_keep_for":
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur < 24*time.Hour {
				return d.Errf("roll_keep_for %q: want a duration of at least 24h, such as 8760h", v)
			}
			s.RollKeepDays = int((dur + 24*time.Hour - 1) / (24 * time.Hour))
		case "checkpoint_every", "checkpoint_interval":
			d.Prev()
			if err := s.parseCheckpoint(d, opt); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized audit file option %q", opt)
		}
	}
	return nil
}

// parseCheckpoint reads the argument of checkpoint_every or
// checkpoint_interval (opt, the current token).
func (s *FileAuditSink) parseCheckpoint(d *caddyfile.Dispenser, opt string) error {
	var v string
	if !d.Args(&v) || d.NextArg() {
		return d.ArgErr()
	}
	if opt == "checkpoint_every" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return d.Errf("checkpoint_every %q: want a positive number", v)
		}
		s.CheckpointEvery = n
		return nil
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur < time.Second || dur > 24*time.Hour {
		return d.Errf("checkpoint_interval %q: want a duration between 1s and 24h", v)
	}
	s.CheckpointInterval = caddy.Duration(dur)
	return nil
}

// openAudit opens the audit sink, once, and records the configuration
// load: the rules file's SHA-256 and the keyset's key ids. A sink that
// fails open and cannot be opened leaves a recorder that counts every entry
// as failed; one that fails closed leaves the gateway not ready.
func (a *App) openAudit(ctx context.Context, env Env) error {
	if a.auditBackend == nil || a.audit != nil {
		return nil
	}
	c, err := a.auditBackend.OpenAudit(ctx, env)
	if err == nil {
		err = c.Record(ctx, a.configLoadEntry())
	}
	if err != nil {
		err = fmt.Errorf("tokengate: opening the %s: %w", a.auditBackend.Describe(), err)
		if !a.auditBackend.FailsOpen() {
			a.status.failed(componentAudit, err)
			return err
		}
		auditWriteFailures.Inc()
		a.logger.Error("the audit sink could not be opened; fail_open is set, so the gateway serves WITHOUT an audit trail (every entry is counted in tokengate_audit_write_failures_total) until a reload opens it", zap.Error(err))
		a.audit = unopenedAudit{}
		a.status.set(componentAudit, StateDegraded, reasonUnreachable, err)
		return nil
	}
	a.audit = c
	a.status.set(componentAudit, StateReady, "", nil)
	return nil
}

// configLoadEntry is the entry recording this config's load.
func (a *App) configLoadEntry() audit.Entry {
	e := audit.Entry{Action: audit.ActionConfigLoad, Outcome: audit.OutcomeOK, Detail: map[string]string{
		"keyset_key_ids":  vault.KeyIDList(a.keys.KeyIDs()),
		"keyset_primary":  strconv.FormatUint(uint64(a.keys.PrimaryKeyID()), 10),
		"files_sha256":    a.filesHash(),
		"tokengate_audit": a.auditBackend.Describe(),
	}}
	// Read again after the load; a file gone meanwhile gets no hash rather
	// than the hash of nothing.
	if rules, err := os.ReadFile(a.Rules); err == nil {
		sum := sha256.Sum256(rules)
		e.Detail["rules_sha256"] = hex.EncodeToString(sum[:])
	}
	return e
}

// unopenedAudit is the recorder of a fail_open sink that did not open.
type unopenedAudit struct{}

func (unopenedAudit) Record(context.Context, audit.Entry) error {
	auditWriteFailures.Inc()
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*FileAuditSink)(nil)
	_ caddy.Validator       = (*FileAuditSink)(nil)
	_ caddy.CleanerUpper    = (*FileAuditSink)(nil)
	_ caddyfile.Unmarshaler = (*FileAuditSink)(nil)
	_ AuditBackend          = (*FileAuditSink)(nil)
)
