package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/audit/pgaudit"
	"github.com/tokengate/tokengate/keys"
)

// The key and data commands that run without a gateway (keygen, rotate,
// wrap, rewrap, keys disable|enable, reseal, purge --vault, restore,
// migrate) record what they do in an audit chain of their own (PCI DSS
// v4.0 10.2.1.2 administrative actions, 10.2.1.5 changes to
// authentication credentials such as keys, 3.6/3.7 key management done
// by named people): --audit-file <path> (default: the variable
// TOKENGATE_AUDIT_FILE, set once in the operator's shell profile) or
// --audit-dsn <dsn> for the PostgreSQL sink, the chain named
// --audit-gateway (default cli@<hostname>). The entry is written before
// the command changes anything: a chain that cannot be opened or written
// makes the command refuse, changing nothing (fail closed); an operation
// that then fails adds an entry with outcome failed.

// auditFileEnv is the variable --audit-file defaults to.
const auditFileEnv = "TOKENGATE_AUDIT_FILE"

// addCLIAuditFlags adds --audit-file, --audit-dsn and --audit-gateway.
func addCLIAuditFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.String("audit-file", "", "keygen, rotate, wrap, rewrap, keys disable|enable, reseal, purge --vault, restore, migrate: the command-line audit file to record the operation in (default: $"+auditFileEnv+"); a file of its own, never a running gateway's")
	fs.String("audit-dsn", "", "the same commands: record the operation in the PostgreSQL audit sink with this DSN instead")
	fs.String("audit-gateway", "", "with --audit-file or --audit-dsn: the chain's name (default cli@<hostname>)")
}

// cliAuditArgs are those flags.
type cliAuditArgs struct {
	file, dsn, gateway string
}

// cliAuditArgsOf reads the flags; --audit-file defaults to
// $TOKENGATE_AUDIT_FILE unless --audit-dsn is given.
func cliAuditArgsOf(fl caddycmd.Flags) cliAuditArgs {
	a := cliAuditArgs{file: fl.String("audit-file"), dsn: fl.String("audit-dsn"), gateway: fl.String("audit-gateway")}
	if a.file == "" && a.dsn == "" {
		a.file = os.Getenv(auditFileEnv)
	}
	return a
}

// on reports whether the operation is to be recorded.
func (a cliAuditArgs) on() bool { return a.file != "" || a.dsn != "" }

// errAuditNeedsKeyset is the error of a command that loads no keyset of
// its own when it is to be audited.
var errAuditNeedsKeyset = errors.New("recording in the audit trail (--audit-file, --audit-dsn or $" + auditFileEnv +
	") needs the keyset (--keyset or --keyset-env, and its key-encrypting key): the chain's checkpoints are authenticated with a key derived from it")

// cliAudit is an open command-line audit chain; a nil one records nothing.
type cliAudit struct {
	chain   *audit.Chain
	pool    *pgxpool.Pool
	command string
	who     map[string]string
}

// openCLIAudit opens the chain args name for command (e.g. "rotate"),
// its checkpoints keyed by ks; with no chain named it returns nil, nil.
// A chain that cannot be opened, that does not verify, or that another
// writer (a gateway) continues is refused.
func openCLIAudit(ctx context.Context, args cliAuditArgs, command string, ks *keys.Keys) (*cliAudit, error) {
	if !args.on() {
		return nil, nil
	}
	if args.file != "" && args.dsn != "" {
		return nil, errors.New("set one of --audit-file (or $" + auditFileEnv + ") and --audit-dsn")
	}
	if ks == nil {
		return nil, errAuditNeedsKeyset
	}
	if ctx == nil {
		ctx = context.Background()
	}
	host, _ := os.Hostname()
	gateway := args.gateway
	if gateway == "" {
		gateway = "cli@" + host
	}
	opts := audit.Options{Gateway: gateway, Key: ks.DeriveKey(audit.CheckpointKeyLabel), SyncEvery: true}
	a := &cliAudit{command: "tokengate " + command, who: map[string]string{"host": host, "user": osUser()}}
	if s := os.Getenv("SUDO_USER"); s != "" {
		a.who["sudo_user"] = s
	}
	if args.file != "" {
		if w := fileWriters(args.file); len(w) > 0 {
			return nil, fmt.Errorf("refused, nothing changed: the audit file %s is open for writing by process %s (a running gateway's audit file?): "+
				"the command line records in a file of its own (two writers on one file fork the chain)", args.file, strings.Join(w, ", "))
		}
	}
	var err error
	where := "audit file " + args.file
	if args.file != "" {
		a.chain, err = audit.OpenFileChain(ctx, args.file, audit.FileOptions{}, opts)
	} else {
		where = "PostgreSQL audit chain " + gateway
		if a.pool, err = pgaudit.Connect(ctx, args.dsn); err == nil {
			if a.chain, err = pgaudit.OpenChain(ctx, a.pool, gateway, opts); err != nil {
				a.pool.Close()
			}
		}
	}
	var tailErr *audit.TailError
	if errors.As(err, &tailErr) && strings.Contains(err.Error(), "key id") {
		return nil, fmt.Errorf("refused, nothing changed: %w (a chain's checkpoints are keyed by one keyset: a chain written with another keyset, before a keygen for instance, needs another --audit-file)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("refused, nothing changed: the audit trail could not be opened: %w", err)
	}
	if got := a.chain.Gateway(); got != gateway {
		// The chain was started by another writer: a gateway's file
		// sink, whose chain two writers would fork.
		a.Close()
		return nil, fmt.Errorf("refused, nothing changed: %s is the chain of %q, not %q: the command line records in a chain of its own "+
			"(another file than any gateway's audit file; two writers on one file fork the chain), or name it with --audit-gateway", where, got, gateway)
	}
	return a, nil
}

// osUser names the operator: the OS account, else $USER.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return strconv.Itoa(os.Getuid())
}

