package keys_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/keys"
)

var testSecrets = keys.Secrets{PAN: testPAN, Name: "Jane Cardholder", DPAN: "4895370012003478"}

func TestSealOpenRoundtrip(t *testing.T) {
	k := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	sealed, err := k.Seal("acme", "fp1", "tok", testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(testPAN)) || bytes.Contains(sealed, []byte("Jane")) {
		t.Fatal("sealed data contains plaintext")
	}
	got, err := k.Open("acme", "fp1", "tok", sealed)
	if err != nil {
		t.Fatal(err)
	}
	if got != testSecrets {
		t.Errorf("Open = %s, want the sealed secrets", got) // redacted print
	}
	again, _ := k.Seal("acme", "fp1", "tok", testSecrets)
	if bytes.Equal(again, sealed) {
		t.Error("two seals of the same data are identical (nonce reuse?)")
	}
}

func TestOpenWrongAssociatedData(t *testing.T) {
	k := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	sealed, err := k.Seal("acme", "fp1", "tok", testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	cases := map[string]struct {
		tenant, fp string
		sealed     []byte
	}{
		"other tenant":      {"evil", "fp1", sealed},
		"other fingerprint": {"acme", "fp2", sealed},
		"boundary shift":    {"acme\x00fp", "1", sealed},
		"tampered":          {"acme", "fp1", tampered},
		"empty":             {"acme", "fp1", nil},
	}
	for name, c := range cases {
		_, err := k.Open(c.tenant, c.fp, "tok", c.sealed)
		if err == nil {
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), testPAN) {
			t.Errorf("%s: error leaks the PAN", name)
		}
	}
	other := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	if _, err := other.Open("acme", "fp1", "tok", sealed); err == nil {
		t.Error("another keyset opened the data")
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := writeKeyset(t, dir, nil)
	old := mustLoad(t, keys.Options{File: path})
	sealedBefore, err := old.Seal("acme", "fp", "tok", testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	rotated, err := keys.RotateKeyset(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	newPath := filepath.Join(dir, "rotated.json")
	os.WriteFile(newPath, rotated, 0o600)
	k := mustLoad(t, keys.Options{File: newPath})

	if got, err := k.Open("acme", "fp", "tok", sealedBefore); err != nil || got != testSecrets {
		t.Fatalf("data sealed before rotation: %v", err)
	}
	sealedAfter, err := k.Seal("acme", "fp", "tok", testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	// After the format byte, Tink ciphertexts start with 0x01 and the 4-byte
	// id of the sealing key.
	if bytes.Equal(sealedAfter[1:6], sealedBefore[1:6]) {
		t.Error("new seals still use the old primary key")
	}
	if _, err := old.Open("acme", "fp", "tok", sealedAfter); err == nil {
		t.Error("the pre-rotation keyset opened data sealed with the new key")
	}
	if k.Fingerprint("acme", testPAN) != old.Fingerprint("acme", testPAN) {
		t.Error("rotation changed fingerprints")
	}
}

func TestRotationWithKEK(t *testing.T) {
	raw := randomKEK(t)
	kek, err := keys.NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	data, err := keys.GenerateKeyset(kek)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.RotateKeyset(data, nil); err == nil {
		t.Error("rotated an encrypted keyset without the KEK")
	}
	rotated, err := keys.RotateKeyset(data, kek)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rotated, []byte(`"keyData"`)) || !bytes.Contains(rotated, []byte(`"encryptedKeyset"`)) {
		t.Error("rotated keyset written in cleartext")
	}
	before, _ := keys.Parse(data, kek)
	after, err := keys.Parse(rotated, kek)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := before.Seal("t", "f", "tok", testSecrets)
	if _, err := after.Open("t", "f", "tok", sealed); err != nil {
		t.Errorf("open after rotation: %v", err)
	}
}

func TestSecretsRedaction(t *testing.T) {
	var buf bytes.Buffer
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		fmt.Fprintf(&buf, format+"\n", testSecrets)
		fmt.Fprintf(&buf, format+"\n", &testSecrets)
	}
	fmt.Fprintln(&buf, testSecrets, []keys.Secrets{testSecrets}, map[string]any{"s": testSecrets})
	j, _ := json.Marshal(map[string]any{"s": testSecrets})
	buf.Write(j)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "s", testSecrets)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "s", testSecrets)
	out := buf.String()
	for _, secret := range []string{testSecrets.PAN, testSecrets.DPAN, testSecrets.Name, "42424242", "34323432"} {
		if strings.Contains(out, secret) {
			t.Fatalf("output leaks %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Errorf("output does not say it redacted:\n%s", out)
	}
}

func benchKeys(b *testing.B) *keys.Keys {
	return mustLoad(b, keys.Options{File: writeKeyset(b, b.TempDir(), nil)})
}

func BenchmarkSeal(b *testing.B) {
	k := benchKeys(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Seal("acme", "fp", "tok", testSecrets); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k := benchKeys(b)
	sealed, _ := k.Seal("acme", "fp", "tok", testSecrets)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open("acme", "fp", "tok", sealed); err != nil {
			b.Fatal(err)
		}
	}
}
