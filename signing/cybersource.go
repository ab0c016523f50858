// Package signing signs a request tokengate sends on, after detokenization
// has changed its body, for processors that verify a signature over it.
// It knows nothing of Caddy: it takes the final request and body.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// Cybersource's HTTP Signature (shared secret), as its REST client signs a
// request (repository CyberSource/cybersource-rest-client-python, commit
// 63ac484):
//   - CyberSource/api_client.py (call_authentication_header): headers
//     v-c-merchant-id, Date, Host, and for POST, PUT and PATCH
//     Digest: "SHA-256=" + base64(sha256(body)), then Signature;
//   - authenticationsdk/http/HTTPSignatureToken.py: Signature is
//     keyid="<key id>", algorithm="HmacSHA256",
//     headers="host date request-target digest v-c-merchant-id",
//     signature="<signature>" (", " between parameters; GET and DELETE
//     leave digest out);
//   - authenticationsdk/http/GetSignatureParameter.py: the signed string is
//     "host: <host>\ndate: <date>\nrequest-target: <method lower> <path>\n
//     digest: SHA-256=<digest>\nv-c-merchant-id: <merchant id>" (no
//     trailing newline; "request-target", not "(request-target)"), and the
//     signature base64(HMAC-SHA256(base64-decoded secret, that string));
//   - authenticationsdk/core/MerchantConfiguration.py (get_time): Date is an
//     RFC 7231 HTTP-date (wsgiref format_date_time).

// CybersourceKey is the merchant's key, as Cybersource's portal issues it.
type CybersourceKey struct {
	MerchantID string
	KeyID      string
	Secret     []byte // the shared secret, base64-decoded
}

// hasDigest are the methods whose signature covers the body.
func hasDigest(method string) bool {
	switch strings.ToUpper(method) {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return true
	}
	return false
}

// SignCybersource replaces req's authentication headers with ones signed
// with k over body (req's final body) and req.Host (the destination's).
// The merchant's Signature, Digest and Authorization (a JWT, which also
// holds a body digest) are stale once the body changed and are dropped.
// Date is kept when it is a valid HTTP-date, so that a merchant's clock
// decides, and set from now otherwise.
func SignCybersource(req *http.Request, body []byte, k CybersourceKey, now time.Time) {
	h := req.Header
	h.Del("Signature")
	h.Del("Digest")
	h.Del("Authorization")
	if _, err := http.ParseTime(h.Get("Date")); err != nil || len(h.Values("Date")) != 1 {
		h.Set("Date", now.UTC().Format(http.TimeFormat))
	}
	h.Set("v-c-merchant-id", k.MerchantID)
	headers := "host date request-target v-c-merchant-id"
	digest := ""
	if hasDigest(req.Method) {
		sum := sha256.Sum256(body)
		digest = "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
		h.Set("Digest", digest)
		headers = "host date request-target digest v-c-merchant-id"
	}
	sig := CybersourceSignature(k.Secret, req.Host, h.Get("Date"), strings.ToLower(req.Method)+" "+req.URL.RequestURI(), digest, k.MerchantID)
	h.Set("Signature", `keyid="`+k.KeyID+`", algorithm="HmacSHA256", headers="`+headers+`", signature="`+sig+`"`)
}

// CybersourceSignature is the signature parameter over the given header
// values; digest is "" for a method without a body.
func CybersourceSignature(secret []byte, host, date, target, digest, merchantID string) string {
	var b strings.Builder
	b.WriteString("host: " + host + "\ndate: " + date + "\nrequest-target: " + target + "\n")
	if digest != "" {
		b.WriteString("digest: " + digest + "\n")
	}
	b.WriteString("v-c-merchant-id: " + merchantID)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
