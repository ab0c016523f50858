package caddymodule

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// cliEntries reads the entries of the audit file path.
func cliEntries(t *testing.T, path string) []audit.Entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var e audit.Entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("%s: a line that is not an entry: %v", path, err)
		}
		out = append(out, e)
	}
	return out
}

// cliFind returns the entries of action whose Detail has every pair of
// detail (key, value).
func cliFind(entries []audit.Entry, action string, detail ...string) []audit.Entry {
	var out []audit.Entry
next:
	for _, e := range entries {
		if e.Action != action {
			continue
		}
		for i := 0; i+1 < len(detail); i += 2 {
			if e.Detail[detail[i]] != detail[i+1] {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// verifyCLIAudit runs caddy tokengate audit verify on the file.
func verifyCLIAudit(t *testing.T, file, keyset string, extra ...string) {
	t.Helper()
	out, _, err := runTokengate(t, append([]string{"audit", "verify", "--file", file, "--keyset", keyset}, extra...)...)
	if err != nil || !strings.Contains(out, "verified") {
		t.Fatalf("audit verify of the command-line chain: %v\n%s", err, out)
	}
}

// keyMaterial returns the strings that would show the keyset file's keys:
// every long string of its JSON, and the trailing 32 bytes of each one that
// decodes as base64 (a Tink key's value ends with its key bytes), as
// base64 and hex.
func keyMaterial(t *testing.T, keyset string) []string {
	t.Helper()
	data, err := os.ReadFile(keyset)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			if len(v) < 24 {
				return
			}
			out = append(out, v)
			if raw, err := base64.StdEncoding.DecodeString(v); err == nil && len(raw) >= 32 {
				k := raw[len(raw)-32:]
				out = append(out, base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k), hex.EncodeToString(k))
			}
		}
	}
	walk(v)
	if len(out) == 0 {
		t.Fatal("no key material found in the keyset file to look for")
	}
	return out
}

// noSecretsIn fails if any of secrets is in the file.
func noSecretsIn(t *testing.T, file string, what string, secrets []string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(data, []byte(s)) {
			t.Fatalf("the audit file holds %s", what)
		}
	}
}

// TestCommandAuditRotate: keygen and rotate with --audit-file each write a
// keys entry (operation, key ids and primary before and after, the KEK
// described, the command, user and host, the chain cli@<host>) and audit
// verify passes on the file; TOKENGATE_AUDIT_FILE is the default; wrap
// records the new KEK by its variable's name; no key material is in the
// file.
func TestCommandAuditRotate(t *testing.T) {
	t.Setenv(auditFileEnv, "")
	dir := t.TempDir()
	keyset, file := filepath.Join(dir, "keyset.json"), filepath.Join(dir, "audit", "cli.log")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset, "--audit-file", file); err != nil {
		t.Fatal(err)
	}
	before, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	secrets := keyMaterial(t, keyset)
	if _, _, err := runTokengate(t, "rotate", "--keyset", keyset, "--audit-file", file); err != nil {
		t.Fatal(err)
	}
	after, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, keyMaterial(t, keyset)...)
	host, _ := os.Hostname()
	entries := cliEntries(t, file)
	gen := cliFind(entries, audit.ActionKeys, "operation", "keygen")
	if len(gen) != 1 || gen[0].Detail["key_ids"] != joinIDs(before.KeyIDs()) || gen[0].Detail["command"] != "tokengate keygen" {
		t.Fatalf("keygen entries %+v", gen)
	}
	rot := cliFind(entries, audit.ActionKeys, "operation", "rotate")
	if len(rot) != 1 {
		t.Fatalf("want 1 rotate entry, got %+v", entries)
	}
	e := rot[0]
	for k, want := range map[string]string{
		"previous_key_ids": joinIDs(before.KeyIDs()), "previous_primary": formatID(before.PrimaryKeyID()),
		"key_ids": joinIDs(after.KeyIDs()), "primary": formatID(after.PrimaryKeyID()),
		"kek": "none (cleartext keyset)", "keyset": keyset, "command": "tokengate rotate", "host": host,
	} {
		if e.Detail[k] != want {
			t.Errorf("rotate entry %s = %q, want %q", k, e.Detail[k], want)
		}
	}
	if e.Detail["user"] == "" || e.Outcome != audit.OutcomeOK || e.Gateway != "cli@"+host || len(after.KeyIDs()) != 2 {
		t.Errorf("rotate entry %+v (keyset now %v)", e, after.KeyIDs())
	}
	verifyCLIAudit(t, file, keyset)

	// The variable names the file; wrap records the new KEK by name.
	t.Setenv(auditFileEnv, file)
	kek := make([]byte, 32)
	kek[0] = 7
	t.Setenv("TG_TEST_CLI_KEK", base64.StdEncoding.EncodeToString(kek))
	if _, _, err := runTokengate(t, "wrap", "--keyset", keyset, "--new-kek-env", "TG_TEST_CLI_KEK"); err != nil {
		t.Fatal(err)
	}
	w := cliFind(cliEntries(t, file), audit.ActionKeys, "operation", "wrap")
	if len(w) != 1 || w[0].Detail["new_kek"] != "env:TG_TEST_CLI_KEK" || w[0].Detail["key_ids"] != joinIDs(after.KeyIDs()) {
		t.Fatalf("wrap entries %+v", w)
	}
	verifyCLIAudit(t, file, keyset, "--kek-env", "TG_TEST_CLI_KEK") // wrapped now; the same checkpoint key
	noSecretsIn(t, file, "key material", secrets)
}