// record writes e with the command, user and host in its Detail; an error
// means it was not written and the command must not go on.
func (a *cliAudit) record(ctx context.Context, e audit.Entry) error {
	if a == nil {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// An interrupted command still records how it ended (each write is
	// bounded: a file write, or the PostgreSQL sink's statement timeout).
	ctx = context.WithoutCancel(ctx)
	d := make(map[string]string, len(e.Detail)+4)
	for k, v := range e.Detail {
		d[k] = v
	}
	d["command"] = a.command
	for k, v := range a.who {
		d[k] = v
	}
	e.Detail = d
	if e.Outcome == "" {
		e.Outcome = audit.OutcomeOK
	}
	if err := a.chain.Record(ctx, e); err != nil {
		return fmt.Errorf("the audit trail could not record the operation: %w", err)
	}
	return nil
}

// begin records e (outcome ok) before the operation changes anything; an
// error means the command must refuse.
func (a *cliAudit) begin(ctx context.Context, e audit.Entry) error {
	if err := a.record(ctx, e); err != nil {
		return fmt.Errorf("refused, nothing changed: %w", err)
	}
	return nil
}

// seq is the seq of the last entry written.
func (a *cliAudit) seq() uint64 {
	if a == nil {
		return 0
	}
	return a.chain.Seq()
}

// failed records that the operation e describes (whose entry is seq
// begun, 0 if none) ended with outcome (failed or refused) for cause, and
// returns cause, joined with the audit's own error if that failed too.
// The cause's text is kept (errors never hold key material or card data).
func (a *cliAudit) failed(ctx context.Context, e audit.Entry, begun uint64, outcome string, cause error) error {
	if a == nil || cause == nil {
		return cause
	}
	d := make(map[string]string, len(e.Detail)+2)
	for k, v := range e.Detail {
		d[k] = v
	}
	msg := cause.Error()
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	d["error"] = msg
	if begun > 0 {
		d["entry_of"] = strconv.FormatUint(begun, 10)
	}
	e.Detail, e.Outcome = d, outcome
	if err := a.record(ctx, e); err != nil {
		return errors.Join(cause, fmt.Errorf("and its audit entry (outcome %s) could not be written: %w", outcome, err))
	}
	return cause
}

// recorder is the chain as a Recorder (for the eraser), or audit.Discard.
func (a *cliAudit) recorder() audit.Recorder {
	if a == nil {
		return audit.Discard
	}
	return cliRecorder{a}
}

type cliRecorder struct{ a *cliAudit }

func (r cliRecorder) Record(ctx context.Context, e audit.Entry) error { return r.a.record(ctx, e) }

// Close writes the chain's final checkpoint and closes it.
func (a *cliAudit) Close() error {
	if a == nil {
		return nil
	}
	err := a.chain.Close()
	if a.pool != nil {
		a.pool.Close()
	}
	return err
}

// closeAudit closes a and folds its error into the command's result: an
// operation done whose final checkpoint failed still exits non-zero.
func closeAudit(a *cliAudit, code int, err error) (int, error) {
	if cerr := a.Close(); cerr != nil {
		return exitFailure, errors.Join(err, fmt.Errorf("closing the audit trail: %w", cerr))
	}
	return code, err
}

// kekLabel describes a key-encrypting key source without its secret: the
// variable's or file's name, or the KMS key URI (which is no secret).
func kekLabel(src keys.KEKSource) string {
	switch s := src.(type) {
	case nil:
		return "none (cleartext keyset)"
	case keys.EnvKEK:
		return "env:" + string(s)
	case keys.FileKEK:
		if abs, err := filepath.Abs(string(s)); err == nil {
			return "file:" + abs
		}
		return "file:" + string(s)
	case keys.AWSKMS:
		return s.KeyURI
	}
	return src.String()
}

// vaultLabel names a vault spec without its DSN (which may hold a
// password): bolt:<path>, or postgres.
func vaultLabel(spec string) string {
	kind, where, _ := strings.Cut(spec, ":")
	switch kind {
	case "bolt":
	case "postgres":
		return "postgres"
	default:
		where = spec // restore takes a bare path
	}
	return "bolt:" + absPath(where)
}

// absPath is path made absolute, for an entry read elsewhere.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// keysDetail is an ActionKeys entry's Detail for operation on the keyset
// file path, before (nil for keygen) and after the change.
func keysDetail(op, path string, kek keys.KEKSource, before, after *keys.Keys) map[string]string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	d := map[string]string{"operation": op, "keyset": path, "kek": kekLabel(kek)}
	if before != nil {
		d["previous_key_ids"], d["previous_primary"] = joinIDs(before.KeyIDs()), strconv.FormatUint(uint64(before.PrimaryKeyID()), 10)
	}
	if after != nil {
		d["key_ids"], d["primary"] = joinIDs(after.KeyIDs()), strconv.FormatUint(uint64(after.PrimaryKeyID()), 10)
	}
	return d
}
