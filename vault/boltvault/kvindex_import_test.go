package boltvault

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tokengate/tokengate/vault"
)

// TestImportStateSeesLoggedKeys: importing an entry whose key is logged
// (kvindex.go) is what importing one filed under itself is: the same value
// is already present, another value is a conflict. Filed again under
// itself instead, a conflicting reservation (one DPAN reserved by two
// tokens, e.g. two vaults merged) would go unreported, and Load would
// answer with the imported value rather than the vault's own.
func TestImportStateSeesLoggedKeys(t *testing.T) {
	ctx := context.Background()
	b, err := Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv := b.KV("s").KeepInMemory("r:")
	if err := kv.SaveAll(ctx, map[string][]byte{"r:same": []byte("tok1"), "r:other": []byte("tok2")}); err != nil {
		t.Fatal(err)
	}
	out, err := b.ImportState(ctx, []vault.StateEntry{
		{StateKey: vault.StateKey{Space: "s", ID: "r:same"}, Data: []byte("tok1")},
		{StateKey: vault.StateKey{Space: "s", ID: "r:other"}, Data: []byte("tok3")},
		{StateKey: vault.StateKey{Space: "s", ID: "r:new"}, Data: []byte("tok4")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []vault.ImportOutcome{vault.AlreadyPresent, vault.ImportConflict, vault.Imported}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("entry %d: outcome %v, want %v", i, out[i], want[i])
		}
	}
	if v, err := kv.Load(ctx, "r:other"); err != nil || string(v) != "tok2" {
		t.Errorf("Load(r:other) = %q, %v; want the vault's own tok2", v, err)
	}
}
