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
// A call that finds no batch being sent starts a worker goroutine that
// sends its SET and any that queued meanwhile; calls that arrive while a
// batch is in flight queue, and the worker sends them next, then what came
// meanwhile, and ends when nothing is left: nothing to start or stop with
// the store. The caller itself only waits, so it returns when its context
// ends even while Redis is slow (the batch goes on for the others); a
// caller sending the batch itself would be held until Redis answered or
// the store's timeout.
//
// Only one sender runs at a time (running), so the sender's pipeline and
// slices are the batcher's, reused from batch to batch; requests are
// pooled, each with its SET's arguments inside it. Together that is a
// third of the allocations a CVV held cost (BenchmarkPutCVV).
type putBatcher struct {
	client *redis.Client

	mu      sync.Mutex
	pending []*putReq
	running bool

	// The sender's own, used only while running, by the one sender.
	pipe    redis.Pipeliner
	sending []*putReq
	cmds    []redis.Cmder
}

func newPutBatcher(client *redis.Client) *putBatcher {
	return &putBatcher{client: client, pipe: client.Pipeline()}
}

// putReq is one PutCVV waiting: its key, sealed value and TTL, and where
// its result goes (buffered: the worker never waits for a caller that
// gave up). args is its SET, pointing into the request itself (go-redis
// writes a *string and a *int64 as their values, and sealed through
// MarshalBinary), so building the command boxes nothing.
type putReq struct {
	key    string
	sealed sealedArg
	ms     int64
	args   [5]any
	nargs  int
	done   chan error
}

// sealedArg is a sealed value as a SET argument, written as its bytes.
type sealedArg struct{ b []byte }

func (s *sealedArg) MarshalBinary() ([]byte, error) { return s.b, nil }

// putReqs pools requests. A request goes back only once its caller has
// read its result: one whose caller gave up may still be answered later,
// and is left to the collector.
var putReqs = sync.Pool{New: func() any { return &putReq{done: make(chan error, 1)} }}

func getPutReq(key string, sealed []byte, ttl time.Duration) *putReq {
	req := putReqs.Get().(*putReq)
	req.key, req.sealed.b = key, sealed
	req.args = [5]any{"set", &req.key, &req.sealed, "px", &req.ms}
	req.nargs = 5
	switch {
	case ttl <= 0: // no expiry, as go-redis's Set
		req.nargs = 3
	case ttl < time.Millisecond: // the least PX takes
		req.ms = 1
	default:
		req.ms = ttl.Milliseconds()
	}
	return req
}

// release pools req, once its result was read.
func (req *putReq) release() {
	req.key, req.sealed.b, req.args = "", nil, [5]any{}
	putReqs.Put(req)
}

// maxBatch bounds one pipeline; more wait for the next.
const maxBatch = 128

// put holds the sealed value under key, batched with other calls. A
// caller whose context ends before the batch is answered gets its error at
// once; its SET may still be applied (as a command already written is,
// when a caller gives up on a single round trip), and expires with its
// TTL. A caller waits within the store's timeout too (its own: the
// batches ahead of its own may each take that long, bounded by send's).
func (b *putBatcher) put(ctx context.Context, key string, sealed []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err // not sent
	}
	req := getPutReq(key, sealed, ttl)
	b.mu.Lock()
	b.pending = append(b.pending, req)
	if !b.running {
		b.running = true
		go b.run()
	}
	b.mu.Unlock()
	// A pooled timer rather than context.WithTimeout: four allocations
	// fewer per CVV. Since Go 1.23 a stopped timer's channel holds nothing
	// stale, so it is reused as is.
	t := waitTimers.Get().(*time.Timer)
	t.Reset(timeout)
	defer func() {
		t.Stop()
		waitTimers.Put(t)
	}()
	select {
	case err := <-req.done:
		req.release()
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return context.DeadlineExceeded
	}
}

// waitTimers pools the timers bounding put's wait, stopped.
var waitTimers = sync.Pool{New: func() any {
	t := time.NewTimer(timeout)
	t.Stop()
	return t
}}

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
	batch := append(b.sending[:0], b.pending[:n]...)
	rest := copy(b.pending, b.pending[n:])
	clear(b.pending[rest:])
	b.pending = b.pending[:rest]
	b.mu.Unlock()
	b.send(batch)
	clear(batch)
	b.sending = batch[:0]
	return true
}

// send sets every request of batch in one pipeline, within the store's
// timeout, and answers each with its own command's error.
func (b *putBatcher) send(batch []*putReq) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmds := b.cmds[:0]
	for _, req := range batch {
		cmds = append(cmds, redis.NewStatusCmd(ctx, req.args[:req.nargs]...))
	}
	_ = b.pipe.BatchProcess(ctx, cmds...)
	_, _ = b.pipe.Exec(ctx) // each command carries its own error
	for i, req := range batch {
		req.done <- cmds[i].Err()
	}
	clear(cmds)
	b.cmds = cmds[:0]
}
