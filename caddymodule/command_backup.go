package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/dustin/go-humanize"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
)

// `caddy tokengate backup`, `verify-backup` and `restore` (see the README,
// Backup and restore). A backup is the bbolt vault file as of one read
// transaction of the running gateway, with a <file>.sha256 beside it in
// sha256sum's format; restore refuses a file whose hash, page structure or
// records do not check, and a vault file a running gateway holds.

// backupArgs are the flags the three commands share.
type backupArgs struct {
	address    string       // backup: the admin endpoint
	to, from   string       // backup: the file written; verify-backup, restore: the file read
	vault      string       // restore: the vault file to write
	force      bool         // restore: replace an existing vault file (kept aside)
	verifyKeys bool         // every record must open with the keyset
	keyset     keys.Options // for verifyKeys
	audit      cliAuditArgs // restore: the command-line audit trail (command_cliaudit.go)
}

// errVaultInUse says a gateway holds the vault file's lock.
var errVaultInUse = errors.New("the vault file is in use")

// sidecar is the path of the file holding a backup's SHA-256.
func sidecar(path string) string { return path + ".sha256" }

// cmdBackup asks the running gateway's admin endpoint for a copy of its
// vault, writes it to a temporary file beside args.to (0600), checks its
// length and SHA-256 against what the gateway sent, syncs it, verifies it
// as restore would, and only then renames it into place and writes its
// .sha256 file. A failure leaves no file at args.to.
func cmdBackup(args backupArgs, out io.Writer) (int, error) {
	if args.to == "" {
		return exitFailure, errors.New("usage: caddy tokengate backup --to <file> [--address <admin address>] [--verify-keys --keyset <file> | --keyset-env <VARIABLE> [--kek-env <VARIABLE>]]")
	}
	ks, err := verifyKeyset(args)
	if err != nil {
		return exitFailure, err
	}
	// Lstat, not Stat: a symlink (dangling or not) planted at either name
	// by whoever can write in the backup directory must not be followed.
	for _, p := range []string{args.to, sidecar(args.to)} {
		if _, err := os.Lstat(p); err == nil {
			return exitFailure, fmt.Errorf("%s exists; backup never overwrites a file (name each backup, e.g. by date)", p)
		}
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(args.address, nil, "", "")
	if err != nil {
		return exitFailure, err
	}
	resp, err := caddycmd.AdminAPIRequest(addr, "GET", backupPath, nil, nil)
	if err != nil {
		return exitFailure, fmt.Errorf("asking the gateway at %s for a backup: %w", addr, err)
	}
	defer resp.Body.Close()
	size, err1 := strconv.ParseInt(resp.Header.Get(headerBackupSize), 10, 64)
	records, err2 := strconv.ParseInt(resp.Header.Get(headerBackupRecords), 10, 64)
	if err1 != nil || err2 != nil {
		return exitFailure, fmt.Errorf("the answer from %s is not a tokengate backup (no %s and %s headers)", addr, headerBackupSize, headerBackupRecords)
	}
	dir := filepath.Dir(args.to)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return exitFailure, err
	}
	tmp, err := os.CreateTemp(dir, ".tokengate-backup-*")
	if err != nil {
		return exitFailure, err
	}
	defer os.Remove(tmp.Name()) // gone once renamed; removed on any failure
	n, err := io.Copy(tmp, resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exitFailure, fmt.Errorf("writing the backup: %w", err)
	}
	// The trailer is read once the body has been read to its end.
	sum := resp.Trailer.Get(trailerBackupSHA256)
	if n != size || sum == "" {
		return exitFailure, fmt.Errorf("the backup ended early: %d of %d bytes, SHA-256 trailer %q; nothing was written to %s", n, size, sum, args.to)
	}
	snap, err := verifyBackup(tmp.Name(), sum, ks)
	if err != nil {
		return exitFailure, fmt.Errorf("the copy fails verification, nothing was written to %s: %w", args.to, err)
	}
	if snap.Records != records {
		return exitFailure, fmt.Errorf("the copy holds %d records, the gateway counted %d; nothing was written to %s", snap.Records, records, args.to)
	}
	if err := os.Rename(tmp.Name(), args.to); err != nil {
		return exitFailure, err
	}
	if err := writeNewFileSynced(sidecar(args.to), []byte(sum+"  "+filepath.Base(args.to)+"\n")); err != nil {
		return exitFailure, err
	}
	if err := syncDir(dir); err != nil {
		return exitFailure, err
	}
	fmt.Fprintf(out, "backup %s: %s\n", args.to, describeSnapshot(snap, ks != nil))
	fmt.Fprintf(out, "SHA-256 in %s; the keyset is not in the backup: keep it (and its key-encrypting key) backed up apart\n", sidecar(args.to))
	return exitSuccess, nil
}

