package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

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
	if err := printKeyCounts(ctx, kr, sk.IDs, ks, out); err != nil {
		return exitFailure, err
	}
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

// printKeyCounts prints how many records each key sealed, counted from the
// records as they are now (the recorded list only ever grows): a key with
// 0 records can be disabled (caddy tokengate keys disable).
func printKeyCounts(ctx context.Context, v vault.Exporter, recorded []uint32, ks *keys.Keys, out io.Writer) error {
	counts, err := vault.CountSealingKeys(ctx, v)
	if err != nil {
		return err
	}
	ids := slices.Clone(recorded)
	for _, id := range counts.IDs() {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if ks != nil {
		for _, id := range ks.KeyIDs() {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	fmt.Fprintf(out, "records per key (%d records):\n", counts.Total())
	for _, id := range ids {
		note := ""
		if ks != nil && id == ks.PrimaryKeyID() {
			note = " (primary)"
		} else if ks != nil && !ks.HasKeyID(id) {
			note = " (not in the keyset)"
		}
		fmt.Fprintf(out, "  key %d: %d records%s\n", id, counts.ByKey[id], note)
	}
	if counts.NoKeyID > 0 {
		fmt.Fprintf(out, "  no key id: %d records\n", counts.NoKeyID)
	}
	return nil
}
