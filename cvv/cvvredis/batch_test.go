package cvvredis_test

import (
	"context"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/cvv/cvvredis"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestPutBatched: concurrent PutCVVs, sent together in pipelines, each hold
// their own CVV, taken once; a caller whose context has ended gets an error
// without waiting.
func TestPutBatched(t *testing.T) {
	s := cvvredis.New(client(t), vaulttest.Keys(t), prefix())
	ctx := context.Background()
	const n = 300 // more than one pipeline's worth
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.PutCVV(ctx, "acme", "tok_"+strconv.Itoa(i), strconv.Itoa(100+i), time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		got, ok, err := s.TakeCVV(ctx, "acme", "tok_"+strconv.Itoa(i))
		if err != nil || !ok || got != strconv.Itoa(100+i) {
			t.Fatalf("token %d: %q %v %v", i, got, ok, err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.PutCVV(done, "acme", "tok_gone", "123", time.Minute); err == nil {
		t.Error("PutCVV with an ended context: no error")
	}
	if _, ok, _ := s.TakeCVV(ctx, "acme", "tok_gone"); ok {
		t.Error("a CVV put with an ended context was held")
	}
}

// TestPutTTL: the SET the batcher builds itself carries the TTL as
// go-redis's Set did: in milliseconds, at least one, none for a TTL of
// zero.
func TestPutTTL(t *testing.T) {
	c := client(t)
	s := cvvredis.New(c, vaulttest.Keys(t), prefix())
	ctx := context.Background()
	for _, tc := range []struct {
		ttl      time.Duration
		min, max time.Duration // PTTL right after; -1: no expiry
	}{
		{time.Minute, 59 * time.Second, time.Minute},
		{1500 * time.Millisecond, time.Second, 1500 * time.Millisecond},
		{0, -1, -1},
	} {
		tok := "tok_ttl_" + tc.ttl.String()
		if err := s.PutCVV(ctx, "acme", tok, "123", tc.ttl); err != nil {
			t.Fatal(err)
		}
		got, err := c.PTTL(ctx, s.KeyFor("acme", tok)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if tc.min == -1 && got != -1 || tc.min != -1 && (got < tc.min || got > tc.max) {
			t.Errorf("TTL %v: PTTL %v, want within [%v, %v]", tc.ttl, got, tc.min, tc.max)
		}
		if v, ok, err := s.TakeCVV(ctx, "acme", tok); err != nil || !ok || v != "123" {
			t.Errorf("TTL %v: taken %q %v %v", tc.ttl, v, ok, err)
		}
	}
}

// TestPutPooledRequestsGiveUp: requests are pooled, so a caller that gives
// up while its SET is in flight must not let its request (key and sealed
// value) be reused under it. Many rounds of concurrent puts, some with a
// deadline too short to wait for the pipeline: every CVV held is the one
// put under its token (a value under another token's key would not open),
// and a put that succeeded is held.
func TestPutPooledRequestsGiveUp(t *testing.T) {
	s := cvvredis.New(client(t), vaulttest.Keys(t), prefix())
	ctx := context.Background()
	const n = 400
	ok := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, cancel := ctx, context.CancelFunc(func() {})
			if i%3 == 0 {
				c, cancel = context.WithTimeout(ctx, time.Duration(i%7)*50*time.Microsecond)
			}
			defer cancel()
			ok[i] = s.PutCVV(c, "acme", "tok_g"+strconv.Itoa(i), strconv.Itoa(1000+i), time.Minute) == nil
		})
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // SETs of callers that gave up land
	t.Logf("%d of %d puts gave up", n-len(slices.DeleteFunc(slices.Clone(ok), func(b bool) bool { return !b })), n)
	for i := range n {
		got, held, err := s.TakeCVV(ctx, "acme", "tok_g"+strconv.Itoa(i))
		switch {
		case err != nil:
			t.Fatalf("token %d: %v", i, err)
		case held && got != strconv.Itoa(1000+i):
			t.Fatalf("token %d holds %q", i, got)
		case ok[i] && !held:
			t.Fatalf("token %d: put succeeded, nothing held", i)
		}
	}
}

// TestPutReturnsWhenCallerGivesUp: while Redis does not answer, a PutCVV
// whose context ends returns then, not at the store's timeout (2 s), even
// the call whose SET started the batch; a call with no deadline of its own
// still gets its answer (here the store's timeout), so the batch went on.
func TestPutReturnsWhenCallerGivesUp(t *testing.T) {
	// A server that takes connections and never answers: Redis stalled.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	defer conns.Wait()
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { _, _ = io.Copy(io.Discard, c) })
			defer c.Close()
		}
	}()
	c := redis.NewClient(cvvredis.Options(ln.Addr().String(), "", 0))
	defer c.Close()
	s := cvvredis.New(c, vaulttest.Keys(t), prefix())

	patient := make(chan error, 1)
	for i, wait := range []time.Duration{50 * time.Millisecond, 0, 50 * time.Millisecond} {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if wait > 0 {
			ctx, cancel = context.WithTimeout(ctx, wait)
		}
		put := func() error { return s.PutCVV(ctx, "acme", "tok_"+strconv.Itoa(i), "123", time.Minute) }
		if wait == 0 {
			go func() { patient <- put() }()
			cancel()
			continue
		}
		start := time.Now()
		err := put()
		cancel()
		if took := time.Since(start); err == nil || took > time.Second {
			t.Errorf("put %d with a %v deadline, Redis silent: %v after %v", i, wait, err, took)
		}
	}
	select {
	case err := <-patient:
		if err == nil {
			t.Error("a put to a silent Redis succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Error("a put with no deadline still waiting after 5s")
	}
}