// TestCommandAuditRefuses: an audit file that cannot be written (its
// directory is a file), or that is a gateway's chain (another name), makes
// rotate refuse and leave the keyset file as it was.
func TestCommandAuditRefuses(t *testing.T) {
	t.Setenv(auditFileEnv, "")
	dir := t.TempDir()
	keyset := filepath.Join(dir, "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(keyset)
	notDir := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	unchanged := func(what string) {
		t.Helper()
		if now, _ := os.ReadFile(keyset); !bytes.Equal(now, orig) {
			t.Fatalf("%s: the keyset file changed", what)
		}
	}
	_, _, err := runTokengate(t, "rotate", "--keyset", keyset, "--audit-file", filepath.Join(notDir, "audit.log"))
	if err == nil || !strings.Contains(err.Error(), "refused, nothing changed") {
		t.Fatalf("rotate with an unwritable audit file: %v", err)
	}
	unchanged("unwritable audit file")

	// A gateway's chain: the name differs, refused.
	ks, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	gw := filepath.Join(dir, "gateway-audit.log")
	c, err := audit.OpenFileChain(context.Background(), gw, audit.FileOptions{}, audit.Options{Gateway: "gw1", Key: ks.DeriveKey(audit.CheckpointKeyLabel)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Record(context.Background(), audit.Entry{Action: audit.ActionDetokenize, Outcome: audit.OutcomeOK, Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	gwBefore, _ := os.ReadFile(gw)
	_, _, err = runTokengate(t, "rotate", "--keyset", keyset, "--audit-file", gw)
	if err == nil || !strings.Contains(err.Error(), `chain of "gw1"`) {
		t.Fatalf("rotate into a gateway's audit file: %v", err)
	}
	unchanged("a gateway's audit file")
	if now, _ := os.ReadFile(gw); !bytes.Equal(now, gwBefore) {
		t.Fatal("the gateway's audit file was written to")
	}
	// keygen keys the chain with the new keyset: a chain keyed by
	// another is refused, and no keyset is written.
	cli := filepath.Join(dir, "cli.log")
	if _, _, err := runTokengate(t, "rotate", "--keyset", keyset, "--audit-file", cli); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "new-keyset.json")
	_, _, err = runTokengate(t, "keygen", "--keyset", fresh, "--audit-file", cli)
	if err == nil || !strings.Contains(err.Error(), "another --audit-file") {
		t.Fatalf("keygen into a chain of another keyset: %v", err)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Fatal("a refused keygen wrote its keyset")
	}
	// Offline commands that load no keyset need one to record.
	_, _, err = runTokengate(t, "purge", "--tenant", "acme", "--vault", "bolt:"+filepath.Join(dir, "v.db"), "--audit-file", filepath.Join(dir, "a.log"))
	if err == nil || !strings.Contains(err.Error(), "needs the keyset") {
		t.Fatalf("purge --vault --audit-file without --keyset: %v", err)
	}
}

// TestCommandAuditKeysDisableReseal: keys disable of a key records still
// use is refused, recorded with outcome refused, and changes nothing; an
// offline reseal records its start and its counts; then disable succeeds
// and is recorded; an offline purge records one entry per card erased;
// a restore records the backup's counts, and a refused one its refusal;
// audit verify passes and the file holds no card number.
func TestCommandAuditKeysDisableReseal(t *testing.T) {
	t.Setenv(auditFileEnv, "")
	dir := t.TempDir()
	keyset, file := filepath.Join(dir, "keyset.json"), filepath.Join(dir, "cli-audit.log")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset, "--audit-file", file); err != nil {
		t.Fatal(err)
	}
	ks, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	old := formatID(ks.PrimaryKeyID())
	path := filepath.Join(dir, "vault.db")
	b, err := boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	fillForReseal(t, b, ks, 0, n)
	// Two cards without a network token: an offline purge erases them.
	for i := range 2 {
		token, pan := fmt.Sprintf("plain_%d", i), resealPAN(100+i)
		fp := ks.Fingerprint("acme", pan)
		rec := vaulttest.Sample("acme", token, fp)
		rec.Network = vault.NetworkToken{}
		if rec.Sealed, err = ks.Seal("acme", fp, token, keys.Secrets{PAN: pan}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Put(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	if _, _, err := runTokengate(t, "rotate", "--keyset", keyset, "--audit-file", file); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(keyset)
	_, _, err = runTokengate(t, "keys", "disable", old, "--keyset", keyset, "--vault", "bolt:"+path, "--audit-file", file)
	if err == nil || !strings.Contains(err.Error(), "refused, nothing changed") {
		t.Fatalf("keys disable while records use the key: %v", err)
	}
	if now, _ := os.ReadFile(keyset); !bytes.Equal(now, orig) {
		t.Fatal("a refused disable changed the keyset file")
	}
	dis := cliFind(cliEntries(t, file), audit.ActionKeys, "operation", "disable", "key_id", old)
	if len(dis) != 1 || dis[0].Outcome != audit.OutcomeRefused || !strings.Contains(dis[0].Detail["error"], "still seals 6 records") ||
		dis[0].Detail["command"] != "tokengate keys disable" || dis[0].Detail["vault"] != "bolt:"+path {
		t.Fatalf("refused disable entries %+v", dis)
	}

	if out, _, err := runTokengate(t, "reseal", "--keyset", keyset, "--vault", "bolt:"+path, "--audit-file", file); err != nil {
		t.Fatalf("reseal: %v\n%s", err, out)
	}
	rs := cliFind(cliEntries(t, file), audit.ActionReseal)
	if len(rs) != 2 || rs[0].Detail["event"] != "start" || rs[1].Detail["event"] != "end" || rs[1].Detail["resealed"] != "6" ||
		rs[1].Outcome != audit.OutcomeOK || rs[1].Detail["entry_of"] != fmt.Sprint(rs[0].Seq) {
		t.Fatalf("reseal entries %+v", rs)
	}
	if out, _, err := runTokengate(t, "keys", "disable", old, "--keyset", keyset, "--vault", "bolt:"+path, "--audit-file", file); err != nil {
		t.Fatalf("keys disable after the re-seal: %v\n%s", err, out)
	}
	dis = cliFind(cliEntries(t, file), audit.ActionKeys, "operation", "disable", "key_id", old)
	if len(dis) != 2 || dis[1].Outcome != audit.OutcomeOK || strings.Contains(","+dis[1].Detail["key_ids"]+",", ","+old+",") {
		t.Fatalf("disable entries %+v", dis)
	}

	// A backup of the vault, for restore below.
	bk := filepath.Join(dir, "backup.db")
	if b, err = boltvault.Open(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(bk)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := b.Backup(f, nil)
	f.Close()
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bk+".sha256", []byte(snap.SHA256+"  backup.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Offline purge: one entry per card, before it is erased.
	if out, _, err := runTokengate(t, "purge", "--tenant", "acme", "--tokens", "plain_0,plain_1", "--vault", "bolt:"+path,
		"--keyset", keyset, "--audit-file", file); err != nil {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	entries := cliFind(cliEntries(t, file), audit.ActionPurge)
	var erased []string
	for _, e := range entries {
		if len(e.Tokens) == 1 && e.Tokens[0].Became == "erased" && e.Tenant == "acme" && e.Detail["command"] == "tokengate purge" {
			erased = append(erased, e.Tokens[0].Token)
		}
	}
	if strings.Join(erased, ",") != "plain_0,plain_1" || len(cliFind(entries, audit.ActionPurge, "event", "end", "erased", "2")) != 1 {
		t.Fatalf("purge entries %+v", entries)
	}

	// Restore: recorded with the backup's counts; refused without --force.
	if out, _, err := runTokengate(t, "restore", "--from", bk, "--vault", path, "--force", "--keyset", keyset, "--audit-file", file); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if _, _, err := runTokengate(t, "restore", "--from", bk, "--vault", path, "--keyset", keyset, "--audit-file", file); err == nil {
		t.Fatal("restore over an existing file without --force succeeded")
	}
	rst := cliFind(cliEntries(t, file), audit.ActionBackup, "operation", "restore")
	if len(rst) != 2 || rst[0].Outcome != audit.OutcomeOK || rst[0].Detail["records"] != "6" || rst[0].Detail["replacing"] != "true" ||
		rst[1].Outcome != audit.OutcomeRefused {
		t.Fatalf("restore entries %+v", rst)
	}

	// keys enable brings the key back, recorded; migrate is recorded with
	// its counts.
	if _, _, err := runTokengate(t, "keys", "enable", old, "--keyset", keyset, "--audit-file", file); err != nil {
		t.Fatal(err)
	}
	en := cliFind(cliEntries(t, file), audit.ActionKeys, "operation", "enable", "key_id", old)
	if len(en) != 1 || en[0].Outcome != audit.OutcomeOK || !strings.Contains(","+en[0].Detail["key_ids"]+",", ","+old+",") {
		t.Fatalf("enable entries %+v", en)
	}
	copyTo := filepath.Join(dir, "copy.db")
	if out, _, err := runTokengate(t, "migrate", "--from", "bolt:"+path, "--to", "bolt:"+copyTo, "--keyset", keyset, "--audit-file", file); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	mg := cliFind(cliEntries(t, file), audit.ActionBackup, "operation", "migrate", "event", "end")
	if len(mg) != 1 || mg[0].Detail["copied"] != "6" || mg[0].Detail["to"] != "bolt:"+copyTo || mg[0].Outcome != audit.OutcomeOK {
		t.Fatalf("migrate entries %+v", mg)
	}

	verifyCLIAudit(t, file, keyset)
	data, _ := os.ReadFile(file)
	noCardData(t, n, string(data))
	for i := range 2 {
		if strings.Contains(string(data), resealPAN(100+i)) {
			t.Fatal("the audit file holds a card number")
		}
	}
}

// TestCommandAuditPostgres: rotate with --audit-dsn records in the
// PostgreSQL sink's chain cli@<host> (or --audit-gateway), which audit
// verify --dsn passes; the DSN is not in the entry.
func TestCommandAuditPostgres(t *testing.T) {
	t.Setenv(auditFileEnv, "")
	dsn := vaulttest.PostgresDatabase(t)
	dir := t.TempDir()
	keyset := filepath.Join(dir, "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset, "--audit-dsn", dsn, "--audit-gateway", "ops-laptop"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runTokengate(t, "rotate", "--keyset", keyset, "--audit-dsn", dsn, "--audit-gateway", "ops-laptop"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runTokengate(t, "audit", "verify", "--dsn", dsn, "--gateway", "ops-laptop", "--keyset", keyset)
	if err != nil || !strings.Contains(out, "verified") {
		t.Fatalf("audit verify --dsn: %v\n%s", err, out)
	}
	out, _, err = runTokengate(t, "audit", "search", "--dsn", dsn, "--gateway", "ops-laptop", "--action", "keys")
	if err != nil || strings.Count(out, `"operation":"`) != 2 || !strings.Contains(out, `"operation":"rotate"`) || strings.Contains(out, dsn) {
		t.Fatalf("audit search --dsn: %v\n%s", err, out)
	}
}

// TestCommandAuditKEKLabel: the KEK is described by where it is, never by
// its value.
func TestCommandAuditKEKLabel(t *testing.T) {
	uri := "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/0b5f1c3e-1111-2222-3333-444455556666"
	for src, want := range map[keys.KEKSource]string{
		keys.EnvKEK("TOKENGATE_KEK"): "env:TOKENGATE_KEK", keys.FileKEK("/run/secrets/kek"): "file:/run/secrets/kek",
		keys.AWSKMS{KeyURI: uri, Endpoint: "http://127.0.0.1:4599"}: uri,
	} {
		if got := kekLabel(src); got != want {
			t.Errorf("kekLabel(%v) = %q, want %q", src, got, want)
		}
	}
	if got := kekLabel(nil); got != "none (cleartext keyset)" {
		t.Errorf("no KEK: %q", got)
	}
}

// TestCommandAuditFileOpenByAnotherWriter: an audit file another process
// holds open for writing (as a running gateway's file sink does) is
// refused, naming the process; one open for reading only (a log shipper)
// is not.
func TestCommandAuditFileOpenByAnotherWriter(t *testing.T) {
	if _, err := os.Stat("/proc/self/fdinfo"); err != nil {
		t.Skip("no /proc/<pid>/fdinfo here: the check is Linux's")
	}
	t.Setenv(auditFileEnv, "")
	dir := t.TempDir()
	keyset, file := filepath.Join(dir, "keyset.json"), filepath.Join(dir, "cli.log")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset, "--audit-file", file); err != nil {
		t.Fatal(err)
	}
	hold := func(flag int) func() {
		f, err := os.OpenFile(file, flag, 0)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sleep", "60")
		cmd.ExtraFiles = []*os.File{f}
		if err := cmd.Start(); err != nil {
			t.Skipf("cannot start sleep: %v", err)
		}
		f.Close()
		return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	}
	stop := hold(os.O_RDONLY)
	if _, _, err := runTokengate(t, "rotate", "--keyset", keyset, "--audit-file", file); err != nil {
		t.Fatalf("rotate with a reader of the audit file: %v", err)
	}
	stop()
	orig, _ := os.ReadFile(keyset)
	stop = hold(os.O_WRONLY | os.O_APPEND)
	defer stop()
	_, _, err := runTokengate(t, "rotate", "--keyset", keyset, "--audit-file", file)
	if err == nil || !strings.Contains(err.Error(), "open for writing by process") || !strings.Contains(err.Error(), "(sleep)") {
		t.Fatalf("rotate with another writer of the audit file: %v", err)
	}
	if now, _ := os.ReadFile(keyset); !bytes.Equal(now, orig) {
		t.Fatal("the keyset changed")
	}
	verifyCLIAudit(t, file, keyset)
}
