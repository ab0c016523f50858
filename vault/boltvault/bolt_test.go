package boltvault_test

import (
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

	bbolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

func openTestBolt(t testing.TB) (*boltvault.Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "vault.db")
	b, err := boltvault.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b, path
}

func TestBoltConformance(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vault.Vault {
		b, _ := openTestBolt(t)
		return b
	})
}

func TestBoltFilePermissions(t *testing.T) {
	b, path := openTestBolt(t)
	defer b.Close()
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %v, want %v", p, got, want)
		}
	}
}

func TestBoltSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	b, path := openTestBolt(t)
	stored, _, err := b.Put(ctx, vaulttest.Sample("acme", "tok_r", "fp_r"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.KV("emulator").Save(ctx, "nt_1", []byte(`{"s":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := b.GetByFingerprint(ctx, "acme", "fp_r")
	if err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if got.Token != stored.Token || !got.CreatedAt.Equal(stored.CreatedAt) || string(got.Sealed) != string(stored.Sealed) {
		t.Errorf("after reopen got %+v, want %+v", got, stored)
	}
	if v, err := b.KV("emulator").Load(ctx, "nt_1"); err != nil || string(v) != `{"s":1}` {
		t.Errorf("kv after reopen = %q, %v", v, err)
	}
}

func TestBoltSecondOpenFailsFast(t *testing.T) {
	b, path := openTestBolt(t)
	defer b.Close()
	start := time.Now()
	b2, err := boltvault.Open(path)
	if err == nil {
		b2.Close()
		t.Fatal("second Open of an open file succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v", d)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestBoltRejectsIncompleteRecords(t *testing.T) {
	b, _ := openTestBolt(t)
	defer b.Close()
	for _, rec := range []vault.Record{
		vaulttest.Sample("", "tok", "fp"),
		vaulttest.Sample("acme", "", "fp"),
		vaulttest.Sample("acme", "tok", ""),
	} {
		if _, _, err := b.Put(context.Background(), rec); err == nil {
			t.Errorf("Put(%q, %q, %q) succeeded", rec.Tenant, rec.Token, rec.Fingerprint)
		}
	}
}

func TestBoltCanceledContext(t *testing.T) {
	b, _ := openTestBolt(t)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := b.Put(ctx, vaulttest.Sample("acme", "tok", "fp")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context err = %v", err)
	}
}

// BenchmarkBoltPut measures durable Puts from many concurrent requests (32
// goroutines per CPU, like a busy gateway), which is where group commit pays:
// ns/op is wall time divided by Puts, so it falls as batches grow.
func BenchmarkBoltPut(b *testing.B) {
	v, _ := openTestBolt(b)
	defer v.Close()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			rec := vaulttest.Sample("acme", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i))
			if _, _, err := v.Put(context.Background(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBoltPutSerial measures one Put at a time: the latency of a lone
// tokenization (batch delay plus one fsync).
func BenchmarkBoltPutSerial(b *testing.B) {
	v, _ := openTestBolt(b)
	defer v.Close()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec := vaulttest.Sample("acme", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i))
		if _, _, err := v.Put(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBoltGet(b *testing.B) {
	v, _ := openTestBolt(b)
	defer v.Close()
	const cards = 1000
	var wg sync.WaitGroup // concurrent seeding shares fsyncs
	for i := range cards {
		wg.Go(func() {
			if _, _, err := v.Put(context.Background(), vaulttest.Sample("acme", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i))); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := v.Get(context.Background(), "acme", fmt.Sprintf("tok_%d", i%cards)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBoltRefusesWritesWhenFileDeleted: once the vault file is deleted (or
// replaced) under a running gateway, writes fail instead of going to a file
// nobody will ever open again.
func TestBoltRefusesWritesWhenFileDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	b, err := boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec := vault.Record{Tenant: "t", Token: "tok_1", Fingerprint: "fp1", Sealed: []byte("x")}
	if _, _, err := b.Put(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	rec.Token, rec.Fingerprint = "tok_2", "fp2"
	if _, _, err := b.Put(context.Background(), rec); !errors.Is(err, boltvault.ErrFileGone) {
		t.Fatalf("Put after delete: %v, want ErrFileGone", err)
	}
}

// A vault file written before the network token index existed gets the
// index built from its records when it is opened.
func TestBoltBuildsNetworkIndexForOlderFiles(t *testing.T) {
	ctx := context.Background()
	b, path := openTestBolt(t)
	for _, rec := range []vault.Record{vaulttest.Sample("acme", "tok_1", "fp1"), vaulttest.Sample("other", "tok_2", "fp2")} {
		if _, _, err := b.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it an older file: no index bucket.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("network_index")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	b, err = boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for id, tenant := range map[string]string{"nt_tok_1": "acme", "nt_tok_2": "other"} {
		if got, err := b.GetByNetworkToken(ctx, "builtin", id); err != nil || got.Tenant != tenant {
			t.Errorf("GetByNetworkToken(%s) after reopening an older file: %s %v", id, got.Tenant, err)
		}
	}
}
