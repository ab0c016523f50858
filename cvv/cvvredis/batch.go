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
// A call that finds no batch being sent starts a worker goroutine, which
// sends what is pending, then what came meanwhile, and ends when nothing
// is left: nothing to start or stop with the store, and a lone call pays
// one goroutine hand-off.
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
// caller gives up on a single round trip), and expires with its TTL.
func (b *putBatcher) put(ctx context.Context, key string, sealed []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err // not sent
	}
	req := &putReq{key: key, sealed: sealed, ttl: ttl, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, req)
	if !b.running {
		b.running = true
		go b.run()
	}
	b.mu.Unlock()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run sends batches until none is pending.
func (b *putBatcher) run() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), maxBatch)
		if n == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		batch := make([]*putReq, n)
		copy(batch, b.pending)
		rest := copy(b.pending, b.pending[n:])
		clear(b.pending[rest:])
		b.pending = b.pending[:rest]
		b.mu.Unlock()
		b.send(batch)
	}
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
