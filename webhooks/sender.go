package webhooks

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/tokengate/tokengate/network/providerhttp"
)

// Sender delivers events as Basis Theory does: the envelope
// {"event":{id,type,timestamp,tenant_id,data},"delivered_at"}, signed in
// BT-SIGNATURE (RSA-PSS SHA-256 over the stably stringified body), posted to
// one URL, retried with backoff while the receiver answers 5xx or is
// unreachable. Delivery is best effort and in the background: the call
// that changed the token does not wait for it.
type Sender struct {
	URL    string
	Key    *rsa.PrivateKey
	caller *providerhttp.Caller
}

// NewSender returns a sender to url, signing with key.
func NewSender(url string, key *rsa.PrivateKey) (*Sender, error) {
	if _, err := providerhttp.CheckBaseURL("webhook", url); err != nil {
		return nil, err
	}
	return &Sender{URL: url, Key: key, caller: providerhttp.New(providerhttp.Config{Name: "webhook", MaxTries: 5})}, nil
}

// Send delivers one event about a network token in the background.
func (s *Sender) Send(tenantID, eventType string, networkToken any) {
	now := time.Now().UTC()
	env := map[string]any{
		"event": map[string]any{
			"id": uuid.NewString(), "type": eventType, "timestamp": now.Format(time.RFC3339Nano), "tenant_id": tenantID,
			"data": map[string]any{"network_token": networkToken},
		},
		"delivered_at": now.Format(time.RFC3339Nano),
	}
	body, err := json.Marshal(env)
	if err != nil {
		return
	}
	stable, err := StableStringify(body)
	if err != nil {
		return
	}
	sum := sha256.Sum256(stable)
	sig, err := rsa.SignPSS(rand.Reader, s.Key, crypto.SHA256, sum[:], nil)
	if err != nil {
		return
	}
	signature := base64.StdEncoding.EncodeToString(sig)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = s.caller.Do(ctx, "POST event", true, func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("BT-SIGNATURE", signature)
			req.Header.Set("BT-SIGNATURE-VERSION", "1")
			return req, nil
		})
	}()
}
