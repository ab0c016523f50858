package vaulttest

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/tokengate/tokengate/vault"
)

// SealedWith returns sealed bytes in the current record format as if the
// Tink key id had sealed them: the format byte, Tink's prefix, then bytes
// that stand for the ciphertext. Only a vault's key-id record reads them.
func SealedWith(id uint32) []byte {
	b := binary.BigEndian.AppendUint32([]byte{0x02, 0x01}, id)
	return append(b, "ciphertext and tag"...)
}

// KeyRecordingVault is what SealingKeysSuite needs of a backend.
type KeyRecordingVault interface {
	vault.Vault
	vault.Exporter
	vault.Importer
	vault.KeyRecorder
}

// SealingKeysSuite proves a backend records the key id of every record it
// writes (Put, Update, Import), never forgets one (Delete), and that a new
// vault's record is complete. v must be new and empty.
func SealingKeysSuite(t *testing.T, v KeyRecordingVault) {
	t.Helper()
	ctx := context.Background()
	want := func(ids ...uint32) {
		t.Helper()
		sk, err := v.SealingKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !sk.Complete || !slices.Equal(sk.IDs, ids) {
			t.Fatalf("SealingKeys = %v complete %v, want %v complete", sk.IDs, sk.Complete, ids)
		}
	}
	want()
	for i, id := range []uint32{7, 0xfffffff0, 7} {
		rec := Sample("acme", fmt.Sprintf("tok_%d", i), fmt.Sprintf("fp_%d", i))
		rec.Sealed = SealedWith(id)
		if _, _, err := v.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	want(7, 0xfffffff0)

	rec, err := v.Get(ctx, "acme", "tok_0")
	if err != nil {
		t.Fatal(err)
	}
	rec.Sealed = SealedWith(11) // re-sealed with a rotated key
	if _, err := v.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	want(7, 11, 0xfffffff0)

	imp := Sample("other", "tok_i", "fp_i")
	imp.Sealed = append([]byte{0x01}, SealedWith(3)[2:]...) // the first record format: Tink's prefix first
	imp.Version, imp.CreatedAt, imp.UpdatedAt = 1, rec.CreatedAt, rec.CreatedAt
	if out, err := v.Import(ctx, []vault.Record{imp}); err != nil || out[0] != vault.Imported {
		t.Fatalf("Import: %v %v", out, err)
	}
	want(3, 7, 11, 0xfffffff0)

	// A record whose bytes carry no key id is stored, and records nothing.
	bare := Sample("acme", "tok_bare", "fp_bare")
	bare.Sealed = []byte("x")
	if _, _, err := v.Put(ctx, bare); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"tok_0", "tok_1", "tok_2", "tok_bare"} {
		if err := v.Delete(ctx, "acme", tok); err != nil {
			t.Fatal(err)
		}
	}
	want(3, 7, 11, 0xfffffff0) // a list of what sealed records once: deletes keep it

	if err := v.RecordSealingKeys(ctx, []uint32{5, 7}, false); err != nil {
		t.Fatal(err)
	}
	want(3, 5, 7, 11, 0xfffffff0)
}

// BackfillSuite proves the scan of an older vault: v holds records its
// key-id record does not list and is not complete (the caller made it so,
// as a release that did not record would have left it); the records' ids
// are the given ones. BackfillSealingKeys finds them and marks it complete,
// and a record written since is listed too.
func BackfillSuite(t *testing.T, v KeyRecordingVault, ids ...uint32) {
	t.Helper()
	ctx := context.Background()
	sk, err := v.SealingKeys(ctx)
	if err != nil || sk.Complete {
		t.Fatalf("an older vault's record says complete (%v, %v)", sk, err)
	}
	if got, err := vault.ScanSealingKeys(ctx, v); err != nil || !slices.Equal(got, ids) {
		t.Fatalf("ScanSealingKeys = %v, %v; want %v", got, err, ids)
	}
	sk, err = vault.BackfillSealingKeys(ctx, v)
	if err != nil || !sk.Complete || !slices.Equal(sk.IDs, ids) {
		t.Fatalf("BackfillSealingKeys = %v, %v; want %v complete", sk, err, ids)
	}
	known, err := vault.KnownSealingKeys(ctx, v)
	if err != nil || !slices.Equal(known, ids) {
		t.Fatalf("KnownSealingKeys = %v, %v", known, err)
	}
}
