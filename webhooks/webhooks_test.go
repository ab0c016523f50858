package webhooks_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
	"github.com/tokengate/tokengate/webhooks"
)

func setup(t *testing.T) (*webhooks.Receiver, vault.Vault, *rsa.PrivateKey) {
	t.Helper()
	v, err := boltvault.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	bt := vaulttest.Sample("acme", "tok_bt", "fp_bt")
	bt.Network = vault.NetworkToken{Provider: "basistheory", ID: "nt-1", Status: network.StatusActive}
	jp := vaulttest.Sample("acme", "tok_jp", "fp_jp")
	jp.Network = vault.NetworkToken{Provider: "juspay", ID: "cust_1/token_abc", Status: network.StatusActive, ExpMonth: "01", ExpYear: "2029"}
	for _, rec := range []vault.Record{bt, jp} {
		if _, _, err := v.Put(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	return &webhooks.Receiver{Vault: v, JuspaySecret: "s3cret", BasisTheoryKey: &key.PublicKey}, v, key
}

func btEvent(t *testing.T, key *rsa.PrivateKey, typ, status string, at time.Time) (string, string) {
	body := `{"event":{"id":"ev","type":"` + typ + `","timestamp":"` + at.UTC().Format(time.RFC3339Nano) + `","tenant_id":"t","data":{"network_token":{"id":"nt-1","status":"` + status + `"}}},"delivered_at":"x"}`
	stable, err := webhooks.StableStringify([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stable)
	sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	return body, base64.StdEncoding.EncodeToString(sig)
}

func send(h http.HandlerFunc, body string, headers ...string) (int, string) {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h(w, req)
	return w.Code, w.Body.String()
}

func TestBasisTheoryEvents(t *testing.T) {
	r, v, key := setup(t)
	status := func() string {
		rec, _ := v.Get(context.Background(), "acme", "tok_bt")
		return rec.Network.Status
	}
	now := time.Now().Add(time.Second)
	body, sig := btEvent(t, key, "network-token.updated", "suspended", now)
	if code, out := send(r.BasisTheory, body, "BT-SIGNATURE", sig); code != 200 || !strings.Contains(out, "updated") || status() != network.StatusSuspended {
		t.Fatalf("suspended: %d %s %s", code, out, status())
	}
	if code, out := send(r.BasisTheory, body, "BT-SIGNATURE", sig); code != 200 || !strings.Contains(out, "unchanged") {
		t.Fatalf("a duplicate: %d %s", code, out)
	}
	tampered := strings.Replace(body, "suspended", "active", 1)
	if code, _ := send(r.BasisTheory, tampered, "BT-SIGNATURE", sig); code != 401 || status() != network.StatusSuspended {
		t.Fatalf("a bad signature: %d, status %s", code, status())
	}
	old, oldSig := btEvent(t, key, "network-token.updated", "active", now.Add(-time.Hour))
	if code, out := send(r.BasisTheory, old, "BT-SIGNATURE", oldSig); code != 200 || !strings.Contains(out, "stale") || status() != network.StatusSuspended {
		t.Fatalf("an older event: %d %s %s", code, out, status())
	}
	del, delSig := btEvent(t, key, "network-token.deleted", "inactive", now.Add(2*time.Second))
	if code, _ := send(r.BasisTheory, del, "BT-SIGNATURE", delSig); code != 200 || status() != network.StatusDeleted {
		t.Fatalf("deleted: %d %s", code, status())
	}
	late, lateSig := btEvent(t, key, "network-token.updated", "active", now.Add(time.Hour))
	if _, out := send(r.BasisTheory, late, "BT-SIGNATURE", lateSig); !strings.Contains(out, "unchanged") || status() != network.StatusDeleted {
		t.Fatalf("an event after the deletion: %s %s", out, status())
	}
	if code, _ := send(r.BasisTheory, `{"event":`, "BT-SIGNATURE", sig); code != 401 {
		t.Fatalf("malformed and unsigned: %d", code)
	}
}

func TestJuspayEvents(t *testing.T) {
	r, v, _ := setup(t)
	body := `{"token":{"card_reference":"token_abc","customer_id":"cust_1","expiry_month":"05","expiry_year":"2032"}}`
	if code, _ := send(r.Juspay, body, "Authorization", "wrong"); code != 401 {
		t.Fatalf("a wrong secret: %d", code)
	}
	if code, out := send(r.Juspay, body, "Authorization", "s3cret"); code != 200 || !strings.Contains(out, "updated") {
		t.Fatalf("token expiry: %d %s", code, out)
	}
	rec, _ := v.Get(context.Background(), "acme", "tok_jp")
	if rec.Network.ExpMonth != "05" || rec.Network.ExpYear != "2032" {
		t.Fatalf("expiry not recorded: %s/%s", rec.Network.ExpMonth, rec.Network.ExpYear)
	}
	if _, out := send(r.Juspay, body, "Authorization", "s3cret"); !strings.Contains(out, "unchanged") {
		t.Fatalf("a duplicate: %s", out)
	}
	if _, out := send(r.Juspay, strings.Replace(body, "token_abc", "token_zzz", 1), "Authorization", "s3cret"); !strings.Contains(out, "unknown_token") {
		t.Fatalf("an unknown reference: %s", out)
	}
}

// A vault failure answers 503 (the provider sends the event again), which
// says nothing of it; its cause goes to Failed, once.
func TestUnavailableReportsItsCause(t *testing.T) {
	r, v, _ := setup(t)
	var causes []error
	r.Failed = func(_ context.Context, cause error) { causes = append(causes, cause) }
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	body := `{"token":{"card_reference":"token_abc","customer_id":"cust_1","expiry_month":"05","expiry_year":"2032"}}`
	code, out := send(r.Juspay, body, "Authorization", "s3cret")
	if code != http.StatusServiceUnavailable || strings.Contains(out, "closed") || len(causes) != 1 || !strings.Contains(causes[0].Error(), "record") {
		t.Fatalf("closed vault: %d %q, causes %v; want 503 and one cause", code, out, causes)
	}
}
