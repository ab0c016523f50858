package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
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

// TestAttackRestoreOverLiveVaultByOtherName: restore's lock probe is
// bbolt's flock, which belongs to the file, not the name: a hard link or a
// symlink to a running gateway's vault is refused as in use too.
func TestAttackRestoreOverLiveVaultByOtherName(t *testing.T) {
	g := startGateway(t, "")
	g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(newPAN(7)))
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	if out, _, err := runTokengate(t, "backup", "--to", good, "--address", g.addr("localhost:2999")); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	live := filepath.Join(g.dir, "vault.db")
	hard, sym := filepath.Join(dir, "hard.db"), filepath.Join(dir, "sym.db")
	if err := os.Link(live, hard); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	if err := os.Symlink(live, sym); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{hard, sym} {
		_, _, err := runTokengate(t, "restore", "--from", good, "--vault", target, "--force")
		if err == nil || !strings.Contains(err.Error(), "in use") {
			t.Errorf("restore over %s (the live vault by another name): %v", target, err)
		}
	}
}
