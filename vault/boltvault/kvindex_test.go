package boltvault

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
)

// TestKeepInMemory: keys with the prefix are logged, not filed under
// themselves, and Exists and Load find them, also after a reopen; keys
// filed under themselves by a KV without it (an older file) are found too;
// a rolled-back write leaves nothing to find.
func TestKeepInMemory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v.db")
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.KV("s").SaveAll(ctx, map[string][]byte{"r:old": []byte("1"), "id1": []byte("state")}); err != nil {
		t.Fatal(err)
	}
	kv := b.KV("s").KeepInMemory("r:")
	if err := kv.SaveAll(ctx, map[string][]byte{"r:new": []byte("2"), "id2": []byte("state")}); err != nil {
		t.Fatal(err)
	}
	// The layout: the new reservation is in the log, not the bucket.
	if err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketKV).Bucket([]byte("s"))
		if bk.Get([]byte("r:new")) != nil || bk.Get([]byte("r:old")) == nil || bk.Get([]byte("id2")) == nil {
			return errors.New("the bucket holds the wrong keys")
		}
		if n := tx.Bucket(bucketKVLog).Bucket([]byte("s")).Stats().KeyN; n != 1 {
			return fmt.Errorf("the log holds %d entries", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A write that rolls back is not found, though the set was loaded.
	if ok, _ := kv.Exists(ctx, "r:rolledback"); ok {
		t.Fatal("found before it was written")
	}
	if err := b.db.Update(func(tx *bolt.Tx) error {
		if err := kv.putAll(tx, map[string][]byte{"r:rolledback": []byte("3")}, false); err != nil {
			return err
		}
		return errors.New("roll back")
	}); err == nil {
		t.Fatal("no rollback")
	}
	check := func(kv *KV) {
		t.Helper()
		for key, want := range map[string]string{"r:old": "1", "r:new": "2", "id1": "state", "id2": "state"} {
			if ok, err := kv.Exists(ctx, "r:none", key); err != nil || !ok {
				t.Fatalf("Exists(%s) = %v, %v", key, ok, err)
			}
			if v, err := kv.Load(ctx, key); err != nil || string(v) != want {
				t.Fatalf("Load(%s) = %q, %v", key, v, err)
			}
		}
		for _, key := range []string{"r:none", "r:rolledback", "none"} {
			if ok, err := kv.Exists(ctx, key); err != nil || ok {
				t.Fatalf("Exists(%s) = %v, %v", key, ok, err)
			}
		}
	}
	check(kv)
	b.Close()
	b, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	check(b.KV("s").KeepInMemory("r:"))
}

// TestExportStateWithLoggedKeys: logged keys are exported in their place in
// id order, as if filed under themselves, whatever the page size; and the
// backup count includes them.
func TestExportStateWithLoggedKeys(t *testing.T) {
	ctx := context.Background()
	b, err := Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := []vault.StateEntry{}
	for i, space := range []string{"a", "b"} {
		kv := b.KV(space).KeepInMemory("r:")
		// Written out of id order, some under their keys (an older file).
		for j := 9; j >= 0; j-- {
			id := fmt.Sprintf("%c%d", "ir"[j%2], j)
			if j%2 == 1 {
				id = "r:" + id
			}
			data := []byte(fmt.Sprint(i, j))
			store := kv
			if j == 3 {
				store = b.KV(space) // filed under itself
			}
			if err := store.Save(ctx, id, data); err != nil {
				t.Fatal(err)
			}
			want = append(want, vault.StateEntry{StateKey: vault.StateKey{Space: space, ID: id}, Data: data})
		}
	}
	// The same key written twice: the last value, once.
	if err := b.KV("b").KeepInMemory("r:").Save(ctx, "r:r1", []byte("again")); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if want[i].Space == "b" && want[i].ID == "r:r1" {
			want[i].Data = []byte("again")
		}
	}
	sortEntries(want)
	for _, limit := range []int{1, 3, 7, 100} {
		var got []vault.StateEntry
		after := vault.StateKey{}
		for {
			page, err := b.ExportState(ctx, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].StateKey
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("limit %d: exported\n%v\nwant\n%v", limit, got, want)
		}
	}
	var snap Snapshot
	if err := b.db.View(func(tx *bolt.Tx) (err error) { snap, err = count(tx); return err }); err != nil {
		t.Fatal(err)
	}
	if snap.StateEntries != int64(len(want))+1 { // r:r1 is logged twice
		t.Fatalf("backup counts %d state entries, want %d", snap.StateEntries, len(want)+1)
	}
}

func sortEntries(es []vault.StateEntry) {
	for i := range es {
		for j := i + 1; j < len(es); j++ {
			a, b := es[i].StateKey, es[j].StateKey
			if b.Space < a.Space || b.Space == a.Space && b.ID < a.ID {
				es[i], es[j] = es[j], es[i]
			}
		}
	}
}
