package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// VerifyCybersource checks req's Cybersource HTTP Signature as the
// processor would: the Digest header against body as received, then the
// HMAC over the headers the Signature names, in its order, with secret.
// It is what tests run as the processor; it reads the request only as it
// arrived, never how SignCybersource built it.
func VerifyCybersource(req *http.Request, body []byte, keyID string, secret []byte) error {
	params := map[string]string{}
	for _, p := range strings.Split(req.Header.Get("Signature"), ", ") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return fmt.Errorf("signature: malformed parameter %q", k)
		}
		params[k] = v[1 : len(v)-1]
	}
	if params["keyid"] != keyID {
		return errors.New("signature: unknown keyid")
	}
	if params["algorithm"] != "HmacSHA256" {
		return errors.New("signature: algorithm is not HmacSHA256")
	}
	names := strings.Fields(params["headers"])
	if hasDigest(req.Method) {
		sum := sha256.Sum256(body)
		if req.Header.Get("Digest") != "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]) {
			return errors.New("digest: does not match the body")
		}
	}
	var lines []string
	covered := map[string]bool{}
	for _, n := range names {
		var v string
		switch n {
		case "host":
			v = req.Host
		case "request-target":
			v = strings.ToLower(req.Method) + " " + req.URL.RequestURI()
		default:
			if len(req.Header.Values(n)) != 1 {
				return fmt.Errorf("signature: header %s is not there once", n)
			}
			v = req.Header.Get(n)
		}
		covered[n] = true
		lines = append(lines, n+": "+v)
	}
	for _, n := range []string{"host", "date", "request-target", "v-c-merchant-id"} {
		if !covered[n] {
			return fmt.Errorf("signature: does not cover %s", n)
		}
	}
	if hasDigest(req.Method) && !covered["digest"] {
		return errors.New("signature: does not cover digest")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strings.Join(lines, "\n")))
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(params["signature"]), []byte(want)) {
		return errors.New("signature: does not match")
	}
	return nil
}
