package caddymodule

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestBackupUnderLoadRestores: `caddy tokengate backup` takes a copy of a
// running bbolt gateway's vault through the admin endpoint while another
// client tokenizes new cards; the copy verifies (also with the keyset);
// `restore` refuses the vault file the running gateway holds and writes a
// fresh one; a gateway started on it (new data directory, the same keyset,
// restored apart) pays every token issued before the backup through
// detokenize, with its network token (the builtin service's state is in the
// copy), and gives the same card its old token.
func TestBackupUnderLoadRestores(t *testing.T) {
	g := startGateway(t, "")
	const before = 30
	checkouts := make([]string, before)
	for i := range before {
		in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(newPAN(i)))
		if in.status != http.StatusOK {
			t.Fatalf("tokenize %d: %d %s", i, in.status, in.body)
		}
		checkouts[i] = in.body
	}

	// Load: new cards, one after another, until told to stop.
	var (
		stop   atomic.Bool
		loaded atomic.Int64
		wg     sync.WaitGroup
	)
	url := g.addr(inboundURL + "/checkout")
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1000; !stop.Load(); i++ {
			r, err := send(g.client(), url, checkoutJSON(newPAN(i)))
			if err != nil || r.status != http.StatusOK {
				t.Errorf("tokenize during the backup: %v %d %s", err, r.status, r.body)
				return
			}
			loaded.Add(1)
		}
	}()
	waitFor(t, "cards tokenized by the load", func() bool { return loaded.Load() >= 5 })
	backup := filepath.Join(t.TempDir(), "backups", "vault-1.db")
	out, _, err := runTokengate(t, "backup", "--to", backup, "--address", g.addr("localhost:2999"))
	during := loaded.Load()
	waitFor(t, "cards tokenized after the backup", func() bool { return loaded.Load() >= during+5 })
	stop.Store(true)
	wg.Wait()
	if err != nil || !strings.Contains(out, "backup "+backup) || !strings.Contains(out, "verified") || !strings.Contains(out, "tenant_a ") {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	t.Logf("%s(%d cards tokenized by the load)", out, loaded.Load())
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if _, err := os.Stat(backup + ".sha256"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runTokengate(t, "backup", "--to", backup, "--address", g.addr("localhost:2999")); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}

	// The keyset is backed up apart: here, the development keyset file.
	keyset := filepath.Join(g.dir, "dev-keyset.json")
	out, _, err = runTokengate(t, "verify-backup", "--from", backup, "--verify-keys", "--keyset", keyset)
	if err != nil || !strings.Contains(out, "opens with the keyset") {
		t.Fatalf("verify-backup --verify-keys: %v\n%s", err, out)
	}

	// The running gateway's file is refused.
	_, _, err = runTokengate(t, "restore", "--from", backup, "--vault", filepath.Join(g.dir, "vault.db"), "--force")
	if err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Fatalf("restore over the running gateway's vault: %v", err)
	}

	fresh := &gateway{t: t, dir: t.TempDir()}
	restored := filepath.Join(fresh.dir, "vault.db")
	out, _, err = runTokengate(t, "restore", "--from", backup, "--vault", "bolt:"+restored, "--verify-keys", "--keyset", keyset)
	if err != nil || !strings.Contains(out, "restored") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(keyset)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fresh.dir, "dev-keyset.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	startGatewayWith(t, fresh) // replaces g's config: g's vault file is closed
	for i, body := range checkouts {
		pay := fresh.post(outboundURL+"/payments", jsonCT, body, "X-Tokengate-Api-Key", apiKeyA)
		if pay.status != http.StatusOK || pay.header.Get(InjectedHeader) != "card.number=network_token" {
			t.Fatalf("card %d after the restore: %d %q %s", i, pay.status, pay.header.Get(InjectedHeader), pay.body)
		}
		assertNetworkToken(t, str(decode(t, pay.body), "card.number"), newPAN(i))
	}
	again := fresh.post(inboundURL+"/checkout", jsonCT, checkoutJSON(newPAN(0)))
	if str(decode(t, again.body), "card.number") != str(decode(t, checkouts[0]), "card.number") {
		t.Fatalf("the same card after the restore got another token: %s", again.body)
	}
}

