package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// newKeyset makes a keyset file with caddy tokengate keygen and loads it.
func newKeyset(t *testing.T, name string) (string, *keys.Keys) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if _, _, err := runTokengate(t, "keygen", "--keyset", path); err != nil {
		t.Fatal(err)
	}
	ks, _, err := keys.Load(keys.Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	return path, ks
}

// keyID renders a key id as the refusals do.
func keyID(id uint32) string { return strconv.FormatUint(uint64(id), 10) }

// TestStartRefusesKeysetMissingKey: a gateway whose vault holds cards
// sealed with a key its keyset lacks does not start, and says which key, on
// bbolt and on PostgreSQL (which had no check at all before: it had no
// sample to open). The same keyset rotated (it keeps the old key) starts.
func TestStartRefusesKeysetMissingKey(t *testing.T) {
	for _, backend := range []string{"bolt", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			pathA, ksA := newKeyset(t, "a.json")
			pathB, _ := newKeyset(t, "b.json")
			g := &gateway{t: t, dir: t.TempDir()}
			if backend == "postgres" {
				g.vault = "vault postgres {\n\t\t\tdsn " + vaulttest.PostgresDatabase(t) + "\n\t\t}"
			}
			g.start("keyset_file "+pathA, defaultSites)
			if in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); in.status != http.StatusOK {
				t.Fatalf("tokenize: %d %s", in.status, in.body)
			}
			g.loadError(g.config("keyset_file "+pathB, defaultSites), "does not hold key "+keyID(ksA.PrimaryKeyID())+", which sealed records there")

			rotated := filepath.Join(t.TempDir(), "rotated.json")
			data, err := os.ReadFile(pathA)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(rotated, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := runTokengate(t, "rotate", "--keyset", rotated); err != nil {
				t.Fatal(err)
			}
			g.load(g.config("keyset_file "+rotated, defaultSites))
		})
	}
}

