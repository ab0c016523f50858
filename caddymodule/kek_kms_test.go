package caddymodule

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault/boltvault"
)

// Two keys local-kms is seeded with: the one the keyset is wrapped by, and
// another (a wrong key).
const (
	kmsAccount = "111122223333"
	kmsRegion  = "eu-west-1"
	kmsKeyA    = "bc436485-5092-42b8-92a3-0aa8b93536dc"
	kmsKeyB    = "49c5492b-b1bc-42a8-9a5c-b2015e810c1c"
)

// localKMS is local-kms (github.com/nsmithuk/local-kms), an AWS KMS API
// server, run from the binary TOKENGATE_LOCAL_KMS names on a loopback port
// of its own; its keys persist in its data directory across restarts.
type localKMS struct {
	t        *testing.T
	bin, dir string
	port     int
	cmd      *exec.Cmd
}

// newLocalKMS prepares local-kms (not started) and AWS credentials for the
// SDK (local-kms accepts any). Without the binary the test is skipped, or
// fails under TOKENGATE_REQUIRE_SERVICES=1.
func newLocalKMS(t *testing.T) *localKMS {
	t.Helper()
	bin := os.Getenv("TOKENGATE_LOCAL_KMS")
	if bin == "" {
		if requireServices() {
			t.Fatal("local-kms is required (TOKENGATE_REQUIRE_SERVICES=1) and TOKENGATE_LOCAL_KMS is not set: .ci/run installs it")
		}
		t.Skip("local-kms not installed: GOBIN=$PWD/bin go install github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6 and set TOKENGATE_LOCAL_KMS=$PWD/bin/local-kms")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("TOKENGATE_LOCAL_KMS: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	k := &localKMS{t: t, bin: bin, dir: t.TempDir(), port: port}
	seed := fmt.Sprintf("Keys:\n  Symmetric:\n    Aes:\n      - Metadata:\n          KeyId: %s\n        BackingKeys:\n          - %s\n      - Metadata:\n          KeyId: %s\n        BackingKeys:\n          - %s\n",
		kmsKeyA, strings.Repeat("3a", 32), kmsKeyB, strings.Repeat("5c", 32))
	if err := os.WriteFile(filepath.Join(k.dir, "seed.yaml"), []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.stop)
	return k
}

func (k *localKMS) endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(k.port) }

func kmsURI(key string) string {
	return keys.AWSKMSPrefix + "arn:aws:kms:" + kmsRegion + ":" + kmsAccount + ":key/" + key
}

// start runs local-kms and waits until it accepts connections.
func (k *localKMS) start() {
	k.t.Helper()
	k.cmd = exec.Command(k.bin)
	k.cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(k.port), "KMS_ACCOUNT_ID="+kmsAccount, "KMS_REGION="+kmsRegion,
		"KMS_DATA_PATH="+filepath.Join(k.dir, "data"), "KMS_SEED_PATH="+filepath.Join(k.dir, "seed.yaml"))
	k.cmd.Stdout, k.cmd.Stderr = nil, nil
	if err := k.cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(k.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("local-kms did not listen on port %d", k.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends local-kms (the process this test started).
func (k *localKMS) stop() {
	if k.cmd != nil && k.cmd.Process != nil {
		_ = k.cmd.Process.Kill()
		_ = k.cmd.Wait()
		k.cmd = nil
	}
}

// kekBlock is the Caddyfile's kek for key on k.
func (k *localKMS) kekBlock(key string) string {
	return "kek aws_kms {\n\t\t\tkey_uri " + kmsURI(key) + "\n\t\t\tendpoint " + k.endpoint() + "\n\t\t\ttimeout 5s\n\t\t}"
}

// kmsKeygen makes a keyset wrapped by key with caddy tokengate keygen.
func kmsKeygen(t *testing.T, k *localKMS, key string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyset.json")
	if _, stderr, err := runTokengate(t, "keygen", "--keyset", path, "--kek-uri", kmsURI(key), "--kms-endpoint", k.endpoint()); err != nil {
		t.Fatalf("keygen with --kek-uri: %v %s", err, stderr)
	}
	return path
}

// TestKEKInLocalKMS: a keyset made by keygen wrapped by a local-kms key is
// opened by a real Caddy at Start (not while the config is validated) and
// serves tokenize and detokenize; an unchanged keyset is not unwrapped
// again on reload, while the KMS is down.
func TestKEKInLocalKMS(t *testing.T) {
	k := newLocalKMS(t)
	k.start()
	keyset := kmsKeygen(t, k, kmsKeyA)
	if keys.IsCleartextKeyset(mustRead(t, keyset)) {
		t.Fatal("keygen --kek-uri wrote a cleartext keyset")
	}
	global := "keyset_file " + keyset + "\n\t\t" + k.kekBlock(kmsKeyA)
	g := startGateway(t, global)
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if in.status != http.StatusOK || strings.Contains(in.body, visaPAN) {
		t.Fatalf("tokenize: %d %s", in.status, in.body)
	}
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	if out.status != http.StatusOK || out.header.Get(InjectedHeader) == "" || strings.Contains(out.body, "tok_") {
		t.Fatalf("detokenize with the keyset unwrapped by local-kms: %d %q", out.status, out.header.Get(InjectedHeader))
	}
	rd := g.app().Readiness()
	if c := component(t, rd, componentKEK); !rd.Ready || c.State != StateReady || c.Backend != "aws_kms" || !c.Required {
		t.Fatalf("readiness: %+v", rd)
	}
	if !strings.Contains(g.log(), "keyset unwrapped by its key-encrypting key in a KMS") {
		t.Fatal("the log does not say the keyset was unwrapped")
	}

	// A reload that changes the rules only, with the KMS down: the keyset
	// is the one already unwrapped, and the gateway keeps serving.
	k.stop()
	g.load(g.config(global+"\n\t\tmax_body_size 2MB", defaultSites))
	if r := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA); r.status != http.StatusOK {
		t.Fatalf("detokenize after a reload with the KMS down: %d %s", r.status, r.body)
	}

	// rotate with the KMS key, reload: the rotated keyset (other bytes) is
	// unwrapped again, new cards use the new key, old tokens still pay.
	k.start()
	before := g.app().keys.PrimaryKeyID()
	if _, stderr, err := runTokengate(t, "rotate", "--keyset", keyset, "--kek-uri", kmsURI(kmsKeyA), "--kms-endpoint", k.endpoint()); err != nil {
		t.Fatalf("rotate with --kek-uri: %v %s", err, stderr)
	}
	g.load(g.config(global, defaultSites))
	if after := g.app().keys.PrimaryKeyID(); after == before || !g.app().keys.HasKeyID(before) {
		t.Fatalf("after rotate and reload the primary key is %d (was %d)", after, before)
	}
	if r := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA); r.status != http.StatusOK {
		t.Fatalf("an old token after rotate: %d %s", r.status, r.body)
	}
}

// TestKEKWrongKMSKey: a keyset wrapped by one KMS key, configured with
// another: the KMS answers and refuses, and the start fails closed with an
// error naming the key URI (never key material).
func TestKEKWrongKMSKey(t *testing.T) {
	k := newLocalKMS(t)
	k.start()
	keyset := kmsKeygen(t, k, kmsKeyA)
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	err := g.tryLoad(g.config("keyset_file "+keyset+"\n\t\t"+k.kekBlock(kmsKeyB), defaultSites), "caddyfile")
	if err == nil {
		t.Fatal("a keyset wrapped by another KMS key started")
	}
	for _, want := range []string{kmsURI(kmsKeyB), "refused to decrypt the keyset"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the error does not say %q: %v", want, err)
		}
	}
	assertNoKeyMaterial(t, keyset, err.Error(), g.log())
	// caddy validate (Provision and Validate) calls no KMS: it passes with
	// the KMS down, and the keyset cannot be checked then.
	k.stop()
	cfg := g.config("keyset_file "+keyset+"\n\t\t"+k.kekBlock(kmsKeyB), defaultSites)
	if err := validate(t, g.addr(cfg)); err != nil {
		t.Fatalf("validate with the KMS down: %v", err)
	}
}

