package keys_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/keys"
)

const testPAN = "4242424242424242"

// writeKeyset generates a keyset (encrypted when kek is set) into a file.
func writeKeyset(t testing.TB, dir string, kek []byte) string {
	t.Helper()
	var data []byte
	var err error
	if kek != nil {
		a, kerr := keys.NewKEK(kek)
		if kerr != nil {
			t.Fatal(kerr)
		}
		data, err = keys.GenerateKeyset(a)
	} else {
		data, err = keys.GenerateKeyset(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t testing.TB, o keys.Options) *keys.Keys {
	t.Helper()
	k, warning, err := keys.Load(o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	// A development keyset, or a cleartext keyset file, is warned about.
	if warning != "" && o.DevFile == "" && (o.File == "" || o.KEKEnv != "") {
		t.Errorf("unexpected warning %q", warning)
	}
	if warning == "" && o.File != "" && o.Env == "" && o.KEKEnv == "" {
		t.Error("no warning for a cleartext keyset file")
	}
	return k
}

func randomKEK(t testing.TB) []byte {
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	return kek
}

func TestFingerprint(t *testing.T) {
	path := writeKeyset(t, t.TempDir(), nil)
	k1 := mustLoad(t, keys.Options{File: path})
	k2 := mustLoad(t, keys.Options{File: path}) // a reload of the same file
	fp := k1.Fingerprint("acme", testPAN)
	if len(fp) != 64 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("fingerprint %q is not 32 bytes of hex", fp)
	}
	if got := k2.Fingerprint("acme", testPAN); got != fp {
		t.Errorf("fingerprint changed across reload: %s vs %s", got, fp)
	}
	if k1.Fingerprint("other", testPAN) == fp {
		t.Error("two tenants share a fingerprint")
	}
	if k1.Fingerprint("acme", "4000056655665556") == fp {
		t.Error("two PANs share a fingerprint")
	}
	// "acme"+"\x00"+pan must not equal "acme\x00"+""+...: the separator matters.
	if k1.Fingerprint("acme4", testPAN[1:]) == fp {
		t.Error("tenant/PAN boundary is ambiguous")
	}
	other := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	if other.Fingerprint("acme", testPAN) == fp {
		t.Error("two keysets give the same fingerprint")
	}
	if strings.Contains(fp, testPAN) {
		t.Error("fingerprint contains the PAN")
	}
}

func TestDeriveKey(t *testing.T) {
	path := writeKeyset(t, t.TempDir(), nil)
	k1, k2 := mustLoad(t, keys.Options{File: path}), mustLoad(t, keys.Options{File: path})
	a := k1.DeriveKey("emulator/cryptogram")
	if len(a) != 32 {
		t.Fatalf("derived key has %d bytes", len(a))
	}
	if string(k2.DeriveKey("emulator/cryptogram")) != string(a) {
		t.Error("derived key not stable across reload")
	}
	if string(k1.DeriveKey("other")) == string(a) {
		t.Error("two labels derive the same key")
	}
}

func TestLoadEnvPrecedence(t *testing.T) {
	fileKeys := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	data, err := keys.GenerateKeyset(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TG_TEST_KEYS", string(data))
	envKeys := mustLoad(t, keys.Options{Env: "TG_TEST_KEYS", File: "/nonexistent/keys.json"})
	if envKeys.Fingerprint("a", testPAN) == fileKeys.Fingerprint("a", testPAN) {
		t.Error("env keyset not used")
	}
	if _, _, err := keys.Load(keys.Options{Env: "TG_TEST_UNSET_KEYS"}); err == nil || !strings.Contains(err.Error(), "TG_TEST_UNSET_KEYS") {
		t.Errorf("unset variable error = %v, want it named", err)
	}
	if _, _, err := keys.Load(keys.Options{}); err == nil {
		t.Error("Load with no source succeeded")
	}
}

func TestLoadWithKEK(t *testing.T) {
	kek := randomKEK(t)
	path := writeKeyset(t, t.TempDir(), kek)
	t.Setenv("TG_TEST_KEK", base64.StdEncoding.EncodeToString(kek))
	t.Setenv("TG_TEST_WRONG_KEK", base64.StdEncoding.EncodeToString(randomKEK(t)))
	t.Setenv("TG_TEST_SHORT_KEK", base64.StdEncoding.EncodeToString(kek[:16]))
	t.Setenv("TG_TEST_BAD_KEK", "not base64!")

	k := mustLoad(t, keys.Options{File: path, KEKEnv: "TG_TEST_KEK"})
	sealed, err := k.Seal("acme", "fp", "tok", keys.Secrets{PAN: testPAN})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open("acme", "fp", "tok", sealed); err != nil {
		t.Fatal(err)
	}
	for env, what := range map[string]string{"TG_TEST_WRONG_KEK": "decrypt", "TG_TEST_SHORT_KEK": "32 bytes", "TG_TEST_BAD_KEK": "base64"} {
		_, _, err := keys.Load(keys.Options{File: path, KEKEnv: env})
		if err == nil || !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), env) && !strings.Contains(err.Error(), path) {
			t.Errorf("KEK %s: err = %v, want it to mention %q and the source", env, err, what)
		}
	}
	if _, _, err := keys.Load(keys.Options{File: path}); err == nil || !strings.Contains(err.Error(), "no key-encrypting key") {
		t.Errorf("encrypted keyset without KEK: err = %v", err)
	}
	plain := writeKeyset(t, t.TempDir(), nil)
	if _, _, err := keys.Load(keys.Options{File: plain, KEKEnv: "TG_TEST_KEK"}); err == nil || !strings.Contains(err.Error(), "cleartext") {
		t.Errorf("cleartext keyset with a KEK configured: err = %v", err)
	}
	if _, _, err := keys.Load(keys.Options{File: path, KEKEnv: "TG_TEST_UNSET_KEK"}); err == nil || !strings.Contains(err.Error(), "TG_TEST_UNSET_KEK") {
		t.Errorf("unset KEK variable: err = %v", err)
	}
}

func TestLoadDevFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev", "keys.json")
	// NoCreate (a check of the configuration) neither generates it nor
	// creates its directory.
	if _, _, err := keys.Load(keys.Options{DevFile: path, NoCreate: true}); !errors.Is(err, keys.ErrNoDevKeyset) {
		t.Fatalf("NoCreate without the file: %v, want ErrNoDevKeyset", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("NoCreate created the directory: %v", err)
	}
	k1, warning, err := keys.Load(keys.Options{DevFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warning, "development keyset generated at "+path) || !strings.Contains(warning, "do not use in production") {
		t.Errorf("first warning = %q", warning)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("dev keyset mode = %v, want 0600", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	k2, warning, err := keys.Load(keys.Options{DevFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warning, path) || !strings.Contains(warning, "do not use in production") {
		t.Errorf("reuse warning = %q, want a warning naming the file", warning)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("dev keyset rewritten on reuse")
	}
	if k1.Fingerprint("a", testPAN) != k2.Fingerprint("a", testPAN) {
		t.Error("dev keyset not reused")
	}
	// NoCreate loads one that exists.
	if k3, _, err := keys.Load(keys.Options{DevFile: path, NoCreate: true}); err != nil || k3.Fingerprint("a", testPAN) != k1.Fingerprint("a", testPAN) {
		t.Errorf("NoCreate with the file: %v", err)
	}
	// File wins over DevFile, with no warning.
	mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil), DevFile: path})
}

func TestLoadBadFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	bad := filepath.Join(dir, "bad.json")
	half := filepath.Join(dir, "half.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	os.WriteFile(half, []byte(`{"aead": {"primaryKeyId": 1, "key": []}}`), 0o600)
	for _, path := range []string{missing, bad, half} {
		_, _, err := keys.Load(keys.Options{File: path})
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%s) err = %v, want an error naming the file", filepath.Base(path), err)
		}
	}
	// A keyset whose halves are swapped is refused (wrong primitive types).
	data, _ := keys.GenerateKeyset(nil)
	swapped := strings.NewReplacer(`"aead"`, `"fingerprint"`, `"fingerprint"`, `"aead"`).Replace(string(data))
	if _, err := keys.Parse([]byte(swapped), nil); err == nil {
		t.Error("swapped keysets accepted")
	}
}

