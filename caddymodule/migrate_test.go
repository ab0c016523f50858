package caddymodule

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// runTokengate runs `caddy tokengate <args>` as the caddy binary does: the
// registered command, its flags parsed by cobra.
func runTokengate(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	def, ok := caddycmd.Commands()["tokengate"]
	if !ok {
		t.Fatal("the tokengate command is not registered")
	}
	cmd := &cobra.Command{Use: def.Name, SilenceUsage: true}
	def.CobraFunc(cmd)
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// TestMigrateCommand: caddy tokengate migrate with real flags moves a bbolt
// vault into PostgreSQL and back, a second run copies nothing, a conflict
// fails the command naming the token, a locked file and an unreachable
// database are clear errors, and the DSN's password is never shown.
func TestMigrateCommand(t *testing.T) {
	ctx := context.Background()
	dsn := vaulttest.PostgresDatabase(t)
	src := filepath.Join(t.TempDir(), "vault.db")
	b, err := boltvault.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, _, err := b.Put(ctx, vaulttest.Sample("acme", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.KV("network_tokens").Save(ctx, "nt_0", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	b.Close()

	out, progress, err := runTokengate(t, "migrate", "--from", "bolt:"+src, "--to", "postgres:"+dsn)
	if err != nil || !strings.Contains(out, "5 copied, 0 already present, 0 conflicts") ||
		!strings.Contains(out, "state entries: 1 copied") || !strings.Contains(out, "verified: 5 of 5") ||
		!strings.Contains(out, "records/s") || !strings.Contains(progress, "records") {
		t.Fatalf("bolt -> postgres: %v\n%s\n%s", err, out, progress)
	}
	if strings.Contains(out+progress, dsn) {
		t.Fatalf("the DSN was printed:\n%s%s", out, progress)
	}
	out, _, err = runTokengate(t, "migrate", "--from", "bolt:"+src, "--to", "postgres:"+dsn)
	if err != nil || !strings.Contains(out, "0 copied, 5 already present, 0 conflicts") || !strings.Contains(out, "state entries: 0 copied, 1 already present") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	back := filepath.Join(t.TempDir(), "back.db")
	out, _, err = runTokengate(t, "migrate", "--from", "postgres:"+dsn, "--to", "bolt:"+back)
	if err != nil || !strings.Contains(out, "5 copied") || !strings.Contains(out, "verified: 5 of 5") {
		t.Fatalf("postgres -> bolt: %v\n%s", err, out)
	}

	// A record changed in the target since: a conflict, left alone.
	pg, err := pgvault.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := pg.Get(ctx, "acme", "tok_3")
	if err != nil {
		t.Fatal(err)
	}
	rec.Brand = "changed"
	if _, err := pg.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	pg.Close()
	out, _, err = runTokengate(t, "migrate", "--from", "bolt:"+src, "--to", "postgres:"+dsn)
	if err == nil || !strings.Contains(out, `token "tok_3"`) || !strings.Contains(out, "1 conflicts") || !strings.Contains(out, "MISMATCH: 4 of 5") {
		t.Fatalf("conflict: err %v\n%s", err, out)
	}

	// The gateway holds the file: said so, after a short wait.
	held, err := boltvault.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runTokengate(t, "migrate", "--from", "bolt:"+src, "--to", "bolt:"+filepath.Join(t.TempDir(), "x.db"))
	held.Close()
	if err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Fatalf("locked file: %v", err)
	}

	// An unreachable database: an error without the password.
	out, progress, err = runTokengate(t, "migrate", "--from", "bolt:"+src, "--to", "postgres:postgres://tokengate:s3cr3t-pw@127.0.0.1:1/x?connect_timeout=2")
	if err == nil || strings.Contains(err.Error()+out+progress, "s3cr3t-pw") || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("unreachable database: %v", err)
	}
	if _, _, err = runTokengate(t, "migrate", "--from", "bolt:"+src); err == nil || !strings.Contains(err.Error(), "--to") {
		t.Fatalf("no --to: %v", err)
	}
}