// cmdVerifyBackup checks a backup file as restore would, changing nothing.
func cmdVerifyBackup(args backupArgs, out io.Writer) (int, error) {
	if args.from == "" {
		return exitFailure, errors.New("usage: caddy tokengate verify-backup --from <file> [--verify-keys --keyset <file> | --keyset-env <VARIABLE> [--kek-env <VARIABLE>]]")
	}
	ks, err := verifyKeyset(args)
	if err != nil {
		return exitFailure, err
	}
	snap, err := verifyBackupFile(args.from, ks)
	if err != nil {
		return exitFailure, err
	}
	fmt.Fprintf(out, "backup %s: %s\n", args.from, describeSnapshot(snap, ks != nil))
	return exitSuccess, nil
}

// cmdRestore verifies the backup, then puts a copy of it at args.vault:
// written beside it, synced, its hash checked again, renamed over. It
// refuses a vault file a running gateway holds (bbolt's lock, taken here
// too for the time of the rename), and an existing one unless forced, which
// keeps the replaced file aside. Start the gateway afterwards.
func cmdRestore(args backupArgs, out io.Writer) (int, error) {
	return auditedRestore(args, out) // command_audited.go
}

// restoreVault restores; begin is called once the backup is verified and
// before anything is written, and may refuse.
func restoreVault(args backupArgs, out io.Writer, begin func(snap boltvault.Snapshot, replacing bool) error) (int, error) {
	target := strings.TrimPrefix(args.vault, "bolt:")
	if args.from == "" || target == "" {
		return exitFailure, errors.New("usage: caddy tokengate restore --from <file> --vault <vault file> [--force] [--verify-keys --keyset <file> | --keyset-env <VARIABLE> [--kek-env <VARIABLE>]]")
	}
	if strings.HasPrefix(target, "postgres:") {
		return exitFailure, errors.New("restore writes a bbolt vault file; restore a PostgreSQL vault with pg_restore or psql (see the README, Backup and restore)")
	}
	ks, err := verifyKeyset(args)
	if err != nil {
		return exitFailure, err
	}
	snap, err := verifyBackupFile(args.from, ks)
	if err != nil {
		return exitFailure, fmt.Errorf("refusing to restore: %w", err)
	}
	var replaced string
	if _, err := os.Stat(target); err == nil {
		// Holding bbolt's own lock on the file while it is replaced: a
		// gateway that has it open makes this fail; one starting meanwhile
		// waits, then fails on its own one-second timeout.
		release, err := lockVaultFile(target)
		if err != nil {
			if errors.Is(err, errVaultInUse) {
				return exitFailure, fmt.Errorf("refusing to restore: %s is in use (a running gateway holds its lock); stop the gateway first", target)
			}
			return exitFailure, fmt.Errorf("refusing to restore over %s: %w", target, err)
		}
		defer release()
		if !args.force {
			return exitFailure, fmt.Errorf("refusing to restore: %s exists; --force replaces it (the replaced file is kept beside it)", target)
		}
		replaced = target + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
	}
	if err := begin(snap, replaced != ""); err != nil {
		return exitFailure, err
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return exitFailure, err
	}
	tmp, err := copyToTemp(args.from, dir)
	if err != nil {
		return exitFailure, err
	}
	defer os.Remove(tmp)
	if _, err := boltvault.VerifyFile(tmp, snap.SHA256, nil); err != nil {
		return exitFailure, fmt.Errorf("the copy at %s fails verification: %w", tmp, err)
	}
	if replaced != "" {
		if err := os.Link(target, replaced); err != nil {
			return exitFailure, fmt.Errorf("keeping the replaced vault file: %w", err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return exitFailure, err
	}
	if err := syncDir(dir); err != nil {
		return exitFailure, err
	}
	fmt.Fprintf(out, "restored %s into %s: %s\n", args.from, target, describeSnapshot(snap, ks != nil))
	if replaced != "" {
		fmt.Fprintf(out, "the replaced vault file is kept as %s\n", replaced)
	}
	fmt.Fprintln(out, "start the gateway with the keyset the records were sealed with")
	return exitSuccess, nil
}

// verifyKeyset loads the keyset --verify-keys checks with (no development
// keyset is ever generated here), or returns nil without --verify-keys.
func verifyKeyset(args backupArgs) (*keys.Keys, error) {
	if !args.verifyKeys {
		return nil, nil
	}
	if args.keyset.File == "" && args.keyset.Env == "" {
		return nil, errors.New("--verify-keys needs the keyset: --keyset <file> or --keyset-env <VARIABLE> (and --kek-env if it is wrapped)")
	}
	ks, _, err := keys.Load(args.keyset)
	return ks, err
}

// verifyBackupFile verifies the file against the SHA-256 in its .sha256
// file, which must be there: bbolt keeps no checksum of its data pages, so
// without it a changed byte in a record could pass.
func verifyBackupFile(path string, ks *keys.Keys) (boltvault.Snapshot, error) {
	raw, err := os.ReadFile(sidecar(path))
	if err != nil {
		return boltvault.Snapshot{}, fmt.Errorf("%s: its SHA-256 file is needed to verify it: %w", path, err)
	}
	fields := strings.Fields(string(raw))
	if len(fields) == 0 || len(fields[0]) != 64 {
		return boltvault.Snapshot{}, fmt.Errorf("%s does not hold a SHA-256", sidecar(path))
	}
	return verifyBackup(path, strings.ToLower(fields[0]), ks)
}

// verifyBackup verifies the file against sum and, with ks, that ks opens
// every record where it is filed.
func verifyBackup(path, sum string, ks *keys.Keys) (boltvault.Snapshot, error) {
	var visit func(vault.Record) error
	if ks != nil {
		visit = func(rec vault.Record) error {
			if _, err := ks.Open(rec.Tenant, rec.Fingerprint, rec.Token, rec.Sealed); err != nil {
				return errors.New("the keyset does not open the record (not the keyset it was sealed with, or the record was altered)")
			}
			return nil
		}
	}
	return boltvault.VerifyFile(path, sum, visit)
}

// describeSnapshot is the one-line summary the commands print: counts, size
// and hash, never card data.
func describeSnapshot(s boltvault.Snapshot, keysChecked bool) string {
	tenants := make([]string, 0, len(s.Tenants))
	for t, n := range s.Tenants {
		tenants = append(tenants, fmt.Sprintf("%s %d", t, n))
	}
	slices.Sort(tenants)
	checked := "verified (SHA-256, bbolt page check, every record decodes and is indexed)"
	if keysChecked {
		checked = "verified (SHA-256, bbolt page check, every record decodes, is indexed and opens with the keyset)"
	}
	return fmt.Sprintf("%d records (%s), %d state entries, %s, SHA-256 %s; %s",
		s.Records, strings.Join(tenants, ", "), s.StateEntries, humanize.IBytes(uint64(s.Size)), s.SHA256, checked)
}

// copyToTemp copies the file at src into a new 0600 file in dir, synced,
// and returns its path.
func copyToTemp(src, dir string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".tokengate-restore-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// writeNewFileSynced writes a small new file 0600 and syncs it. O_EXCL
// refuses any existing name, a symlink included (even a dangling one):
// the file is created here or not at all, never written through a link.
func writeNewFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir syncs a directory, so a rename into it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
