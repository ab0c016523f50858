package cvvredis

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// putBatcher sends the SETs of concurrent PutCVV calls to Redis together,
// in one pipeline: one write and one read on one connection for all of
// them, instead of a round trip (two system calls on each side, and a
// pooled connection) each. Under load (bench/run's 16 connections, each
// holding a repeat card's CVV) Redis and the gateway share the CPU, and
// every round trip saved is CPU for requests.
//
// A call that finds no batch being sent sends one itself (its own SET and
// any that queued meanwhile): under the gateway's load most batches hold
// one SET, and the caller sending it saves a goroutine start and two
// hand-offs per CVV. Calls that arrive while a batch is in flight queue;
// if any are left when the sender's batch is answered, a worker goroutine
// sends them, then what came meanwhile, and ends when nothing is left:
// nothing to start or stop with the store.
type putBatcher struct {
	client *redis.Client

	mu      sync.Mutex
	pending []*putReq
	running bool
}

// putReq is one PutCVV waiting: its key, sealed value and TTL, and where
// its result goes (buffered: the worker never waits for a caller that
// gave up).
type putReq struct {
	key    string
	sealed []byte
	ttl    time.Duration
	done   chan error
}

// maxBatch bounds one pipeline; more wait for the next.
const maxBatch = 128

// put holds the sealed value under key, batched with other calls. A
// caller whose context ends before the batch is answered gets its error;
// its SET may still be applied (as a command already written is, when a
// caller gives up on a single round trip), and expires with its TTL. A
// caller sending the batch itself waits for Redis's answer, within the
// store's timeout (send's); a queued caller waits within it too (its own:
// the batches ahead of its own may each take that long).
func (b *putBatcher) put(ctx context.Context, key string, sealed []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err // not sent
	}
	req := &putReq{key: key, sealed: sealed, ttl: ttl, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, req)
	if b.running {
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		select {
		case err := <-req.done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Nothing in flight: pending held nothing before req, so req is in
	// the batch this call sends.
	b.running = true
	b.mu.Unlock()
	b.sendNext()
	b.mu.Lock()
	if len(b.pending) > 0 {
		go b.run() // those that came meanwhile
	} else {
		b.running = false
	}
	b.mu.Unlock()
	return <-req.done
}

// run sends batches until none is pending.
func (b *putBatcher) run() {
	for b.sendNext() {
	}
}

// sendNext sends up to maxBatch pending requests, oldest first; when none
// is pending it marks the batcher idle and returns false.
func (b *putBatcher) sendNext() bool {
	b.mu.Lock()
	n := min(len(b.pending), maxBatch)
	if n == 0 {
		b.running = false
		b.mu.Unlock()
		return false
	}
	batch := make([]*putReq, n)
	copy(batch, b.pending)
	rest := copy(b.pending, b.pending[n:])
	clear(b.pending[rest:])
	b.pending = b.pending[:rest]
	b.mu.Unlock()
	b.send(batch)
	return true
}

// send sets every request of batch in one pipeline, within the store's
// timeout, and answers each with its own command's error.
func (b *putBatcher) send(batch []*putReq) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	pipe := b.client.Pipeline()
	cmds := make([]*redis.StatusCmd, len(batch))
	for i, req := range batch {
		cmds[i] = pipe.Set(ctx, req.key, req.sealed, req.ttl)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, req := range batch {
		req.done <- cmds[i].Err()
	}
}