// TestBackupRefused: a truncated, altered, or unhashed copy, and one the
// keyset does not open, is refused by verify-backup and restore (which
// then writes nothing); an existing vault file is replaced only with
// --force, damaged or not, and kept unchanged beside it; the endpoint is on
// the admin endpoint only, GET only, behind its origin check.
func TestBackupRefused(t *testing.T) {
	g := startGateway(t, "")
	for i := range 3 {
		g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(newPAN(i)))
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	if out, _, err := runTokengate(t, "backup", "--to", good, "--address", g.addr("localhost:2999")); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(good)
	sum, _ := os.ReadFile(good + ".sha256")
	copyWith := func(name string, data []byte, withSum bool) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if withSum {
			if err := os.WriteFile(p+".sha256", sum, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	altered := append([]byte(nil), raw...)
	altered[len(altered)/2] ^= 0x01
	otherKeys := filepath.Join(dir, "other-keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", otherKeys); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file, want string
		extra            []string
	}{
		{"truncated", copyWith("truncated.db", raw[:len(raw)/3], true), "truncated or damaged", nil},
		{"altered", copyWith("altered.db", altered, true), "truncated or damaged", nil},
		{"no hash", copyWith("nohash.db", raw, false), "SHA-256 file is needed", nil},
		{"other keyset", good, "the keyset does not open the record", []string{"--verify-keys", "--keyset", otherKeys}},
	} {
		if _, _, err := runTokengate(t, append([]string{"verify-backup", "--from", c.file}, c.extra...)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: verify-backup: %v; want %q", c.name, err, c.want)
		}
		target := filepath.Join(dir, "restored-"+strings.ReplaceAll(c.name, " ", "-"), "vault.db")
		if _, _, err := runTokengate(t, append([]string{"restore", "--from", c.file, "--vault", target}, c.extra...)...); err == nil || !strings.Contains(err.Error(), "refusing to restore") {
			t.Errorf("%s: restore: %v", c.name, err)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("%s: restore wrote %s (%v)", c.name, target, err)
		}
	}

	// An existing (here damaged) vault file no gateway holds: replaced only with --force,
	// and kept.
	existing := filepath.Join(dir, "existing", "vault.db")
	if err := os.MkdirAll(filepath.Dir(existing), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(existing, []byte("a damaged vault file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runTokengate(t, "restore", "--from", good, "--vault", existing); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore over an existing file: %v", err)
	}
	out, _, err := runTokengate(t, "restore", "--from", good, "--vault", existing, "--force")
	kept, _ := filepath.Glob(existing + ".replaced-*")
	if err != nil || len(kept) != 1 || !strings.Contains(out, kept[0]) {
		t.Fatalf("restore --force: %v %v\n%s", err, kept, out)
	}
	if restored, _ := os.ReadFile(existing); !bytes.Equal(restored, raw) {
		t.Fatal("restore --force did not put the backup in place")
	}
	if old, _ := os.ReadFile(kept[0]); string(old) != "a damaged vault file" {
		t.Fatalf("the replaced file was changed: %q", old)
	}

	// Only the admin endpoint serves it, to GET, from its own origin.
	site := g.do(mustRequest(t, http.MethodGet, inboundURL+backupPath))
	if site.header.Get(headerBackupSize) != "" || strings.HasPrefix(site.body, string(raw[:16])) {
		t.Fatalf("a site served the backup: %d", site.status)
	}
	post := g.do(mustRequest(t, http.MethodPost, g.addr("http://localhost:2999"+backupPath)))
	if post.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d %s", post.status, post.body)
	}
	cross := mustRequest(t, http.MethodGet, g.addr("http://localhost:2999"+backupPath))
	cross.Header.Set("Origin", "https://evil.example")
	if r := g.do(cross); r.status != http.StatusForbidden || r.header.Get(headerBackupSize) != "" {
		t.Fatalf("another origin: %d %s", r.status, r.body)
	}
}

// TestBackupPostgresNotImplemented: on a PostgreSQL vault the endpoint
// answers 501 naming pg_dump, and the command says so.
func TestBackupPostgresNotImplemented(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	g := startGatewayWith(t, &gateway{t: t, dir: t.TempDir(), vault: "vault postgres {\n\t\t\tdsn " + dsn + "\n\t\t}"})
	r := g.do(mustRequest(t, http.MethodGet, g.addr("http://localhost:2999"+backupPath)))
	if r.status != http.StatusNotImplemented || !strings.Contains(r.body, "pg_dump") || strings.Contains(r.body, dsn) {
		t.Fatalf("PostgreSQL vault: %d %s", r.status, r.body)
	}
	to := filepath.Join(t.TempDir(), "x.db")
	if _, _, err := runTokengate(t, "backup", "--to", to, "--address", g.addr("localhost:2999")); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("backup command: %v", err)
	}
	if _, err := os.Stat(to); !os.IsNotExist(err) {
		t.Fatalf("a file was written: %v", err)
	}
}

