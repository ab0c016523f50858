package caddymodule

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// resealPAN is the card of record i of the reseal tests.
func resealPAN(i int) string { return fmt.Sprintf("41111111%08d", i) }

// fillForReseal stores old first-format records (sealed before the token
// was bound) and current ones.
func fillForReseal(t *testing.T, v vault.Vault, ks *keys.Keys, old, current int) {
	t.Helper()
	for i := range old + current {
		token, pan := fmt.Sprintf("tok_%d", i), resealPAN(i)
		fp := ks.Fingerprint("acme", pan)
		var sealed []byte
		var err error
		if i < old {
			sealed, err = ks.SealLegacyForTests("acme", fp, keys.Secrets{PAN: pan})
		} else {
			sealed, err = ks.Seal("acme", fp, token, keys.Secrets{PAN: pan})
		}
		if err != nil {
			t.Fatal(err)
		}
		rec := vaulttest.Sample("acme", token, fp)
		rec.Sealed = sealed
		if _, _, err := v.Put(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

// checkResealed opens every record with ks as detokenize does and wants it
// current (token bound, primary key).
func checkResealed(t *testing.T, v vault.Vault, ks *keys.Keys, n int) {
	t.Helper()
	for i := range n {
		token := fmt.Sprintf("tok_%d", i)
		rec, err := v.Get(context.Background(), "acme", token)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ks.Open("acme", rec.Fingerprint, token, rec.Sealed)
		if err != nil || s.PAN != resealPAN(i) || !ks.Current(rec.Sealed) {
			t.Fatalf("%s after reseal: current %v, %v", token, ks.Current(rec.Sealed), err)
		}
	}
}

// noCardData fails if any of the records' PANs is in the command's output.
func noCardData(t *testing.T, n int, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		for i := range n {
			if strings.Contains(out, resealPAN(i)) {
				t.Fatal("the command printed a card number")
			}
		}
	}
}

// TestResealCommand: caddy tokengate reseal with real flags re-seals a
// bbolt vault's old records (3 of 5) with the token bound, prints counts
// and a progress bar and no card data; a second run re-seals nothing;
// after caddy tokengate rotate it moves every record to the new primary
// key; a vault in use and missing flags are clear errors.
func TestResealCommand(t *testing.T) {
	dir := t.TempDir()
	keyset := filepath.Join(dir, "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset); err != nil {
		t.Fatal(err)
	}
	ks, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vault.db")
	b, err := boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fillForReseal(t, b, ks, 3, 2)
	b.Close()

	out, progress, err := runTokengate(t, "reseal", "--keyset", keyset, "--vault", "bolt:"+path)
	if err != nil || !strings.Contains(out, "records: 5 in the vault; 3 re-sealed, 2 already current, 0 deleted meanwhile, 0 unreadable") ||
		!strings.Contains(progress, "records") {
		t.Fatalf("first run: %v\n%s\n%s", err, out, progress)
	}
	noCardData(t, 5, out, progress)
	out, _, err = runTokengate(t, "reseal", "--keyset", keyset, "--vault", "bolt:"+path)
	if err != nil || !strings.Contains(out, "0 re-sealed, 5 already current") {
		t.Fatalf("second run: %v\n%s", err, out)
	}

	// Rotation: every record moves to the new primary key.
	if _, _, err := runTokengate(t, "rotate", "--keyset", keyset); err != nil {
		t.Fatal(err)
	}
	out, _, err = runTokengate(t, "reseal", "--keyset", keyset, "--vault", "bolt:"+path)
	if err != nil || !strings.Contains(out, "5 re-sealed, 0 already current") {
		t.Fatalf("after rotate: %v\n%s", err, out)
	}
	rotated, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	b, err = boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	checkResealed(t, b, rotated, 5)
	// Held by a gateway: said so.
	if _, _, err := runTokengate(t, "reseal", "--keyset", keyset, "--vault", "bolt:"+path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a vault in use: %v", err)
	}
	b.Close()

	if _, _, err := runTokengate(t, "reseal", "--keyset", keyset); err == nil || !strings.Contains(err.Error(), "--vault") {
		t.Fatalf("no --vault: %v", err)
	}
	if _, _, err := runTokengate(t, "reseal", "--vault", "bolt:"+path); err == nil || !strings.Contains(err.Error(), "--keyset") {
		t.Fatalf("no --keyset: %v", err)
	}
	other := filepath.Join(dir, "other.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", other); err != nil {
		t.Fatal(err)
	}
	out, _, err = runTokengate(t, "reseal", "--keyset", other, "--vault", "bolt:"+path)
	if err == nil || !strings.Contains(out, "5 unreadable") {
		t.Fatalf("another keyset: %v\n%s", err, out)
	}
	if data, _ := os.ReadFile(path); len(data) == 0 {
		t.Fatal("vault file gone")
	}
}

// TestResealCommandPostgres: the same on PostgreSQL, while a gateway's
// connection keeps using the database; its records stay usable throughout
// and are re-sealed with compare-and-set writes.
func TestResealCommandPostgres(t *testing.T) {
	dir := t.TempDir()
	keyset := filepath.Join(dir, "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset); err != nil {
		t.Fatal(err)
	}
	ks, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	dsn := vaulttest.PostgresDatabase(t)
	pg, err := pgvault.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	fillForReseal(t, pg, ks, 4, 1)
	out, progress, err := runTokengate(t, "reseal", "--keyset", keyset, "--vault", "postgres:"+dsn)
	if err != nil || !strings.Contains(out, "records: 5 in the vault; 4 re-sealed, 1 already current") || strings.Contains(out+progress, dsn) {
		t.Fatalf("postgres: %v\n%s", err, out)
	}
	noCardData(t, 5, out, progress)
	checkResealed(t, pg, ks, 5)
	out, _, err = runTokengate(t, "reseal", "--keyset", keyset, "--vault", "postgres:"+dsn)
	if err != nil || !strings.Contains(out, "0 re-sealed, 5 already current") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
}
