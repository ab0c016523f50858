package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/migrate"
)

// keysDisableUsage is the usage of caddy tokengate keys disable and enable.
const keysDisableUsage = "usage: caddy tokengate keys disable|enable <key id> --keyset <file> [--kek-env <VARIABLE> | --kek-file <path> | --kek-uri aws-kms://...] --vault bolt:<path>|postgres:<dsn> [--destroy]"

// cmdKeysDisable runs caddy tokengate keys disable <id> (and enable): it
// takes a sealing key out of the keyset file once no record of the vault
// needs it. The vault counts the records sealed with the key from the
// records themselves (a GROUP BY in PostgreSQL, a walk of the bbolt file
// in one write transaction) and, when there are none, drops the id from
// the list of keys its start checks, in the same transaction; then the
// keyset file is rewritten. It refuses, changing nothing, while any record
// is sealed with the key, and for the primary key.
//
// disable marks the key DISABLED (Tink): it opens and seals nothing, and
// stays in the file, wrapped, so that `keys enable` can bring it back for
// a vault backup taken before the re-seal. With --destroy it is deleted
// from the keyset: what it sealed, backups included, never opens again.
//
// With a command-line audit trail (command_cliaudit.go), a refusal is
// recorded (outcome refused) and the change (outcome ok) before the keyset
// file is written. The vault's list of needed keys is updated before that
// entry, in the transaction that finds no record sealed with the key: it is
// a list derived from the records, not a key change, and stays right
// whether or not the keyset file is then written.
func cmdKeysDisable(ctx context.Context, verb, id string, keyset keys.Options, where string, destroy bool, aargs cliAuditArgs, out io.Writer) (int, error) {
	kid, err := strconv.ParseUint(id, 10, 32)
	if err != nil || keyset.File == "" || (verb == "disable" && where == "") {
		return exitFailure, errors.New(keysDisableUsage)
	}
	change := keys.DisableKey
	switch {
	case verb == "enable" && destroy:
		return exitFailure, errors.New("keys enable takes no --destroy")
	case verb == "enable":
		change = keys.EnableKey
	case destroy:
		change = keys.DestroyKey
	}
	if ctx == nil {
		ctx = context.Background()
	}
	kek, err := keys.LoadKEK(ctx, keyset)
	if err != nil {
		return exitFailure, err
	}
	old, err := os.ReadFile(keyset.File)
	if err != nil {
		return exitFailure, err
	}
	before, err := keys.Parse(old, kek)
	if err != nil {
		return exitFailure, fmt.Errorf("%s: %w", keyset.File, err)
	}
	a, err := openCLIAudit(ctx, aargs, "keys "+verb, before)
	if err != nil {
		return exitFailure, err
	}
	e := audit.Entry{Time: time.Now().UTC(), Action: audit.ActionKeys, Detail: keysDetail(string(change), keyset.File, keyset.KEK, before, nil)}
	e.Detail["key_id"] = strconv.FormatUint(kid, 10)
	if where != "" {
		e.Detail["vault"] = vaultLabel(where)
	}
	refuse := func(outcome string, err error) (int, error) {
		return closeAudit(a, exitFailure, a.failed(ctx, e, 0, outcome, err))
	}
	data, err := keys.ChangeKey(old, kek, uint32(kid), change)
	if err != nil {
		return refuse(audit.OutcomeRefused, fmt.Errorf("%s: %w", keyset.File, err))
	}
	after, err := keys.Parse(data, kek)
	if err != nil {
		return refuse(audit.OutcomeFailed, fmt.Errorf("%s: %w", keyset.File, err))
	}
	write := func() (int, error) {
		// The keyset after the change, once it is to be written (a
		// refusal records the keyset as it stays).
		for k, v := range keysDetail(string(change), keyset.File, keyset.KEK, nil, after) {
			e.Detail[k] = v
		}
		if err := a.begin(ctx, e); err != nil {
			return closeAudit(a, exitFailure, err)
		}
		begun := a.seq()
		code, err := writeKeyset(keyset.File, data)
		if err != nil {
			err = a.failed(ctx, e, begun, audit.OutcomeFailed, fmt.Errorf("writing %s: %w", keyset.File, err))
		}
		return closeAudit(a, code, err)
	}
	if change == keys.EnableKey {
		fmt.Fprintf(out, "key %d enabled: it opens records again (the primary key still seals new ones)\n", kid)
		return write()
	}
	v, err := migrate.Open(ctx, where, true)
	if err != nil {
		return refuse(audit.OutcomeFailed, fmt.Errorf("--vault: %w", err))
	}
	defer v.Close()
	kf, ok := v.Backend.(vault.KeyForgetter)
	if !ok {
		return refuse(audit.OutcomeFailed, fmt.Errorf("%s cannot tell which records a key sealed", v.Name))
	}
	inUse, err := kf.ForgetSealingKey(ctx, uint32(kid))
	if err != nil {
		return refuse(audit.OutcomeFailed, err)
	}
	if inUse > 0 {
		return refuse(audit.OutcomeRefused, fmt.Errorf("key %d still seals %d records of the %s: refused, nothing changed. "+
			"Load the rotated keyset in the gateway and let its background re-seal finish (tokengate_reseal_remaining 0), or run caddy tokengate reseal; then run this again",
			kid, inUse, v.Name))
	}
	fmt.Fprintf(out, "no record of the %s is sealed with key %d; it is no longer in the list of keys the vault needs\n", v.Name, kid)
	if change == keys.DestroyKey {
		fmt.Fprintf(out, "key %d destroyed: deleted from the keyset; nothing it sealed, backups included, opens again\n", kid)
	} else {
		fmt.Fprintf(out, "key %d disabled: it opens and seals nothing; it stays in the keyset file, wrapped (caddy tokengate keys enable %d brings it back; --destroy deletes it)\n", kid, kid)
	}
	return write()
}
