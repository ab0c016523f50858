package boltvault_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

func TestBoltKVRoundtrip(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	defer b.Close()
	kv := b.KV("emulator")

	if v, err := kv.Load(ctx, "absent"); v != nil || err != nil {
		t.Fatalf("Load(absent) = %q, %v; want nil, nil (bucket not yet created)", v, err)
	}
	buf := []byte("state-1")
	if err := kv.Save(ctx, "nt_1", buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXX") // the stored value must not alias the caller's buffer
	if v, err := kv.Load(ctx, "nt_1"); err != nil || string(v) != "state-1" {
		t.Fatalf("Load = %q, %v; want state-1", v, err)
	}
	if err := kv.Save(ctx, "nt_1", []byte("state-2")); err != nil {
		t.Fatal(err)
	}
	if v, _ := kv.Load(ctx, "nt_1"); string(v) != "state-2" {
		t.Fatalf("after overwrite Load = %q, want state-2", v)
	}
	if v, err := kv.Load(ctx, "absent"); v != nil || err != nil {
		t.Fatalf("Load(absent) = %q, %v; want nil, nil", v, err)
	}
	if err := kv.Save(ctx, "", []byte("x")); err == nil {
		t.Error("Save with an empty id succeeded")
	}
}

func TestBoltKVNamespaces(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	defer b.Close()
	// A KV bucket named like a tenant or a vault bucket must not touch records.
	if _, _, err := b.Put(ctx, vaulttest.Sample("acme", "tok", "fp")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"acme", "vault", "tokens"} {
		if err := b.KV(name).Save(ctx, "tok", []byte("kv")); err != nil {
			t.Fatal(err)
		}
	}
	if rec, err := b.Get(ctx, "acme", "tok"); err != nil || rec.Fingerprint != "fp" {
		t.Fatalf("record disturbed by KV writes: %+v, %v", rec, err)
	}
	if v, _ := b.KV("other").Load(ctx, "tok"); v != nil {
		t.Errorf("bucket other sees %q", v)
	}
}

func TestBoltKVConcurrentSaves(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	defer b.Close()
	kv := b.KV("emulator")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if err := kv.Save(ctx, fmt.Sprint(i), []byte(fmt.Sprint("v", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range 50 {
		if v, err := kv.Load(ctx, fmt.Sprint(i)); err != nil || string(v) != fmt.Sprint("v", i) {
			t.Fatalf("Load(%d) = %q, %v", i, v, err)
		}
	}
}

func TestBoltKVSaveAllWritesEveryEntry(t *testing.T) {
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "kv.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv := b.KV("tokens")
	ctx := context.Background()
	if err := kv.SaveAll(ctx, map[string][]byte{"a": []byte("1"), "b": []byte("2")}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"a": "1", "b": "2"} {
		got, err := kv.Load(ctx, id)
		if err != nil || string(got) != want {
			t.Fatalf("Load(%q) = %q, %v; want %q", id, got, err, want)
		}
	}
	if err := kv.SaveAll(ctx, map[string][]byte{"c": []byte("3"), "": []byte("x")}); err == nil {
		t.Fatal("SaveAll accepted an empty id")
	}
	if got, _ := kv.Load(ctx, "c"); got != nil {
		t.Fatal("a refused SaveAll wrote part of its entries")
	}
}
