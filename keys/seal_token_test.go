package keys_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokengate/tokengate/keys"
)

// A record's sealed data opens only under its own token: two records of one
// tenant swapped whole (sealed data and fingerprint) no longer open under
// each other's token.
func TestSealBindsToken(t *testing.T) {
	k := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	sealed, err := k.Seal("acme", "fpA", "tok_A", testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	if keys.NeedsReseal(sealed) || !k.Current(sealed) {
		t.Fatal("a new seal is not in the current format")
	}
	if _, err := k.Open("acme", "fpA", "tok_A", sealed); err != nil {
		t.Fatalf("own token: %v", err)
	}
	for name, c := range map[string][3]string{
		"other token":         {"acme", "fpA", "tok_B"},
		"other tenant":        {"evil", "fpA", "tok_A"},
		"other fingerprint":   {"acme", "fpB", "tok_A"},
		"token boundary":      {"acme", "fpAtok_", "A"},
		"fingerprint in both": {"acme", "fp", "Atok_A"},
	} {
		if _, err := k.Open(c[0], c[1], c[2], sealed); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	if k.LegacyOpens() != 0 {
		t.Errorf("LegacyOpens = %d after current-format opens only", k.LegacyOpens())
	}
}

// Records sealed before the token was bound still open (under any token of
// their tenant and fingerprint: that is the residual until they are
// re-sealed), are counted, and Reseal moves them to the current format,
// after which only their own token opens them.
func TestLegacyRecordsOpenAndReseal(t *testing.T) {
	k := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	old, err := k.SealLegacyForTests("acme", "fpA", testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	if !keys.NeedsReseal(old) || k.Current(old) {
		t.Fatal("a first-format record is not recognised as one")
	}
	if got, err := k.Open("acme", "fpA", "tok_A", old); err != nil || got != testSecrets {
		t.Fatalf("first-format record does not open: %v", err)
	}
	if k.LegacyOpens() != 1 {
		t.Errorf("LegacyOpens = %d, want 1", k.LegacyOpens())
	}
	if _, err := k.Open("evil", "fpA", "tok_A", old); err == nil {
		t.Error("a first-format record opened for another tenant")
	}
	resealed, ok := k.Reseal("acme", "fpA", "tok_A", old)
	if !ok || keys.NeedsReseal(resealed) {
		t.Fatalf("Reseal: ok=%v", ok)
	}
	if got, err := k.Open("acme", "fpA", "tok_A", resealed); err != nil || got != testSecrets {
		t.Fatalf("re-sealed record does not open: %v", err)
	}
	if _, err := k.Open("acme", "fpA", "tok_B", resealed); err == nil {
		t.Error("re-sealed record opened under another token")
	}
	if _, ok := k.Reseal("acme", "fpA", "tok_A", resealed); ok {
		t.Error("Reseal re-sealed a current record")
	}
	if _, ok := k.Reseal("evil", "fpA", "tok_A", old); ok {
		t.Error("Reseal re-sealed a record that does not open where it is")
	}
}

// The fallback to the first format can never open a current-format
// ciphertext: not with its format byte stripped, not with a tenant or
// fingerprint crafted so that the first format's associated data spells the
// second's, and a first-format ciphertext given the format byte does not
// open either.
func TestLegacyFallbackCannotOpenCurrentRecords(t *testing.T) {
	k := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	sealed, err := k.Seal("acme", "fpB", "tok_B", testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	stripped := sealed[1:]
	if !keys.NeedsReseal(stripped) {
		t.Fatal("a stripped ciphertext still reads as current")
	}
	// The second format's associated data, written as tenant "\xff..." and
	// a fingerprint holding the rest: refused (not UTF-8), and would not
	// match anyway.
	tag := "\xfftokengate/record/v2"
	for _, c := range [][3]string{
		{"acme", "fpB", "tok_A"},
		{tag, "\x04acme\x03fpB\x05tok_B", "tok_A"},
		{"", "fpB", "tok_A"},
	} {
		if _, err := k.Open(c[0], c[1], c[2], stripped); err == nil {
			t.Errorf("a current ciphertext without its format byte opened through the fallback (%q)", c[0])
		}
	}
	old, _ := k.SealLegacyForTests("acme", "fpB", testSecrets)
	if _, err := k.Open("acme", "fpB", "tok_B", append([]byte{sealed[0]}, old...)); err == nil {
		t.Error("a first-format ciphertext marked current opened")
	}
	if k.LegacyOpens() != 0 {
		t.Errorf("LegacyOpens = %d", k.LegacyOpens())
	}
}

// RefuseLegacy turns the fallback off: after caddy tokengate reseal, no
// first-format ciphertext (from a backup, say) opens any more.
func TestRefuseLegacy(t *testing.T) {
	k := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	old, _ := k.SealLegacyForTests("acme", "fpA", testSecrets)
	k.RefuseLegacy(true)
	if _, err := k.Open("acme", "fpA", "tok_A", old); err == nil {
		t.Fatal("a first-format record opened with the fallback off")
	}
	if _, ok := k.Reseal("acme", "fpA", "tok_A", old); ok {
		t.Fatal("Reseal went through the fallback while it is off")
	}
	sealed, _ := k.Seal("acme", "fpA", "tok_A", testSecrets)
	if _, err := k.Open("acme", "fpA", "tok_A", sealed); err != nil {
		t.Fatalf("current record with the fallback off: %v", err)
	}
}

// Current is false for records sealed with a key other than the primary
// one (before a rotation), so reseal moves them to the newest key.
func TestCurrentFollowsThePrimaryKey(t *testing.T) {
	dir := t.TempDir()
	path := writeKeyset(t, dir, nil)
	before := mustLoad(t, keys.Options{File: path})
	sealed, _ := before.Seal("acme", "fp", "tok", testSecrets)
	data, _ := os.ReadFile(path)
	rotated, err := keys.RotateKeyset(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	newPath := filepath.Join(dir, "rotated.json")
	if err := os.WriteFile(newPath, rotated, 0o600); err != nil {
		t.Fatal(err)
	}
	after := mustLoad(t, keys.Options{File: newPath})
	if !before.Current(sealed) || after.Current(sealed) {
		t.Fatalf("Current before/after rotation = %v/%v, want true/false", before.Current(sealed), after.Current(sealed))
	}
	again, _ := after.Seal("acme", "fp", "tok", testSecrets)
	if !after.Current(again) || bytes.Equal(again[:6], sealed[:6]) {
		t.Fatal("a new seal after rotation is not current")
	}
}

// Open builds associated data in pooled arrays: a long one (not kept) and
// short ones after it still bind each record to its own tenant and token.
func TestOpenAssociatedDataReused(t *testing.T) {
	k := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	long := "tok_" + string(bytes.Repeat([]byte("x"), 700))
	ids := [][3]string{{"acme", "fpA", long}, {"acme", "fpA", "tok_A"}, {"ac", "fpA", "tok_A"}, {"acme", "fpA", "tok_" + long}}
	sealed := make([][]byte, len(ids))
	for i, id := range ids {
		var err error
		if sealed[i], err = k.Seal(id[0], id[1], id[2], testSecrets); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		for i, id := range ids {
			for j := range ids {
				_, err := k.Open(id[0], id[1], id[2], sealed[j])
				if (err == nil) != (i == j) {
					t.Fatalf("record %d opened as %d: %v", j, i, err)
				}
			}
		}
	}
}
