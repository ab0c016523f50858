package caddymodule

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/migrate"
	"github.com/tokengate/tokengate/vault/reseal"
)

// The commands below run an operation between a start entry, written
// before it changes anything, and an end entry with its counts (outcome
// failed, with the error, when it fails). See command_cliaudit.go.

// auditedRun opens the audit chain for command, records start, runs run,
// and records the end entry that end builds from run's result.
func auditedRun(ctx context.Context, aargs cliAuditArgs, command string, ks *keys.Keys, start audit.Entry,
	run func(a *cliAudit) (map[string]string, error)) (int, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	a, err := openCLIAudit(ctx, aargs, command, ks)
	if err != nil {
		return exitFailure, err
	}
	start.Time = time.Now().UTC()
	start.Detail["event"] = "start"
	if err := a.begin(ctx, start); err != nil {
		return closeAudit(a, exitFailure, err)
	}
	begun := a.seq()
	counts, err := run(a)
	if a == nil {
		if err != nil {
			return exitFailure, err
		}
		return exitSuccess, nil
	}
	end := audit.Entry{Time: time.Now().UTC(), Action: start.Action, Tenant: start.Tenant, Detail: map[string]string{}}
	for k, v := range start.Detail {
		end.Detail[k] = v
	}
	for k, v := range counts {
		end.Detail[k] = v
	}
	end.Detail["event"] = "end"
	if err != nil {
		return closeAudit(a, exitFailure, a.failed(ctx, end, begun, audit.OutcomeFailed, err))
	}
	end.Detail["entry_of"] = strconv.FormatUint(begun, 10)
	if err := a.record(ctx, end); err != nil {
		return closeAudit(a, exitFailure, err)
	}
	return closeAudit(a, exitSuccess, nil)
}

// auditedReseal runs an offline re-seal (caddy tokengate reseal) between
// its entries (ActionReseal, as the gateway's background re-seal records).
func auditedReseal(ctx context.Context, where string, ks *keys.Keys, aargs cliAuditArgs, run func() (reseal.Report, error)) (int, error) {
	start := audit.Entry{Action: audit.ActionReseal, Detail: map[string]string{
		"vault": vaultLabel(where), "primary_key": formatID(ks.PrimaryKeyID()), "key_ids": joinIDs(ks.KeyIDs())}}
	return auditedRun(ctx, aargs, "reseal", ks, start, func(*cliAudit) (map[string]string, error) {
		rep, err := run()
		return map[string]string{
			"total": i64(rep.Total), "resealed": i64(rep.Resealed), "current": i64(rep.Current),
			"gone": i64(rep.Gone), "unreadable": i64(rep.Unreadable)}, err
	})
}

// auditedMigrate runs caddy tokengate migrate between its entries
// (ActionBackup, operation migrate: the vault's records copied elsewhere).
// Recording it needs the keyset (--keyset), which migrate otherwise only
// uses for its key check.
func auditedMigrate(ctx context.Context, from, to string, ks *keys.Keys, aargs cliAuditArgs, run func() (migrate.Report, error)) (int, error) {
	if aargs.on() && ks == nil {
		return exitFailure, errAuditNeedsKeyset
	}
	start := audit.Entry{Action: audit.ActionBackup, Detail: map[string]string{
		"operation": "migrate", "from": vaultLabel(from), "to": vaultLabel(to)}}
	return auditedRun(ctx, aargs, "migrate", ks, start, func(*cliAudit) (map[string]string, error) {
		rep, err := run()
		return map[string]string{
			"records": i64(rep.Source), "copied": i64(rep.Copied), "present": i64(rep.Present), "conflicts": i64(rep.Conflicts),
			"state_copied": i64(rep.StateCopied), "checked": i64(rep.Checked), "found": i64(rep.Found),
			"verified": strconv.FormatBool(rep.Verified)}, err
	})
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// purgeStartEntry is the start entry of an offline purge of where.
func purgeStartEntry(where string, t purge.Target) audit.Entry {
	d := map[string]string{"reason": purge.ReasonPurge, "vault": vaultLabel(where), "dry_run": strconv.FormatBool(t.DryRun)}
	switch {
	case t.Customer != "":
		d["selection"], d["customer"] = "customer", t.Customer
	case len(t.Tokens) > 0:
		d["selection"], d["tokens"] = "tokens", strconv.Itoa(len(t.Tokens))
	default:
		d["selection"] = "all"
	}
	return audit.Entry{Action: audit.ActionPurge, Tenant: t.Tenant, Detail: d}
}

// purgeCounts are a purge report's counts, for its end entry.
func purgeCounts(rep purge.Report) map[string]string {
	return map[string]string{"selected": i64(rep.Walked), "erased": i64(rep.Erased), "kept": i64(rep.Kept), "forgotten": i64(rep.Forgotten)}
}

// auditedRestore runs caddy tokengate restore, recording it (ActionBackup,
// operation restore, the backup's counts and SHA-256) once the backup is
// verified and before the vault file is written; a restore refused (a
// backup that fails verification, a vault file in use or there without
// --force) is recorded as refused, one that fails after its entry as
// failed. Recording it needs the keyset (--keyset).
func auditedRestore(args backupArgs, out io.Writer) (int, error) {
	if !args.audit.on() {
		return restoreVault(args, out, func(boltvault.Snapshot, bool) error { return nil })
	}
	if args.keyset.File == "" && args.keyset.Env == "" {
		return exitFailure, errAuditNeedsKeyset
	}
	ctx := context.Background()
	ks, _, err := keys.LoadContext(ctx, args.keyset)
	if err != nil {
		return exitFailure, err
	}
	a, err := openCLIAudit(ctx, args.audit, "restore", ks)
	if err != nil {
		return exitFailure, err
	}
	e := audit.Entry{Action: audit.ActionBackup, Detail: map[string]string{
		"operation": "restore", "from": absPath(args.from), "vault": vaultLabel(args.vault)}}
	var begun uint64
	var beginErr error
	code, err := restoreVault(args, out, func(snap boltvault.Snapshot, replacing bool) error {
		e.Time = time.Now().UTC()
		e.Detail["records"], e.Detail["state_entries"] = i64(snap.Records), i64(snap.StateEntries)
		e.Detail["sha256"], e.Detail["replacing"] = snap.SHA256, strconv.FormatBool(replacing)
		if beginErr = a.begin(ctx, e); beginErr != nil {
			return beginErr
		}
		begun = a.seq()
		return nil
	})
	switch {
	case err == nil, beginErr != nil:
	case begun > 0:
		err = a.failed(ctx, e, begun, audit.OutcomeFailed, err)
	default:
		e.Time = time.Now().UTC()
		err = a.failed(ctx, e, 0, audit.OutcomeRefused, err)
	}
	return closeAudit(a, code, err)
}
