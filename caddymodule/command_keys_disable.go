package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

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
func cmdKeysDisable(ctx context.Context, verb, id string, keyset keys.Options, where string, destroy bool, out io.Writer) (int, error) {
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
	data, err := keys.ChangeKey(old, kek, uint32(kid), change)
	if err != nil {
		return exitFailure, fmt.Errorf("%s: %w", keyset.File, err)
	}
	if change == keys.EnableKey {
		fmt.Fprintf(out, "key %d enabled: it opens records again (the primary key still seals new ones)\n", kid)
		return writeKeyset(keyset.File, data)
	}
	v, err := migrate.Open(ctx, where, true)
	if err != nil {
		return exitFailure, fmt.Errorf("--vault: %w", err)
	}
	defer v.Close()
	kf, ok := v.Backend.(vault.KeyForgetter)
	if !ok {
		return exitFailure, fmt.Errorf("%s cannot tell which records a key sealed", v.Name)
	}
	inUse, err := kf.ForgetSealingKey(ctx, uint32(kid))
	if err != nil {
		return exitFailure, err
	}
	if inUse > 0 {
		return exitFailure, fmt.Errorf("key %d still seals %d records of the %s: refused, nothing changed. "+
			"Load the rotated keyset in the gateway and let its background re-seal finish (tokengate_reseal_remaining 0), or run caddy tokengate reseal; then run this again",
			kid, inUse, v.Name)
	}
	fmt.Fprintf(out, "no record of the %s is sealed with key %d; it is no longer in the list of keys the vault needs\n", v.Name, kid)
	if change == keys.DestroyKey {
		fmt.Fprintf(out, "key %d destroyed: deleted from the keyset; nothing it sealed, backups included, opens again\n", kid)
	} else {
		fmt.Fprintf(out, "key %d disabled: it opens and seals nothing; it stays in the keyset file, wrapped (caddy tokengate keys enable %d brings it back; --destroy deletes it)\n", kid, kid)
	}
	return writeKeyset(keyset.File, data)
}
