package boltvault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestBackupWhileWriting: a backup taken while writers commit is the file
// as of its read transaction: it verifies, holds at least the records
// stored before it began, and its counts and SHA-256 are those VerifyFile
// finds; a truncated or altered copy is refused.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := boltvault.Open(filepath.Join(dir, "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 200 {
		if _, _, err := b.Put(ctx, vaulttest.Sample("acme", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.KV("network_tokens").Save(ctx, "nt_0", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		written atomic.Int64
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if _, _, err := b.Put(ctx, vaulttest.Sample("other", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i))); err != nil {
				t.Error(err)
				return
			}
			written.Add(1)
		}
	}()
	var buf bytes.Buffer
	var began boltvault.Snapshot
	snap, err := b.Backup(&buf, func(s boltvault.Snapshot) error {
		began = s
		// Inside the backup's read transaction: a writer still commits,
		// and its record is not in the copy.
		done := make(chan error, 1)
		go func() {
			_, _, err := b.Put(ctx, vaulttest.Sample("acme", "tok_during", "fp_during"))
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("a write waited for the backup's read transaction")
		}
	})
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if began.Records != snap.Records || snap.Size != int64(buf.Len()) || snap.Tenants["acme"] != 200 || snap.StateEntries != 1 {
		t.Fatalf("snapshot %+v (began %+v), %d bytes", snap, began, buf.Len())
	}
	path := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	seen := 0
	got, err := boltvault.VerifyFile(path, snap.SHA256, func(vault.Record) error { seen++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.Records != snap.Records || int64(seen) != snap.Records || got.SHA256 != snap.SHA256 || got.Tenants["other"] != snap.Tenants["other"] {
		t.Fatalf("verified %+v (%d seen), streamed %+v", got, seen, snap)
	}
	if _, err := b.Get(ctx, "acme", "tok_during"); err != nil {
		t.Fatalf("the write during the backup: %v", err)
	}
	if got.Tenants["acme"] != 200 {
		t.Fatalf("the copy holds %d records of acme, want the 200 stored before it began", got.Tenants["acme"])
	}
	t.Logf("backup: %d records (%d written during it by then), %d bytes", snap.Records, written.Load(), snap.Size)

	// Truncated: the hash says so; without a hash, the page check does.
	short := filepath.Join(dir, "short.db")
	if err := os.WriteFile(short, buf.Bytes()[:buf.Len()/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := boltvault.VerifyFile(short, snap.SHA256, nil); err == nil || !strings.Contains(err.Error(), "truncated or damaged") {
		t.Fatalf("truncated, with hash: %v", err)
	}
	if _, err := boltvault.VerifyFile(short, "", nil); err == nil {
		t.Fatal("truncated, without hash: verified")
	}
	// One byte changed: the hash.
	bad := bytes.Clone(buf.Bytes())
	bad[len(bad)-100] ^= 0xff
	damaged := filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(damaged, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := boltvault.VerifyFile(damaged, snap.SHA256, nil); err == nil {
		t.Fatal("damaged: verified")
	}
}