// TestKEKKMSDownAtStart: the KMS does not answer when Caddy starts: the
// gateway starts not ready (503, component kek waiting, logged, counted)
// and serves once local-kms is up, without a restart.
func TestKEKKMSDownAtStart(t *testing.T) {
	k := newLocalKMS(t)
	k.start()
	keyset := kmsKeygen(t, k, kmsKeyA)
	k.stop()
	g := startGateway(t, "keyset_file "+keyset+"\n\t\t"+k.kekBlock(kmsKeyA))
	notReadyAnswered(t, g)
	rd := g.app().Readiness()
	if c := component(t, rd, componentKEK); rd.Ready || rd.State != StateWaiting || c.State != StateWaiting || c.Reason != reasonUnreachable || c.Attempts < 1 {
		t.Fatalf("readiness with the KMS down: %+v", rd)
	}
	if !strings.Contains(g.log(), "tokengate started NOT READY") || !strings.Contains(g.log(), "could not be reached") {
		t.Fatal("the log does not say the KMS could not be reached")
	}
	k.start()
	if r := waitReady(t, g); r.status != http.StatusOK {
		t.Fatalf("tokenize once the KMS answers: %d %s", r.status, r.body)
	}
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA); out.status != http.StatusOK || out.header.Get(InjectedHeader) == "" {
		t.Fatalf("detokenize once the KMS answers: %d %q", out.status, out.header.Get(InjectedHeader))
	}
	assertNoKeyMaterial(t, keyset, g.log())
}

