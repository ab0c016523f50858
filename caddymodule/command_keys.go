package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/migrate"
)

// cmdKeysStatus runs caddy tokengate keys status: it prints the Tink key
// ids that sealed the records of the vault named by where (bolt:<path> or
// postgres:<dsn>), ids only, never key material. A vault written by an
// older release, whose list is incomplete, is scanned and its list
// completed first: what a gateway otherwise does in the background after
// its start. With a keyset (its file or variable), it says whether the
// keyset holds every one, and the exit status is non-zero when it does not:
// a check to run before pointing a gateway at a vault, or before changing
// its keyset.
func cmdKeysStatus(ctx context.Context, where string, keyset keys.Options, out io.Writer) (int, error) {
	if where == "" {
		return exitFailure, errors.New("usage: caddy tokengate keys status --vault bolt:<path>|postgres:<dsn> [--keyset <file> | --keyset-env <VARIABLE> [--kek-env <VARIABLE>]]")
	}
	var ks *keys.Keys
	if keyset.File != "" || keyset.Env != "" {
		var err error
		if ks, _, err = keys.Load(keyset); err != nil { // no DevFile: never a new keyset
			return exitFailure, err
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	v, err := migrate.Open(ctx, where, true)
	if err != nil {
		return exitFailure, fmt.Errorf("--vault: %w", err)
	}
	defer v.Close()
	kr, ok := v.Backend.(interface {
		vault.Exporter
		vault.KeyRecorder
	})
	if !ok {
		return exitFailure, fmt.Errorf("%s does not record its keys", v.Name)
	}
	sk, err := kr.SealingKeys(ctx)
	if err != nil {
		return exitFailure, err
	}
	fmt.Fprintf(out, "vault: %s\n", v.Name)
	if !sk.Complete {
		fmt.Fprintf(out, "the list of keys was incomplete (records written by an older release): scanning every record\n")
		if sk, err = vault.BackfillSealingKeys(ctx, kr); err != nil {
			return exitFailure, err
		}
	}
	fmt.Fprintf(out, "records sealed with key: %s (the list is complete)\n", orNoKey(sk.IDs))
	if ks == nil {
		return exitSuccess, nil
	}
	fmt.Fprintf(out, "keyset holds key: %s (primary %d)\n", vault.KeyIDList(ks.KeyIDs()), ks.PrimaryKeyID())
	if missing := vault.MissingKeys(sk.IDs, ks.HasKeyID); len(missing) > 0 {
		return exitFailure, fmt.Errorf("the keyset does not hold key %s, which sealed records in the vault: a gateway with it refuses to start", vault.KeyIDList(missing))
	}
	fmt.Fprintln(out, "the keyset holds every key that sealed a record")
	return exitSuccess, nil
}

func orNoKey(ids []uint32) string {
	if len(ids) == 0 {
		return "none (no record yet)"
	}
	return vault.KeyIDList(ids)
}