// sealedVault fills v with n cards of tenant_a sealed with ks, as a gateway
// with that keyset would have, their tokens tok_<prefix>_<i>.
func sealedVault(t *testing.T, v vault.Vault, ks *keys.Keys, prefix string, n int) {
	t.Helper()
	for i := range n {
		pan := fmt.Sprintf("41111111111%05d", i)
		fp := ks.Fingerprint("tenant_a", pan)
		tok := fmt.Sprintf("tok_%s_%d", prefix, i)
		sealed, err := ks.Seal("tenant_a", fp, tok, keys.Secrets{PAN: pan})
		if err != nil {
			t.Fatal(err)
		}
		rec := vault.Record{Tenant: "tenant_a", Token: tok, Fingerprint: fp, Sealed: sealed, Brand: "visa", BIN: pan[:6], Last4: pan[12:]}
		if _, _, err := v.Put(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateAcrossKeysetsCommand: caddy tokengate migrate into a vault
// whose cards another keyset sealed is refused, naming both keysets' key
// ids, exit status non-zero and nothing copied (it reported "3 copied, 0
// conflicts" and the gateway then failed those payments). Against the
// target gateway's keyset (--keyset) the check is exact. Into an empty
// vault it copies.
func TestMigrateAcrossKeysetsCommand(t *testing.T) {
	ctx := context.Background()
	_, ksA := newKeyset(t, "a.json")
	pathB, ksB := newKeyset(t, "b.json")
	src := filepath.Join(t.TempDir(), "vault.db")
	b, err := boltvault.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	sealedVault(t, b, ksA, "a", 3)
	b.Close()
	dsn := vaulttest.PostgresDatabase(t)
	pg, err := pgvault.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	sealedVault(t, pg, ksB, "b", 2)

	a, bID := keyID(ksA.PrimaryKeyID()), keyID(ksB.PrimaryKeyID())
	out, _, err := runTokengate(t, "migrate", "--from", "bolt:"+src, "--to", "postgres:"+dsn)
	if err == nil || !strings.Contains(err.Error(), "target keys: "+bID+"; source keys: "+a) || strings.Contains(out, "copied") {
		t.Fatalf("across keysets: %v\n%s", err, out)
	}
	if n, _ := pg.CountRecords(ctx); n != 2 {
		t.Fatalf("the refused migrate wrote: the target holds %d records", n)
	}
	_, _, err = runTokengate(t, "migrate", "--from", "bolt:"+src, "--to", "postgres:"+dsn, "--keyset", pathB)
	if err == nil || !strings.Contains(err.Error(), "does not hold key "+a) {
		t.Fatalf("--keyset B: %v", err)
	}

	empty := vaulttest.PostgresDatabase(t)
	out, _, err = runTokengate(t, "migrate", "--from", "bolt:"+src, "--to", "postgres:"+empty)
	if err != nil || !strings.Contains(out, "3 copied") {
		t.Fatalf("into an empty vault: %v\n%s", err, out)
	}
}

// TestUnreadableRecordThroughCaddy: a payment whose card record does not
// open with the gateway's keys (here re-sealed behind its back with
// another keyset) is answered 500 record_unreadable in words that say so,
// not 503 "The card could not be stored safely"; it is logged as an error
// with the tenant, the key id and the request id, never the token, and
// counted. Nothing is forwarded.
func TestUnreadableRecordThroughCaddy(t *testing.T) {
	ctx := context.Background()
	pathA, ksA := newKeyset(t, "a.json")
	_, ksB := newKeyset(t, "b.json")
	g := startGateway(t, "keyset_file "+pathA)
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	tok := str(decode(t, in.body), "card.number")
	backend := g.app().vault.(*BoltVault).bolt
	rec, err := backend.Get(ctx, "tenant_a", tok)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := ksA.Open("tenant_a", rec.Fingerprint, tok, rec.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Sealed, err = ksB.Seal("tenant_a", rec.Fingerprint, tok, secrets); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	vault.Invalidate(g.app().stack.Load().Records, "tenant_a", tok)

	series := `tokengate_records_unreadable_total{reason="other_keyset",rule_set="psp"}`
	before := metricValue(g.scrape(), series)
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	body := decode(t, out.body)
	if out.status != http.StatusInternalServerError || str(body, "error_code") != "record_unreadable" ||
		!strings.Contains(str(body, "error_message"), "cannot be opened with this gateway's keys") || strings.Contains(out.body, "stored safely") {
		t.Fatalf("answer: %d %s", out.status, out.body)
	}
	for _, secret := range []string{visaPAN, secrets.DPAN, tok} {
		if secret != "" && strings.Contains(out.body+fmt.Sprint(out.header), secret) {
			t.Fatal("the answer holds the card, its DPAN or the token")
		}
	}
	if got := metricValue(g.scrape(), series); got != before+1 {
		t.Errorf("%s = %v, want %v", series, got, before+1)
	}
	msg := "sealed with a keyset this gateway does not hold"
	wantRequestIDLogged(t, g, msg)
	for _, l := range strings.Split(g.log(), "\n") {
		if !strings.Contains(l, msg) {
			continue
		}
		if !strings.Contains(l, `"level":"error"`) || !strings.Contains(l, `"tenant":"tenant_a"`) || !strings.Contains(l, `"key_id":`+keyID(ksB.PrimaryKeyID())) || strings.Contains(l, tok) {
			t.Errorf("the log line: %s", l)
		}
	}
}

// TestOlderVaultScannedInBackground: a bbolt vault written by a release
// that did not record keys starts on the sampled check, as before, and a
// background scan lists every key. A card of a key the keyset lacks, which
// the sample (the newest tokens of each tenant) missed, is named by the
// scan as an error, and the next start refuses it.
func TestOlderVaultScannedInBackground(t *testing.T) {
	pathA, ksA := newKeyset(t, "a.json")
	_, ksB := newKeyset(t, "b.json")
	g := &gateway{t: t, dir: t.TempDir()}
	path := filepath.Join(g.dir, "vault.db")
	b, err := boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sealedVault(t, b, ksB, "0", 1) // first in token order: the sample takes the last 3
	sealedVault(t, b, ksA, "9", 4)
	b.Close()
	dropMeta(t, path)

	g.start("keyset_file "+pathA, defaultSites)
	waitForText(t, g.logFile, "the vault holds records this keyset cannot open")
	if !strings.Contains(g.log(), "does not hold key "+keyID(ksB.PrimaryKeyID())) {
		t.Fatalf("the scan's error does not name B's key:\n%s", g.log())
	}
	g.loadError(g.config("keyset_file "+pathA+"\n\t\tbody_read_timeout 9s", defaultSites), "does not hold key "+keyID(ksB.PrimaryKeyID()))
}

// dropMeta removes the bucket where a bbolt vault lists its keys, as a
// release that did not record them left the file.
func dropMeta(t *testing.T, path string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("meta")) }); err != nil {
		t.Fatal(err)
	}
}

// TestKeysStatusCommand: caddy tokengate keys status lists the keys that
// sealed a vault's records, completing an older vault's list by a scan, and
// with --keyset says whether that keyset holds them (exit status non-zero
// when not).
func TestKeysStatusCommand(t *testing.T) {
	pathA, ksA := newKeyset(t, "a.json")
	pathB, _ := newKeyset(t, "b.json")
	path := filepath.Join(t.TempDir(), "vault.db")
	b, err := boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sealedVault(t, b, ksA, "a", 2)
	b.Close()
	dropMeta(t, path)
	a := keyID(ksA.PrimaryKeyID())

	out, _, err := runTokengate(t, "keys", "status", "--vault", "bolt:"+path)
	if err != nil || !strings.Contains(out, "scanning every record") || !strings.Contains(out, "records sealed with key: "+a+" (the list is complete)") {
		t.Fatalf("an older vault: %v\n%s", err, out)
	}
	out, _, err = runTokengate(t, "keys", "status", "--vault", "bolt:"+path, "--keyset", pathA)
	if err != nil || strings.Contains(out, "scanning") || !strings.Contains(out, "the keyset holds every key") {
		t.Fatalf("its keyset: %v\n%s", err, out)
	}
	if _, _, err = runTokengate(t, "keys", "status", "--vault", "bolt:"+path, "--keyset", pathB); err == nil || !strings.Contains(err.Error(), "does not hold key "+a) {
		t.Fatalf("another keyset: %v", err)
	}
}

// TestVaultDownPaymentWording: a payment while the vault fails is still 503
// vault_unavailable, in words about reading the card, not storing it.
func TestVaultDownPaymentWording(t *testing.T) {
	g := startGateway(t, "")
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	records := g.app().stack.Load().Records
	if err := records.Close(); err != nil {
		t.Fatal(err)
	}
	vault.Invalidate(records, "tenant_a", str(decode(t, in.body), "card.number")) // read from the closed file, not the cache
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	if body := decode(t, out.body); out.status != http.StatusServiceUnavailable || str(body, "error_code") != "vault_unavailable" ||
		!strings.Contains(str(body, "error_message"), "could not be read from the vault") {
		t.Fatalf("vault down: %d %s", out.status, out.body)
	}
}