func BenchmarkFingerprint(b *testing.B) {
	k := mustLoad(b, keys.Options{File: writeKeyset(b, b.TempDir(), nil)})
	b.ReportAllocs()
	for b.Loop() {
		k.Fingerprint("acme", testPAN)
	}
}

// TestLoadWithKEKFile: the key-encrypting key read from a file (a systemd
// credential, a container secret), with its trailing newline; errors name
// the file and never show its contents; a variable and a file together are
// refused.
func TestLoadWithKEKFile(t *testing.T) {
	kek := randomKEK(t)
	dir := t.TempDir()
	path := writeKeyset(t, dir, kek)
	kekFile := filepath.Join(dir, "kek")
	if err := os.WriteFile(kekFile, []byte(base64.StdEncoding.EncodeToString(kek)+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	k, warning, err := keys.Load(keys.Options{File: path, KEKFile: kekFile})
	if err != nil || warning != "" {
		t.Fatalf("Load: %v (warning %q)", err, warning)
	}
	sealed, err := k.Seal("acme", "fp", "tok", keys.Secrets{PAN: testPAN})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open("acme", "fp", "tok", sealed); err != nil {
		t.Fatal(err)
	}

	wrong := base64.StdEncoding.EncodeToString(randomKEK(t))
	for name, c := range map[string]struct{ content, want string }{
		"wrong":  {wrong, "decrypt"},
		"short":  {base64.StdEncoding.EncodeToString(kek[:16]), "32 bytes"},
		"bad":    {"not base64!", "base64"},
		"empty":  {"", "32 bytes"},
		"large":  {strings.Repeat("A", 5000), "larger than"},
		"absent": {"", "no such file"},
	} {
		f := filepath.Join(dir, "kek-"+name)
		if name != "absent" {
			if err := os.WriteFile(f, []byte(c.content), 0o400); err != nil {
				t.Fatal(err)
			}
		}
		_, _, err := keys.Load(keys.Options{File: path, KEKFile: f})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), f) && !strings.Contains(err.Error(), path) {
			t.Errorf("KEK file %s: err = %v, want it to mention %q and the file", name, err, c.want)
		}
		if err != nil && name == "wrong" && strings.Contains(err.Error(), wrong) {
			t.Errorf("the error shows the file's contents: %v", err)
		}
	}
	t.Setenv("TG_TEST_KEK", base64.StdEncoding.EncodeToString(kek))
	if _, _, err := keys.Load(keys.Options{File: path, KEKEnv: "TG_TEST_KEK", KEKFile: kekFile}); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("a KEK variable and a KEK file: err = %v", err)
	}
}
