package cvvredis

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"
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
	// conn is a connection of its own, taken from the client's pool once
	// (nil until the first batch, and again after a failed one): a
	// connection got from the pool for every batch costs a health check
	// (a recvfrom system call and three allocations) each time, and
	// under bench/run's load a batch holds about one CVV.
	conn    *redis.Conn
	pipe    redis.Pipeliner
	sending []*putReq
	cmds    []redis.Cmder
	// ctx bounds the batches sent until ctxEnd is less than the store's
	// timeout away (batchContext).
	ctx    context.Context
	cancel context.CancelFunc
	ctxEnd time.Time
}

func newPutBatcher(client *redis.Client) *putBatcher {
	return &putBatcher{client: client}
}

// putReq is one PutCVV waiting: its key, sealed value and TTL, and where
// its result goes (buffered: the worker never waits for a caller that
// gave up). args is its SET, pointing into the request itself (go-redis
// writes a *int64 as its value, and key and sealed through MarshalBinary),
// so building the command boxes nothing; cmd is that SET's command, and
// key and plain arrays the request keeps from one use to the next, so a
// CVV held allocates only its sealed bytes (Tink's) and its associated
// data's.
type putReq struct {
	key    bytesArg
	sealed bytesArg
	ms     int64
	args   [5]any
	nargs  int
	cmd    redis.StatusCmd
	done   chan error
	// plain holds the CVV while it is sealed, cleared at once after.
	plain [8]byte
}

// bytesArg is a SET argument written as its bytes.
type bytesArg struct{ b []byte }

func (s *bytesArg) MarshalBinary() ([]byte, error) { return s.b, nil }

// putReqs pools requests. A request goes back only once its caller has
// read its result: one whose caller gave up may still be answered later,
// and is left to the collector.
var putReqs = sync.Pool{New: func() any { return &putReq{done: make(chan error, 1)} }}

func getPutReq() *putReq { return putReqs.Get().(*putReq) }

// plainOf copies value into req's own array for sealing (into a new one
// if it does not fit: a CVV always does); the caller clears it.
func (req *putReq) plainOf(value string) []byte {
	if len(value) > len(req.plain) {
		return []byte(value)
	}
	return req.plain[:copy(req.plain[:], value)]
}

// set makes req's SET: sealed under the key already in req.key.b, with
// ttl.
func (req *putReq) set(sealed []byte, ttl time.Duration) {
	req.sealed.b = sealed
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
}

// release pools req, once its result was read (or it was never sent). Its
// key's array stays for the next request: a key name holds no secret (the
// token is hashed).
func (req *putReq) release() {
	clear(req.plain[:])
	req.key.b, req.sealed.b, req.args = req.key.b[:0], nil, [5]any{}
	req.cmd = redis.StatusCmd{}
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
//
// req is the caller's, from getPutReq, with its SET made (set); put owns it
// from then on.
func (b *putBatcher) put(ctx context.Context, req *putReq) error {
	if err := ctx.Err(); err != nil {
		req.release()
		return err // not sent
	}
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
// timeout (and at most batchSlack more), and answers each with its own
// command's error.
func (b *putBatcher) send(batch []*putReq) {
	ctx := b.batchContext()
	cmds := b.cmds[:0]
	for _, req := range batch {
		req.cmd = *redis.NewStatusCmd(ctx, req.args[:req.nargs]...)
		cmds = append(cmds, &req.cmd)
	}
	if err := b.exec(ctx, cmds); err != nil && connClosed(err) && ctx.Err() == nil {
		// The connection was found closed (Redis restarted, or an idle
		// connection cut): what the pool's health check caught before
		// each batch, and go-redis retried on another connection. The
		// batch is sent again, once, on a new one. A SET written twice
		// holds the same sealed value under the same key. (go-redis first
		// retries on the closed connection, in vain: that batch waits its
		// backoff, about 45 ms, once per connection lost.)
		for _, req := range batch {
			req.cmd = *redis.NewStatusCmd(ctx, req.args[:req.nargs]...)
		}
		_ = b.exec(ctx, cmds)
	}
	for i, req := range batch {
		req.done <- cmds[i].Err()
	}
	clear(cmds)
	b.cmds = cmds[:0]
}

// exec sends cmds in one pipeline on the sender's connection, opening
// one when it has none, and returns the error that says the connection
// failed (connFailure), or nil: each command carries its own error, and
// Redis refusing one is that command's answer only. A connection that
// failed is closed, so the next batch opens another: go-redis has given it
// up, and its state (a reply half read) is unknown.
func (b *putBatcher) exec(ctx context.Context, cmds []redis.Cmder) error {
	if b.conn == nil {
		b.conn = b.client.Conn()
		b.pipe = b.conn.Pipeline()
	}
	_ = b.pipe.BatchProcess(ctx, cmds...)
	_, execErr := b.pipe.Exec(ctx)
	err := connFailure(execErr, cmds)
	if err != nil {
		_ = b.conn.Close()
		b.conn, b.pipe = nil, nil
	}
	return err
}

// connFailure returns the first error of a pipeline that says its
// connection failed, rather than that Redis answered a command, or nil.
// Exec is documented to return the first failed command's error, and a
// command Redis refused may come before one that hit a network error
// (go-redis then gives the connection up, and sets that error on every
// command after): every command is looked at. An Exec error that no
// command carries (the connection failed before any was sent, e.g. its
// SELECT refused) is set on every command, or they would answer nil for
// SETs never sent.
func connFailure(execErr error, cmds []redis.Cmder) error {
	carried := false
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			carried = true
			if !isReply(err) {
				return err
			}
		}
	}
	if execErr != nil && !carried {
		for _, cmd := range cmds {
			cmd.SetErr(execErr)
		}
		return execErr
	}
	return nil
}

// isReply reports whether err is Redis's own answer to a command, on a
// connection still good. A READONLY one is not, as go-redis has it (the
// server is now a replica: a new connection may reach the new primary).
// A function of its own so that its target escapes only on an error, not
// on every batch.
func isReply(err error) bool {
	var reply redis.Error
	return errors.As(err, &reply) && !redis.HasErrorPrefix(err, "READONLY")
}

// connClosed reports whether err says the connection was closed, by the
// server or on the way, rather than that Redis answered or was too slow:
// retrying on a new connection then cannot wait twice as long.
func connClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, redis.ErrClosed)
}

// batchSlack is how much longer than the store's timeout a batch may be
// given: the batches sent within it share one context.
const batchSlack = 100 * time.Millisecond

// batchContext returns a context that ends no sooner than the store's
// timeout from now, and no later than batchSlack after that: one
// context.WithTimeout (five allocations and a timer started and stopped)
// serves every batch of the next 100 ms instead of each its own. Callers
// are bounded by their own timers (put), to the store's timeout exactly.
func (b *putBatcher) batchContext() context.Context {
	now := time.Now()
	if b.ctx == nil || b.ctxEnd.Sub(now) < timeout {
		if b.cancel != nil {
			b.cancel()
		}
		b.ctxEnd = now.Add(timeout + batchSlack)
		b.ctx, b.cancel = context.WithDeadline(context.Background(), b.ctxEnd)
	}
	return b.ctx
}
