package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
)

// auditUsage is the usage of caddy tokengate audit.
const auditUsage = "usage: caddy tokengate audit verify (--file <path> | --dsn <dsn>) [--gateway <name>] (--keyset <file> | --keyset-env <VARIABLE>) [--kek-env <VARIABLE> | --kek-file <file>] [--no-head], " +
	"or caddy tokengate audit search (--file <path> | --dsn <dsn> [--gateway <name>]) [--token <t>] [--tenant <x>] [--action <a>] [--since <RFC3339>] [--until <RFC3339>]"

// addAuditFlags adds the flags of caddy tokengate audit that no other
// subcommand defined already (a flag defined twice panics).
func addAuditFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	f := struct {
		String func(name, value, usage string)
		Bool   func(name, usage string)
	}{
		String: func(name, value, usage string) {
			if fs.Lookup(name) == nil {
				fs.String(name, value, usage)
			}
		},
		Bool: func(name, usage string) {
			if fs.Lookup(name) == nil {
				fs.Bool(name, false, usage)
			}
		},
	}
	f.String("file", "", "audit verify, audit search: the audit file (its rolled files beside it are read too)")
	f.String("dsn", "", "audit verify, audit search: the PostgreSQL audit sink's DSN")
	f.String("gateway", "", "audit verify, audit search: with --dsn, the chain (gateway) to read (default: this host's name); audit verify --file: the gateway the chain must be of")
	f.String("kek-file", "", "audit verify: the file holding the base64 key-encrypting key (as kek_file)")
	f.Bool("no-head", "audit verify: verify without the head (a cut at the end of the chain then does not show)")
	f.String("token", "", "audit search: entries that used this token")
	f.String("tenant", "", "audit search: entries of this tenant")
	f.String("action", "", "audit search: entries of this action (detokenize, reveal, cryptogram, token_status, keys, reseal, config_load, backup, purge, checkpoint)")
	f.String("since", "", "audit search: entries at or after this time (RFC 3339)")
	f.String("until", "", "audit search: entries before this time (RFC 3339)")
}

// auditArgs are the flags of caddy tokengate audit.
type auditArgs struct {
	file, dsn, gateway string
	keyset             keys.Options
	noHead             bool
	filter             audit.Filter
	since, until       string
}

func auditArgsOf(fl caddycmd.Flags) auditArgs {
	return auditArgs{file: fl.String("file"), dsn: fl.String("dsn"), gateway: fl.String("gateway"), noHead: fl.Bool("no-head"),
		keyset: keys.Options{File: fl.String("keyset"), Env: fl.String("keyset-env"), KEKEnv: fl.String("kek-env"), KEKFile: fl.String("kek-file")},
		filter: audit.Filter{Token: fl.String("token"), Tenant: fl.String("tenant"), Action: fl.String("action")},
		since:  fl.String("since"), until: fl.String("until")}
}

// cmdAudit runs caddy tokengate audit verify|search.
func cmdAudit(ctx context.Context, sub string, args auditArgs, out io.Writer) (int, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if (args.file == "") == (args.dsn == "") {
		return exitFailure, errors.New(auditUsage)
	}
	switch sub {
	case "verify":
		return cmdAuditVerify(ctx, args, out)
	case "search":
		for _, t := range []struct {
			flag, v string
			to      *time.Time
		}{{"--since", args.since, &args.filter.Since}, {"--until", args.until, &args.filter.Until}} {
			if t.v == "" {
				continue
			}
			v, err := time.Parse(time.RFC3339, t.v)
			if err != nil {
				return exitFailure, fmt.Errorf("%s: want a time such as 2026-01-31T00:00:00Z", t.flag)
			}
			*t.to = v
		}
		return cmdAuditSearch(ctx, args, out)
	}
	return exitFailure, errors.New(auditUsage)
}

// cmdAuditVerify verifies the chain: exit 0 with the counts, or non-zero
// naming the first entry found wrong.
func cmdAuditVerify(ctx context.Context, args auditArgs, out io.Writer) (int, error) {
	if args.keyset.File == "" && args.keyset.Env == "" {
		return exitFailure, errors.New("audit verify needs the keyset (--keyset or --keyset-env) to check the checkpoints: " + auditUsage)
	}
	ks, _, err := keys.Load(args.keyset) // no DevFile: never a new keyset
	if err != nil {
		return exitFailure, err
	}
	key := ks.DeriveKey(audit.CheckpointKeyLabel)
	var rep audit.Report
	var where string
	if args.file != "" {
		where = args.file
		rep, err = audit.VerifyFiles(args.file, key, args.noHead)
	} else {
		where, rep, err = verifyPostgresAudit(ctx, args, key)
	}
	if err != nil {
		return exitFailure, fmt.Errorf("audit verify FAILED: %w", err)
	}
	if args.file != "" && args.gateway != "" && rep.Gateway != args.gateway {
		// Gateways sharing a keyset share the checkpoint key: a chain of
		// another put in this one's place verifies by itself.
		return exitFailure, fmt.Errorf("audit verify FAILED: %s holds the chain of gateway %q, not of %q", args.file, rep.Gateway, args.gateway)
	}
	fmt.Fprintf(out, "%s: verified %d entries of gateway %q (seq %d to %d), %d checkpoints (MACs checked with key id %s)\n",
		where, rep.Entries, rep.Gateway, rep.First, rep.Last, rep.Checkpoints, audit.KeyID(key))
	if rep.First > 1 {
		fmt.Fprintf(out, "the chain starts at seq %d: earlier entries are not here (rolled files removed by retention, or moved)\n", rep.First)
	}
	if rep.StartedAfter != "" && rep.StartedAfter != "none" {
		fmt.Fprintf(out, "NOTE: this chain was started after another whose files are gone: %s\n", rep.StartedAfter)
	}
	if rep.Unauthenticated > 0 {
		fmt.Fprintf(out, "%d entries after the last checkpoint are chained but not yet authenticated (the next checkpoint will)\n", rep.Unauthenticated)
	}
	if !rep.HeadChecked {
		fmt.Fprintln(out, "the head was not checked (--no-head): a cut at the end of the chain would not show")
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(out, "%s: not an entry (a failed write's partial line); the chain continues across it\n", s)
	}
	return exitSuccess, nil
}

// cmdAuditSearch prints the matching entries as JSON lines.
func cmdAuditSearch(ctx context.Context, args auditArgs, out io.Writer) (int, error) {
	if args.dsn != "" {
		return searchPostgresAudit(ctx, args, out)
	}
	files, err := audit.ChainFiles(args.file)
	if err != nil {
		return exitFailure, err
	}
	if len(files) == 0 {
		return exitFailure, fmt.Errorf("%s: no such file (nor rolled files beside it)", args.file)
	}
	var links audit.Links // an entry shown that does not verify is said
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return exitFailure, err
		}
		_, err = audit.SearchLinked(f, fh, args.filter, out, &links)
		fh.Close()
		if err != nil {
			return exitFailure, fmt.Errorf("%s: %w", f, err)
		}
	}
	if err := links.Err(); err != nil {
		return exitFailure, err
	}
	return exitSuccess, nil
}