// waitFor waits (bounded generously) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 30 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPostgresDumpRestore is the README's PostgreSQL backup: pg_dump (one
// transaction, so a consistent snapshot) taken while the gateway runs,
// restored with pg_restore into a new database, whole (a database of
// tokengate's own) or as the two tables' data into a schema a gateway
// created (a shared database); a gateway on either, with the same keyset,
// pays every token.
func TestPostgresDumpRestore(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	dir := t.TempDir()
	keyset := filepath.Join(dir, "dev-keyset.json")
	pgGateway := func(dsn string) *gateway {
		return &gateway{t: t, dir: t.TempDir(), vault: "dev_keyset_file " + keyset + "\n\t\tvault postgres {\n\t\t\tdsn " + dsn + "\n\t\t}"}
	}
	src := vaulttest.PostgresDatabase(t)
	g := startGatewayWith(t, pgGateway(src))
	var checkouts []string
	for i := range 10 {
		in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(newPAN(i)))
		if in.status != http.StatusOK {
			t.Fatalf("tokenize: %d %s", in.status, in.body)
		}
		checkouts = append(checkouts, in.body)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	whole := filepath.Join(dir, "tokengate.dump")
	run("pg_dump", "--format=custom", "--no-owner", "--file", whole, "--dbname", src)
	tables := filepath.Join(dir, "tokengate-data.dump")
	run("pg_dump", "--format=custom", "--data-only", "--table", "tokengate_records", "--table", "tokengate_kv", "--file", tables, "--dbname", src)

	pays := func(g *gateway) {
		t.Helper()
		for i, body := range checkouts {
			pay := g.post(outboundURL+"/payments", jsonCT, body, "X-Tokengate-Api-Key", apiKeyA)
			if pay.status != http.StatusOK || pay.header.Get(InjectedHeader) != "card.number=network_token" {
				t.Fatalf("card %d after the restore: %d %q %s", i, pay.status, pay.header.Get(InjectedHeader), pay.body)
			}
			assertNetworkToken(t, str(decode(t, pay.body), "card.number"), newPAN(i))
		}
	}

	// A database of tokengate's own: all of it.
	dst := vaulttest.PostgresDatabase(t)
	run("pg_restore", "--no-owner", "--exit-on-error", "--dbname", dst, whole)
	pays(startGatewayWith(t, pgGateway(dst)))

	// A shared database: the schema from a gateway's start, then the data.
	shared := vaulttest.PostgresDatabase(t)
	sg := startGatewayWith(t, pgGateway(shared))
	sg.load(":9080 {\n\trespond \"stopped\"\n}\n")
	run("pg_restore", "--data-only", "--exit-on-error", "--dbname", shared, tables)
	pays(startGatewayWith(t, sg))
}
