package basistheory_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/network/basistheory"
)

// faulty is a test server answering by a script: each call gets the next
// status (the last repeats), 200 with body ok.
func faulty(t *testing.T, statuses []int, header http.Header, ok string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(calls.Add(1)) - 1
		status := statuses[min(i, len(statuses)-1)]
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		if status == 200 {
			w.Write([]byte(ok))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

const okCryptogram = `{"cryptogram":"2z8pd6WGPUi/BBesvjJcyw==","eci":"07"}`

func cryptogram(t *testing.T, url string) (network.Cryptogram, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return client(t, url).Cryptogram(ctx, network.CryptogramRequest{TokenID: "nt_1"})
}

func TestRetriesAndFaults(t *testing.T) {
	t.Run("500 then success is retried", func(t *testing.T) {
		srv, calls := faulty(t, []int{500, 503, 200}, nil, okCryptogram)
		if c, err := cryptogram(t, srv.URL); err != nil || c.ECI != "07" || calls.Load() != 3 {
			t.Fatalf("%v after %d calls", err, calls.Load())
		}
	})
	t.Run("429 honours Retry-After", func(t *testing.T) {
		srv, calls := faulty(t, []int{429, 200}, http.Header{"Retry-After": {"1"}}, okCryptogram)
		start := time.Now()
		if _, err := cryptogram(t, srv.URL); err != nil || calls.Load() != 2 || time.Since(start) < 900*time.Millisecond {
			t.Fatalf("%v after %d calls in %s", err, calls.Load(), time.Since(start))
		}
	})
	t.Run("malformed answer is an error, not a panic", func(t *testing.T) {
		srv, _ := faulty(t, []int{200}, nil, `{"cryptogram":`)
		if _, err := cryptogram(t, srv.URL); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("oversized answer is refused", func(t *testing.T) {
		srv, _ := faulty(t, []int{200}, nil, `{"cryptogram":"`+strings.Repeat("A", 2<<20)+`","eci":"07"}`)
		if _, err := cryptogram(t, srv.URL); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("provider down, then the breaker opens", func(t *testing.T) {
		srv, calls := faulty(t, []int{500}, nil, "")
		c := client(t, srv.URL)
		for range 5 { // 5 calls of 3 tries each fail: the breaker opens
			if _, err := c.Cryptogram(context.Background(), network.CryptogramRequest{TokenID: "nt"}); err == nil {
				t.Fatal("a failing provider succeeded")
			}
		}
		before := calls.Load()
		start := time.Now()
		_, err := c.Cryptogram(context.Background(), network.CryptogramRequest{TokenID: "nt"})
		if err == nil || calls.Load() != before || time.Since(start) > 50*time.Millisecond {
			t.Fatalf("with the breaker open: %v, %d more calls, %s", err, calls.Load()-before, time.Since(start))
		}
	})
	t.Run("refusals do not trip the breaker", func(t *testing.T) {
		srv, calls := faulty(t, []int{404}, nil, "")
		c := client(t, srv.URL)
		for range 8 {
			if _, err := c.Get(context.Background(), "nt"); !errors.Is(err, network.ErrNotFound) {
				t.Fatalf("404: %v", err)
			}
		}
		if calls.Load() != 8 {
			t.Fatalf("%d calls for 8 lookups", calls.Load())
		}
	})
	t.Run("connection refused, within the caller's deadline", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := client(t, url).Get(ctx, "nt"); err == nil || time.Since(start) > time.Second {
			t.Fatalf("%v in %s", err, time.Since(start))
		}
	})
}

func TestNoRedirectsAndHTTPS(t *testing.T) {
	if _, err := basistheory.New(basistheory.Config{BaseURL: "http://api.example.com", APIKey: "k"}); err == nil {
		t.Error("plain http off this machine was accepted")
	}
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	_, err := client(t, redirect.URL).Provision(context.Background(), network.ProvisionRequest{PAN: "4111111111111111", ExpMonth: "12", ExpYear: "2031"})
	if err == nil || elsewhere.Load() != 0 {
		t.Fatalf("a redirect was followed (%d requests elsewhere, %v)", elsewhere.Load(), err)
	}
}

// A provider slower than the provisioning budget: the call ends at the
// deadline (lifecycle records the card vault-only with reason timeout).
func TestSlowPastTheBudget(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer slow.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client(t, slow.URL).Provision(ctx, network.ProvisionRequest{PAN: "4111111111111111", ExpMonth: "12", ExpYear: "2031", IdempotencyKey: "k"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("%v after %s", err, time.Since(start))
	}
}

// A create whose answer is lost (the sandbox made the token, the client got
// a 502) is retried with the same idempotency key and gets that token: no
// orphan at the provider.
func TestLostAnswerNoOrphan(t *testing.T) {
	sb := sandbox(t)
	target, _ := url.Parse(sb.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var lost atomic.Bool
	var creates atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/network-tokens" {
			creates.Add(1)
			if lost.CompareAndSwap(false, true) {
				rec := httptest.NewRecorder()
				proxy.ServeHTTP(rec, r)              // the sandbox creates the token...
				w.WriteHeader(http.StatusBadGateway) // ...and its answer is lost
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c := client(t, front.URL)
	tok, err := c.Provision(context.Background(), network.ProvisionRequest{PAN: "5555555555554444", ExpMonth: "12", ExpYear: "2031", IdempotencyKey: "card-1"})
	if err != nil || creates.Load() != 2 {
		t.Fatalf("%v after %d creates", err, creates.Load())
	}
	again, err := client(t, sb.URL).Provision(context.Background(), network.ProvisionRequest{PAN: "5555555555554444", ExpMonth: "12", ExpYear: "2031"})
	if err != nil || again.ID != tok.ID {
		t.Fatalf("the sandbox holds another token for the card (%s, %s): %v", tok.ID, again.ID, err)
	}
}