// TestKEKRewrapEnvToKMSAndBack: rewrap moves a keyset from a KEK in a
// variable to a KMS key and back; the keys inside do not change.
func TestKEKRewrapEnvToKMSAndBack(t *testing.T) {
	k := newLocalKMS(t)
	k.start()
	t.Setenv("TEST_KMS_KEK", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	path := filepath.Join(t.TempDir(), "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", path, "--kek-env", "TEST_KMS_KEK"); err != nil {
		t.Fatal(err)
	}
	before, _, err := keys.Load(keys.Options{File: path, KEKEnv: "TEST_KMS_KEK"})
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runTokengate(t, "rewrap", "--keyset", path, "--kek-env", "TEST_KMS_KEK", "--new-kek-uri", kmsURI(kmsKeyA), "--new-kms-endpoint", k.endpoint()); err != nil {
		t.Fatalf("rewrap to the KMS: %v %s", err, stderr)
	}
	kms := keys.AWSKMS{KeyURI: kmsURI(kmsKeyA), Endpoint: k.endpoint()}
	mid, _, err := keys.Load(keys.Options{File: path, KEK: kms})
	if err != nil {
		t.Fatalf("load rewrapped by the KMS: %v", err)
	}
	if _, _, err := keys.Load(keys.Options{File: path, KEKEnv: "TEST_KMS_KEK"}); err == nil {
		t.Fatal("the old KEK still opens the keyset rewrapped by the KMS")
	}
	// keys status takes the KMS key too.
	vaultFile := filepath.Join(t.TempDir(), "v.db")
	if b, err := boltvault.Open(vaultFile); err != nil {
		t.Fatal(err)
	} else {
		b.Close()
	}
	if _, stderr, err := runTokengate(t, "keys", "status", "--vault", "bolt:"+vaultFile, "--keyset", path,
		"--kek-uri", kmsURI(kmsKeyA), "--kms-endpoint", k.endpoint()); err != nil {
		t.Fatalf("keys status with --kek-uri: %v %s", err, stderr)
	}
	if _, stderr, err := runTokengate(t, "rewrap", "--keyset", path, "--kek-uri", kmsURI(kmsKeyA), "--kms-endpoint", k.endpoint(), "--new-kek-env", "TEST_KMS_KEK"); err != nil {
		t.Fatalf("rewrap back to the variable: %v %s", err, stderr)
	}
	after, _, err := keys.Load(keys.Options{File: path, KEKEnv: "TEST_KMS_KEK"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ks := range []*keys.Keys{mid, after} {
		if ks.Fingerprint("t", visaPAN) != before.Fingerprint("t", visaPAN) || ks.PrimaryKeyID() != before.PrimaryKeyID() {
			t.Fatal("rewrapping changed the keys")
		}
	}
	// Contradicting flags are refused by name.
	if _, _, err := runTokengate(t, "rotate", "--keyset", path, "--kek-env", "TEST_KMS_KEK", "--kek-uri", kmsURI(kmsKeyA)); err == nil || !strings.Contains(err.Error(), "--kek-uri") {
		t.Fatalf("--kek-env with --kek-uri: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNoKeyMaterial fails if any text holds the keyset's encrypted
// keysets (or a key from them).
func assertNoKeyMaterial(t *testing.T, keyset string, texts ...string) {
	t.Helper()
	data := string(mustRead(t, keyset))
	for _, field := range strings.Split(data, "\"") {
		if len(field) < 24 || strings.Contains(field, ".") {
			continue
		}
		for _, s := range texts {
			if strings.Contains(s, field) {
				t.Fatalf("key material from the keyset file appears in an error or log: %.16s...", field)
			}
		}
	}
}
