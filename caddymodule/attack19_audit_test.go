package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestAttack19SearchShowsTamperedEntries: an insider edits an entry (another
// tenant, a token removed). audit search printed it as any other, exit 0:
// an investigator reading search's answer was not told. Search now checks
// what it can without the key (each entry's hash, its link to the one
// before) and exits non-zero naming the first entry that does not verify,
// after printing what matched.
func TestAttack19SearchShowsTamperedEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	c, err := audit.OpenFileChain(context.Background(), path, audit.FileOptions{}, audit.Options{Gateway: "gw", Key: bytes.Repeat([]byte{1}, 32), Every: 5, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "acme", "other", "acme"} {
		if err := c.Record(context.Background(), audit.Entry{Action: audit.ActionDetokenize, Outcome: audit.OutcomeOK, Tenant: tenant,
			Tokens: []audit.TokenUse{{Token: "tok_" + tenant, Became: "pan"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	search := func() (string, int, error) {
		var out bytes.Buffer
		code, err := cmdAudit(context.Background(), "search", auditArgs{file: path, filter: audit.Filter{Tenant: "acme"}}, &out)
		return out.String(), code, err
	}
	if out, code, err := search(); code != exitSuccess || err != nil || strings.Count(out, "\n") != 3 {
		t.Fatalf("intact chain: code %d err %v\n%s", code, err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The entry of tenant "other" rewritten as acme's: its hash no longer
	// matches.
	forged := strings.Replace(string(data), `"tenant":"other"`, `"tenant":"acme"`, 1)
	if err := os.WriteFile(path, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code, err := search()
	if code == exitSuccess || err == nil || !strings.Contains(err.Error(), "verify") {
		t.Fatalf("search printed a changed entry without saying so: code %d err %v\n%s", code, err, out)
	}
	t.Logf("search: %v", err)
}

// TestAttack19AuditFileIsFIFO: someone with access to the log directory
// replaces the audit file with a named pipe (or a careless operator points
// path at one). Opening it to check the chain's tail blocked until a writer
// came: the gateway's start hung (and with it the admin API's reload).
// validate and the start refuse a path that is not a regular file.
func TestAttack19AuditFileIsFIFO(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	path := filepath.Join(g.dir, "audit.jsonl")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	global := "audit file {\n\t\t\tpath " + path + "\n\t\t}"
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(g.addr(g.config(global, defaultSites))), nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Admin = &caddy.AdminConfig{Disabled: true}
	done := make(chan error, 1)
	go func() { done <- caddy.Validate(&cfg) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "regular file") {
			t.Errorf("validate with a FIFO as the audit file: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("validate hangs on a FIFO as the audit file")
	}
	go func() {
		c, err := audit.OpenFileChain(context.Background(), path, audit.FileOptions{}, audit.Options{Key: bytes.Repeat([]byte{1}, 32)})
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "regular file") {
			t.Errorf("opening a FIFO as the audit file: %v", err)
		}
	case <-time.After(5 * time.Second):
		// Unblock the goroutine before failing.
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		t.Fatal("opening the audit file (the gateway's start) hangs on a FIFO")
	}
}

// TestAttack19VerifyAnotherGatewaysChain: two gateways share a keyset (so
// a checkpoint key); an insider replaces gateway a's audit file and head
// with gateway b's (which shows none of a's detokenizations). verify
// passed without saying whose chain it read. It names the gateway, and
// with --gateway refuses a chain of another.
func TestAttack19VerifyAnotherGatewaysChain(t *testing.T) {
	dir := t.TempDir()
	ks := filepath.Join(dir, "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", ks); err != nil {
		t.Fatal(err)
	}
	k, _, err := keys.Load(keys.Options{File: ks})
	if err != nil {
		t.Fatal(err)
	}
	key := k.DeriveKey(audit.CheckpointKeyLabel)
	write := func(path, gw string) {
		c, err := audit.OpenFileChain(context.Background(), path, audit.FileOptions{}, audit.Options{Gateway: gw, Key: key, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Record(context.Background(), audit.Entry{Action: audit.ActionDetokenize, Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	a, b := filepath.Join(dir, "a", "audit.jsonl"), filepath.Join(dir, "b", "audit.jsonl")
	write(a, "gw-a")
	write(b, "gw-b")
	for _, f := range []string{"", ".head"} {
		data, err := os.ReadFile(b + f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(a+f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	code, err := cmdAudit(context.Background(), "verify", auditArgs{file: a, gateway: "gw-a", keyset: keys.Options{File: ks}}, &out)
	if code == exitSuccess || err == nil || !strings.Contains(err.Error(), "gw-b") {
		t.Fatalf("verify --gateway gw-a of gw-b's chain: code %d err %v\n%s", code, err, out.String())
	}
	out.Reset()
	code, err = cmdAudit(context.Background(), "verify", auditArgs{file: a, keyset: keys.Options{File: ks}}, &out)
	if code != exitSuccess || !strings.Contains(out.String(), "gw-b") {
		t.Fatalf("verify does not name the chain's gateway: code %d err %v\n%s", code, err, out.String())
	}
}

// TestAttack19ValidateEveryFeature: caddy validate with the PostgreSQL audit
// sink, a KEK in a KMS, retention and re-seal together opens no connection
// (the audit tables are not created in the database named) and creates no
// file. Held.
func TestAttack19ValidateEveryFeature(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	rules, err := filepath.Abs("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kek, err := keys.NewKEK(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := keys.GenerateKeyset(kek)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "keyset.json"), wrapped)
	uri := "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/bc436485-5092-42b8-92a3-0aa8b93536dc"
	s := `{"admin": {"disabled": true}, "apps": {"tokengate": {"rules": "` + rules + `", "vault": {"backend": "bolt", "path": "` + dir + `/sub/v.db"}, ` +
		`"keys": {"file": "` + dir + `/keyset.json", "kek": {"source": "aws_kms", "key_uri": "` + uri + `", "endpoint": "http://127.0.0.1:1"}}, ` +
		`"audit": {"sink": "postgres", "dsn": "` + dsn + `"}, "retention": {"default": 86400000000000}, "reseal": {"rate": 5}}}}`
	var cfg caddy.Config
	if err := json.Unmarshal([]byte(s), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("validate created the vault's directory: %v", err)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'tokengate%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("validate created %d tokengate tables in the audit database (%v)", n, err)
	}
}
