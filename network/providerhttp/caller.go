// Package providerhttp is how network token providers call their APIs: one
// HTTP attempt at a time under a per-attempt timeout, retries with
// exponential backoff and jitter (honouring Retry-After) where a call is
// safe to repeat, a circuit breaker per provider so a provider that is down
// costs milliseconds, answers bounded and read whole, no redirects, https
// off this machine, and an otelhttp span per request.
package providerhttp

import (
	"context"
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

	"github.com/tokengate/tokengate/errdefs"
)

// MaxAnswer bounds an answer: providers' objects are a few KiB.
const MaxAnswer = 1 << 20

// Answer is one HTTP answer, read whole.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Caller is safe for concurrent use.
type Caller struct {
	name     string
	http     *http.Client
	breaker  *gobreaker.CircuitBreaker[Answer]
	maxTries uint
}

// Config configures a Caller.
type Config struct {
	// Name names the provider in errors and in the breaker.
	Name string
	// Timeout bounds one attempt (default 5s).
	Timeout time.Duration
	// MaxTries bounds the attempts of a retryable call (default 3).
	MaxTries uint
	// Transport is the HTTP transport (default http.DefaultTransport).
	Transport http.RoundTripper
}

// ErrUnavailable wraps every failure to reach a provider. It is an
// errdefs.ErrUnavailable, which is what callers match.
var ErrUnavailable = fmt.Errorf("the network token provider is %w", errdefs.ErrUnavailable)

// errCallerGone marks a call the caller canceled: not the provider failing.
var errCallerGone = errors.New("the caller canceled the call")

// New returns a Caller.
func New(cfg Config) *Caller {
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
	return &Caller{
		name: cfg.Name,
		http: &http.Client{
			Transport: otelhttp.NewTransport(transport),
			Timeout:   cfg.Timeout,
			// A redirect would send card data and the API key elsewhere:
			// never followed; the answer is taken as it is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		maxTries: cfg.MaxTries,
		breaker: gobreaker.NewCircuitBreaker[Answer](gobreaker.Settings{
			Name:        cfg.Name,
			MaxRequests: 1,
			Timeout:     10 * time.Second,
			ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= 5 },
			IsExcluded:  func(err error) bool { return errors.Is(err, errCallerGone) },
		}),
	}
}

// CheckBaseURL parses a provider's base URL: absolute, and https unless the
// host is on this machine (a sandbox).
func CheckBaseURL(name, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("%s: base_url %q: want an absolute URL", name, raw)
	}
	if u.Scheme != "https" && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("%s: base_url %q: https is required off this machine", name, raw)
	}
	return u, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Do sends the request newRequest makes (a fresh one per attempt) and
// returns its answer. Connection errors, 408, 409, 429 and 5xx are retried
// when retry is set (the call is idempotent or carries an idempotency key);
// otherwise, and after the last try, they are errors wrapping
// ErrUnavailable. Other answers, refusals included, are returned as they
// are: the provider answered.
func (c *Caller) Do(ctx context.Context, op string, retry bool, newRequest func(context.Context) (*http.Request, error)) (Answer, error) {
	attempt := func() (Answer, error) {
		req, err := newRequest(ctx)
		if err != nil {
			return Answer{}, backoff.Permanent(err)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return Answer{}, c.retryable(retry, fmt.Errorf("%w: %s %s: %w", ErrUnavailable, c.name, op, err))
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
		switch {
		case err != nil:
			return Answer{}, c.retryable(retry, fmt.Errorf("%w: %s %s: reading the answer: %w", ErrUnavailable, c.name, op, err))
		case len(data) > MaxAnswer:
			return Answer{}, backoff.Permanent(fmt.Errorf("%w: %s %s: an answer larger than 1 MiB", ErrUnavailable, c.name, op))
		}
		a := Answer{Status: resp.StatusCode, Header: resp.Header, Body: data}
		switch s := resp.StatusCode; {
		case s == http.StatusRequestTimeout || s == http.StatusConflict || s == http.StatusTooManyRequests || s >= 500:
			err := fmt.Errorf("%w: %s %s: status %d", ErrUnavailable, c.name, op, s)
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
	return c.breaker.Execute(func() (Answer, error) {
		a, err := backoff.Retry(ctx, attempt, backoff.WithMaxTries(c.maxTries), backoff.WithBackOff(newBackOff()))
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

func (c *Caller) retryable(retry bool, err error) error {
	if retry {
		return err
	}
	return backoff.Permanent(err)
}

// newBackOff is exponential with jitter, short enough for a checkout.
func newBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = time.Second
	return b
}

// retryAfter reads a Retry-After of seconds, capped at 5s.
func retryAfter(v string) (time.Duration, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false
	}
	return min(time.Duration(n)*time.Second, 5*time.Second), true
}

// BreakerState names the state of the provider's circuit breaker:
// "closed" (calls go through), "open" (calls fail at once, for 10s after 5
// failures in a row) or "half-open" (one trial call goes through). It is
// for health checks; it takes the breaker's lock, briefly.
func (c *Caller) BreakerState() string { return c.breaker.State().String() }
