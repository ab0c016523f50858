package caddymodule

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAttackBackupSidecarSymlink: someone who can write in the backup
// directory (a shared backup mount, an operator's home) plants
// <to>.sha256 as a symlink to a file the gateway's user can write, the
// vault file for one. `caddy tokengate backup --to <to>` promises never to
// overwrite a file, yet it wrote its .sha256 through the symlink,
// truncating the target.
func TestAttackBackupSidecarSymlink(t *testing.T) {
	g := startGateway(t, "")
	for i := range 2 {
		g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(newPAN(i)))
	}
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim-vault.db")
	const content = "the operator's vault file, or any file the gateway user can write"
	if err := os.WriteFile(victim, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(dir, "backup.db")
	if err := os.Symlink(victim, to+".sha256"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runTokengate(t, "backup", "--to", to, "--address", g.addr("localhost:2999"))
	if got, _ := os.ReadFile(victim); string(got) != content {
		t.Fatalf("backup wrote through the planted %s symlink (err %v, out %s): the target now holds %q", to+".sha256", err, out, got)
	}
	if err == nil {
		t.Fatalf("backup succeeded although %s.sha256 exists: %s", to, out)
	}
}
