// Package basistheory is a network token service backed by Basis Theory's
// network tokens API (seed 003): tokengate provisions network tokens, gets
// cryptograms and changes token states through it, and its answers read the
// same as the builtin emulator's (the same refusal codes, the same states).
// Calls are retried with backoff where that is safe and go through a circuit
// breaker, so a provider that is down costs a checkout milliseconds.
package basistheory

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokengate/tokengate/network/providerhttp"
)

// Config configures a client.
type Config struct {
	// BaseURL is the API's base, e.g. https://api.basistheory.com.
	BaseURL string
	// APIKey is a private application's key with the network-token
	// permissions create, read, reveal, cryptogram, suspend, resume and
	// delete.
	APIKey string
	// Timeout bounds one HTTP attempt (default 5s); the caller's context
	// bounds the whole call, retries included.
	Timeout time.Duration
	// MaxTries bounds the attempts of a retryable call (default 3).
	MaxTries uint
	// Transport is the HTTP transport (default: http.DefaultTransport).
	Transport http.RoundTripper
}

// Client is safe for concurrent use.
type Client struct {
	cfg    Config
	base   *url.URL
	caller *providerhttp.Caller
}

// answer is one HTTP answer.
type answer struct {
	status int
	body   []byte
}

// errUnavailable wraps every failure to reach the provider.
var errUnavailable = providerhttp.ErrUnavailable

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	base, err := providerhttp.CheckBaseURL("basistheory", cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.APIKey == "" {
		return nil, errors.New("basistheory: api_key is required")
	}
	return &Client{cfg: cfg, base: base, caller: providerhttp.New(providerhttp.Config{
		Name: "basistheory", Timeout: cfg.Timeout, MaxTries: cfg.MaxTries, Transport: cfg.Transport})}, nil
}

// Name returns "basistheory".
func (c *Client) Name() string { return "basistheory" }

// call sends one API request (see providerhttp.Caller.Do for what is
// retried) with the API key and, when given, an idempotency key.
func (c *Client) call(ctx context.Context, method, path string, body any, idempotencyKey string, retry bool) (answer, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return answer{}, err
		}
	}
	a, err := c.caller.Do(ctx, method+" "+route(path), retry, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		req.Header.Set("BT-API-KEY", c.cfg.APIKey)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if idempotencyKey != "" {
			req.Header.Set("BT-IDEMPOTENCY-KEY", idempotencyKey)
		}
		return req, nil
	})
	return answer{status: a.Status, body: a.Body}, err
}

// route names a path for errors and logs without its id.
func route(path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) > 1 {
		parts[1] = "{id}"
	}
	return "/" + strings.Join(parts, "/")
}

// newKey is a random idempotency key, for calls that are safe to retry
// only with one.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// BreakerState names the state of the client's circuit breaker (see
// providerhttp.Caller.BreakerState).
func (c *Client) BreakerState() string { return c.caller.BreakerState() }
