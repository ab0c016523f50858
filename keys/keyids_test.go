package keys_test

import (
	"os"
	"slices"
	"testing"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
)

// The key id a vault reads from a record's sealed bytes, without opening
// them, is the id of the keyset's key that sealed it, in both record
// formats; a rotated keyset lists both its keys and seals with the new one.
func TestSealingKeyIDs(t *testing.T) {
	path := writeKeyset(t, t.TempDir(), nil)
	k := mustLoad(t, keys.Options{File: path})
	if ids := k.KeyIDs(); len(ids) != 1 || ids[0] != k.PrimaryKeyID() || !k.HasKeyID(ids[0]) || k.HasKeyID(ids[0]+1) {
		t.Fatalf("KeyIDs %v, primary %d", ids, k.PrimaryKeyID())
	}
	if k.HasRawKey() {
		t.Fatal("a keyset keygen made holds a key without an output prefix")
	}
	first := k.PrimaryKeyID()
	sealed, err := k.Seal("acme", "fp", "tok_1", testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := k.SealLegacyForTests("acme", "fp", testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range [][]byte{sealed, legacy} {
		if id, ok := vault.SealingKeyID(s); !ok || id != first {
			t.Fatalf("SealingKeyID = %d %v, want %d", id, ok, first)
		}
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := keys.RotateKeyset(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := keys.Parse(rotated, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ids := r.KeyIDs(); len(ids) != 2 || !slices.Contains(ids, first) || r.PrimaryKeyID() == first || !slices.IsSorted(ids) {
		t.Fatalf("rotated KeyIDs %v, primary %d", ids, r.PrimaryKeyID())
	}
	resealed, err := r.Seal("acme", "fp", "tok_1", testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := vault.SealingKeyID(resealed); id != r.PrimaryKeyID() {
		t.Fatalf("a seal after rotation carries key %d, want the new primary %d", id, r.PrimaryKeyID())
	}
	for _, junk := range [][]byte{nil, {0x02}, {0x02, 0x01, 0, 0}, {0x05, 1, 2, 3, 4, 5}} {
		if _, ok := vault.SealingKeyID(junk); ok {
			t.Errorf("SealingKeyID(%x) found an id", junk)
		}
	}
}
