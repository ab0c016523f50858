package signing

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var (
	testSecret, _ = base64.StdEncoding.DecodeString("dG9rZW5nYXRlIHRlc3Qgc2hhcmVkIHNlY3JldCAzMmI=")
	testKey       = CybersourceKey{MerchantID: "testrest", KeyID: "08c94330-f618-42a3-b09d-e1e43be5efda", Secret: testSecret}
)

const vectorBody = `{"clientReferenceInformation":{"code":"TC50171_3"}}`

// A known vector: the digest and signature computed outside Go, with
// Python's hashlib, hmac and base64, building the signed string as
// GetSignatureParameter.py does (see SignCybersource's citation).
func TestSignCybersourceVector(t *testing.T) {
	r := httptest.NewRequest("POST", "https://apitest.cybersource.com/pts/v2/payments", strings.NewReader(vectorBody))
	r.Header.Set("Date", "Thu, 18 Jul 2019 22:18:03 GMT")
	r.Header.Set("Signature", `keyid="old", algorithm="HmacSHA256", headers="host", signature="stale"`)
	r.Header.Set("Digest", "SHA-256=stale")
	SignCybersource(r, []byte(vectorBody), testKey, time.Now())
	if got := r.Header.Get("Digest"); got != "SHA-256=8/r3xgd0zzJf7lzdmDJ0phW/UOyPt23n++R+PbYNQeU=" {
		t.Errorf("Digest %s", got)
	}
	want := `keyid="08c94330-f618-42a3-b09d-e1e43be5efda", algorithm="HmacSHA256", headers="host date request-target digest v-c-merchant-id", signature="DzfmEIC8vv12Q2UTsqwRBg7ALcGq4GWLUplZXAuwOe0="`
	if got := r.Header.Get("Signature"); got != want {
		t.Errorf("Signature\n got %s\nwant %s", got, want)
	}
	if r.Header.Get("Date") != "Thu, 18 Jul 2019 22:18:03 GMT" || r.Header.Get("v-c-merchant-id") != "testrest" {
		t.Errorf("headers: %v", r.Header)
	}
	if err := VerifyCybersource(r, []byte(vectorBody), testKey.KeyID, testSecret); err != nil {
		t.Errorf("verify: %v", err)
	}
}

// The verifier can fail: a changed body, header, key or path is refused,
// which is what the merchant's signature meets once the body is
// detokenized. A missing Date is set.
func TestVerifyCybersourceRejects(t *testing.T) {
	signed := func() *http.Request {
		r := httptest.NewRequest("POST", "https://apitest.cybersource.com/pts/v2/payments", nil)
		r.Header.Set("Authorization", "Bearer stale")
		SignCybersource(r, []byte(vectorBody), testKey, time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC))
		return r
	}
	r := signed()
	if r.Header.Get("Date") != "Mon, 07 Dec 2026 06:00:00 GMT" || r.Header.Get("Authorization") != "" {
		t.Errorf("Date %q, Authorization %q", r.Header.Get("Date"), r.Header.Get("Authorization"))
	}
	other, _ := base64.StdEncoding.DecodeString("b3RoZXIgc2VjcmV0")
	for _, tc := range []struct {
		name  string
		edit  func(*http.Request) []byte
		key   string
		sec   []byte
		wants string
	}{
		{"body changed", func(*http.Request) []byte { return []byte(strings.Replace(vectorBody, "TC", "TD", 1)) }, testKey.KeyID, testSecret, "digest"},
		{"digest recomputed, signature stale", func(r *http.Request) []byte {
			b := []byte(strings.Replace(vectorBody, "TC", "TD", 1))
			s := r.Header.Get("Signature")
			SignCybersource(r, b, testKey, time.Now())
			r.Header.Set("Signature", s)
			return b
		}, testKey.KeyID, testSecret, "signature: does not match"},
		{"merchant id changed", func(r *http.Request) []byte { r.Header.Set("v-c-merchant-id", "other"); return []byte(vectorBody) }, testKey.KeyID, testSecret, "does not match"},
		{"host changed", func(r *http.Request) []byte { r.Host = "api.cybersource.com"; return []byte(vectorBody) }, testKey.KeyID, testSecret, "does not match"},
		{"path changed", func(r *http.Request) []byte { r.URL.Path = "/pts/v2/refunds"; return []byte(vectorBody) }, testKey.KeyID, testSecret, "does not match"},
		{"other secret", func(*http.Request) []byte { return []byte(vectorBody) }, testKey.KeyID, other, "does not match"},
		{"other key id", func(*http.Request) []byte { return []byte(vectorBody) }, "k2", testSecret, "keyid"},
	} {
		r := signed()
		b := tc.edit(r)
		if err := VerifyCybersource(r, b, tc.key, tc.sec); err == nil || !strings.Contains(err.Error(), tc.wants) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wants)
		}
	}
	if err := VerifyCybersource(signed(), []byte(vectorBody), testKey.KeyID, testSecret); err != nil {
		t.Errorf("unchanged: %v", err)
	}
}
