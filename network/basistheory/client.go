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
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
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
	// Transport is the HTTP transport (default: http.DefaultTransport);
	// requests are traced through otelhttp either way.
	Transport http.RoundTripper
}

// maxResponse bounds an answer: a network token object is about 1 KiB.
const maxResponse = 1 << 20

// Client is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	http    *http.Client
	breaker *gobreaker.CircuitBreaker[answer]
}

// answer is one HTTP answer, read whole.
type answer struct {
	status int
	body   []byte
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("basistheory: base_url %q: want an absolute URL such as https://api.basistheory.com", cfg.BaseURL)
	}
	// Card data crosses a network only encrypted; plain http is for a
	// sandbox on this machine.
	if base.Scheme != "https" && !loopback(base.Hostname()) {
		return nil, fmt.Errorf("basistheory: base_url %q: https is required off this machine", cfg.BaseURL)
	}
	if cfg.APIKey == "" {
		return nil, errors.New("basistheory: api_key is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxTries == 0 {
		cfg.MaxTries = 3
	}
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	c := &Client{cfg: cfg, base: base, http: &http.Client{
		Transport: otelhttp.NewTransport(transport),
		Timeout:   cfg.Timeout,
		// A redirect would send the card and the API key elsewhere: never
		// followed, the answer is taken as it is (and is an error).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	c.breaker = gobreaker.NewCircuitBreaker[answer](gobreaker.Settings{
		Name:        "basistheory",
		MaxRequests: 1,
		Timeout:     10 * time.Second,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= 5 },
		// The caller giving up is not the provider failing.
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
	})
	return c, nil
}

// Name returns "basistheory".
func (c *Client) Name() string { return "basistheory" }

// errCallerGone is a call the caller canceled: not the provider's failure.
var errCallerGone = errors.New("basistheory: the caller canceled the call")

// loopback reports whether host never leaves the machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errUnavailable wraps every failure to reach the provider.
var errUnavailable = errors.New("basistheory: the provider is unavailable")

// call sends one API request and returns its answer. Connection errors,
// 408, 409 (a concurrent duplicate), 429 and 5xx are retried with
// exponential backoff and jitter, honouring Retry-After, when retry is set
// (the call is idempotent or carries an idempotency key); the circuit
// breaker counts only such failures, not the provider's refusals.
func (c *Client) call(ctx context.Context, method, path string, body any, idempotencyKey string, retry bool) (answer, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return answer{}, err
		}
	}
	attempt := func() (answer, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, bytes.NewReader(payload))
		if err != nil {
			return answer{}, backoff.Permanent(err)
		}
		req.Header.Set("BT-API-KEY", c.cfg.APIKey)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if idempotencyKey != "" {
			req.Header.Set("BT-IDEMPOTENCY-KEY", idempotencyKey)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return answer{}, c.retryable(retry, fmt.Errorf("%w: %s %s: %w", errUnavailable, method, route(path), err))
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
		switch {
		case err != nil:
			return answer{}, c.retryable(retry, fmt.Errorf("%w: reading the answer: %w", errUnavailable, err))
		case len(data) > maxResponse:
			return answer{}, backoff.Permanent(fmt.Errorf("%w: an answer larger than 1 MiB", errUnavailable))
		}
		a := answer{status: resp.StatusCode, body: data}
		switch s := resp.StatusCode; {
		case s == http.StatusRequestTimeout || s == http.StatusConflict || s == http.StatusTooManyRequests || s >= 500:
			err := fmt.Errorf("%w: %s %s: status %d", errUnavailable, method, route(path), s)
			if !retry {
				return a, backoff.Permanent(err)
			}
			if after, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
				return a, backoff.RetryAfter(int(after.Seconds()))
			}
			return a, err
		}
		return a, nil
	}
	return c.breaker.Execute(func() (answer, error) {
		a, err := backoff.Retry(ctx, attempt, backoff.WithMaxTries(c.cfg.MaxTries), backoff.WithBackOff(newBackOff()))
		switch {
		case err == nil:
		case errors.Is(ctx.Err(), context.Canceled):
			return a, fmt.Errorf("%w: %w", errCallerGone, err)
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
			return a, context.DeadlineExceeded
		}
		return a, err
	})
}

// newBackOff is exponential with jitter, short enough for a checkout.
func newBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = time.Second
	return b
}

func (c *Client) retryable(retry bool, err error) error {
	if retry {
		return err
	}
	return backoff.Permanent(err)
}

// retryAfter reads a Retry-After of seconds, capped at 5s (a checkout cannot
// wait longer; the caller's deadline ends it anyway).
func retryAfter(v string) (time.Duration, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false
	}
	return min(time.Duration(n)*time.Second, 5*time.Second), true
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
