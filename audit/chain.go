package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for a chain's checkpoints. A checkpoint costs three fsyncs (the
// file, the new head, its directory): every 100 entries that was half of
// the trail's cost per entry under load (BenchmarkChainRecordFile: 80 µs
// per entry at 100, 24-32 µs at 1000). At busy hours 1000 entries are a
// second or less of traffic; at quiet ones the interval bounds the tail.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
)

// Canonical returns the canonical encoding of the JSON object raw, with its
// "hash" member left out: the object's members sorted by name at every
// level, numbers as written, strings as encoding/json writes them. An
// entry's Hash is the hex SHA-256 of it. It is computed over the JSON and
// not over the Go struct, so a field added to Entry later (empty, omitted)
// does not change the hash of entries written before it.
//
// An object with a member twice is refused: the map keeps the last, while
// some readers show the first, so a member put before an entry's own would
// change what those show and not the hash.
func Canonical(raw []byte) ([]byte, error) {
	if err := noDuplicateMembers(raw); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	delete(m, "hash")
	return json.Marshal(m) // maps are written with sorted keys
}

// noDuplicateMembers walks raw's tokens and refuses an object that has a
// member name twice, at any level.
func noDuplicateMembers(raw []byte) error {
	type frame struct {
		obj     bool
		wantKey bool
		keys    map[string]bool
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.wantKey = true // after this value, a name
				}
				stack = append(stack, &frame{obj: v == '{', wantKey: v == '{', keys: map[string]bool{}})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.obj && top.wantKey {
				if top.keys[v] {
					return fmt.Errorf("member %q appears twice", v)
				}
				top.keys[v], top.wantKey = true, false
				continue
			}
		}
		if top != nil && top.obj {
			top.wantKey = true
		}
	}
}

// HashOf returns the hex SHA-256 of the canonical encoding of raw.
func HashOf(raw []byte) (string, error) {
	c, err := Canonical(raw)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// CheckpointMAC is the hex HMAC-SHA256, under key, over a checkpoint's
// gateway, seq and prev (the hash of the entry before it).
func CheckpointMAC(key []byte, gateway string, seq uint64, prev string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tokengate audit checkpoint\x00"))
	m.Write([]byte(gateway))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatUint(seq, 10)))
	m.Write([]byte{0})
	m.Write([]byte(prev))
	return hex.EncodeToString(m.Sum(nil))
}

// HeadMAC is the hex HMAC-SHA256, under key, over a head: its gateway, seq,
// prev and the hash of its checkpoint entry. It differs from the checkpoint
// entry's own MAC (another label, and the entry's hash too), so a head cannot
// be made from a checkpoint entry found in the chain: cutting the chain back
// to an earlier checkpoint and writing a head naming it needs the key.
func HeadMAC(key []byte, gateway string, seq uint64, prev, hash string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tokengate audit head\x00"))
	m.Write([]byte(gateway))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatUint(seq, 10)))
	m.Write([]byte{0})
	m.Write([]byte(prev))
	m.Write([]byte{0})
	m.Write([]byte(hash))
	return hex.EncodeToString(m.Sum(nil))
}

// KeyID names a checkpoint key without revealing it (a prefix of its
// SHA-256), so verify can tell a wrong keyset from a forged checkpoint.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("tokengate audit key id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// Head is the latest checkpoint, kept apart from the entries (a file beside
// them, a row): a chain shorter than its head was cut at the tail.
type Head struct {
	Gateway string `json:"gateway"`
	Seq     uint64 `json:"seq"`
	Prev    string `json:"prev"`
	Hash    string `json:"hash"`
	MAC     string `json:"mac"`
}

// Store is where a chain writes. Append writes one encoded entry (a JSON
// object, no newline) as the store promises before it returns; Checkpoint
// writes a checkpoint entry, makes everything written so far durable, then
// records head, and says whether the entry was written even when what
// follows failed (the chain then goes on after it). Sync makes what was
// written durable.
type Store interface {
	Append(ctx context.Context, line []byte) error
	Checkpoint(ctx context.Context, line []byte, head Head) (written bool, err error)
	Sync() error
	Close() error
}

// Tail is what a store found when it opened: the last entry of its chain
// (nil for a new chain) and its head (nil if none).
type Tail struct {
	Last *Entry
	Head *Head
	// Previous, for a new chain, is what the first entry records of what
	// came before: "none", or the hash of the latest checkpoint of a chain
	// whose entries are gone (its head remained).
	Previous string
}

// Options configure a chain.
type Options struct {
	// Gateway names the chain (when it does not continue one that has a
	// name).
	Gateway string
	// Key authenticates checkpoints (keys.Keys.DeriveKey(CheckpointKeyLabel)).
	Key []byte
	// Every and Interval: a checkpoint after Every entries and Interval
	// after the first entry since the last one (defaults
	// DefaultCheckpointEvery and DefaultCheckpointInterval).
	Every    int
	Interval time.Duration
	// SyncEvery makes every entry durable (fsync) before Record returns;
	// otherwise entries are written (write(2): a process crash loses
	// nothing) and made durable at checkpoints and on close.
	SyncEvery bool
	// FailOpen: a failed write is reported to OnFailure and Record returns
	// nil; otherwise Record returns the error (the caller refuses).
	FailOpen bool
	// OnFailure is told of every failed write (log it, count it).
	OnFailure func(err error)
	// Wait bounds how long Record waits for its turn behind the write
	// before it (default DefaultWait): a write that hangs (a disk or a
	// mount that stops answering) then fails the accesses behind it with
	// ErrBusy instead of holding them without an answer.
	Wait time.Duration
}

// DefaultWait is Options.Wait's default.
const DefaultWait = 10 * time.Second

// ErrBusy is Record's error when the write before it did not finish
// within Options.Wait.
var ErrBusy = errors.New("audit: the audit trail did not finish the write before this one in time (a disk or database that does not answer)")

// Chain appends entries to a store, one writer at a time, chaining each to
// the one before by hash and writing checkpoints. It is a Recorder.
type Chain struct {
	// qmu guards open, the batch that callers of Record join (see
	// Record); mu the rest. A batch's leader takes mu, then qmu.
	qmu  sync.Mutex
	open *batch

	mu    sync.Mutex
	store Store
	opts  Options
	// gate is Record's turn, taken before mu with a bounded wait; cur is
	// opts as last set, for a Record that did not get its turn.
	gate chan struct{}
	cur  atomic.Pointer[Options]

	seq     uint64
	prev    string
	gateway string
	since   int       // entries since the last checkpoint
	first   time.Time // when the first of them was written
	closed  bool

	// A segment of a batch being written: the lines (offsets in buf) and
	// the batch entries they are, reused.
	buf   []byte
	lines [][2]int
	idx   []int
	views [][]byte

	stop chan struct{}
	done chan struct{}
}

// NewChain continues the chain tail describes in store (or starts one: its
// first entry is a checkpoint recording tail.Previous) and starts the
// timer that writes checkpoints every opts.Interval.
func NewChain(ctx context.Context, store Store, tail Tail, opts Options) (*Chain, error) {
	if len(opts.Key) == 0 {
		return nil, errors.New("audit: no checkpoint key")
	}
	if opts.Every <= 0 {
		opts.Every = DefaultCheckpointEvery
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultCheckpointInterval
	}
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	c := &Chain{store: store, opts: opts, gateway: opts.Gateway, stop: make(chan struct{}), done: make(chan struct{}), gate: make(chan struct{}, 1)}
	c.cur.Store(&opts)
	if tail.Last != nil {
		c.seq, c.prev = tail.Last.Seq, tail.Last.Hash
		if tail.Last.Gateway != "" {
			c.gateway = tail.Last.Gateway
		}
	} else {
		prev := tail.Previous
		if prev == "" {
			prev = "none"
		}
		if err := c.checkpointLocked(ctx, map[string]string{"previous": prev}); err != nil {
			return nil, err
		}
	}
	go c.tick()
	return c, nil
}

// SetOptions changes the checkpoint settings and the failure handling of a
// running chain (a reloaded config). A new key takes effect after a
// checkpoint under the old one.
func (c *Chain) SetOptions(ctx context.Context, opts Options) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if opts.Every <= 0 {
		opts.Every = DefaultCheckpointEvery
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultCheckpointInterval
	}
	if len(opts.Key) > 0 && !hmac.Equal(opts.Key, c.opts.Key) && c.since > 0 && !c.closed {
		if err := c.checkpointLocked(ctx, nil); err != nil {
			return err
		}
	}
	if len(opts.Key) == 0 {
		opts.Key = c.opts.Key
	}
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	c.opts = opts
	c.cur.Store(&opts)
	return nil
}

// Gateway returns the chain's name.
func (c *Chain) Gateway() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gateway
}

// Seq returns the seq of the last entry written.
func (c *Chain) Seq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// ErrClosed is Record's error after Close.
var ErrClosed = errors.New("audit: the audit trail is closed")

// Record implements Recorder: e gets its Seq, Prev, Hash, Gateway (and
// Time, if zero) and is written before Record returns.
//
// Concurrent calls are committed as a group: the first caller of a batch
// leads it; while it waits for the chain, later callers join its batch;
// then it chains every entry of the batch in order, writes them with one
// write (and one fsync with SyncEvery), and releases the others with their
// results. A batch that fails fails every entry of it not written.
func (c *Chain) Record(ctx context.Context, e Entry) error {
	c.qmu.Lock()
	b := c.open
	lead := b == nil
	if lead {
		b = &batch{done: make(chan struct{})}
		c.open = b
	}
	i := len(b.entries)
	b.entries = append(b.entries, e)
	c.qmu.Unlock()
	if !lead {
		<-b.done
		return b.err(i)
	}
	// The batch serves every caller in it, so the leader's own context
	// ending (its client went away) must not fail the others' entries.
	ctx = context.WithoutCancel(ctx)
	// The leader waits its turn, bounded: a write that never returns must
	// not hold every later request forever. Past Wait the whole batch fails
	// with ErrBusy (a 503, or counted under fail_open).
	if err := c.turn(); err != nil {
		c.qmu.Lock()
		if c.open == b {
			c.open = nil // no one joins a failed batch
		}
		c.qmu.Unlock()
		opts := c.cur.Load()
		b.errs = make([]error, len(b.entries))
		for j := range b.entries {
			if opts.OnFailure != nil {
				opts.OnFailure(err)
			}
			if !opts.FailOpen {
				b.errs[j] = err
			}
		}
		close(b.done)
		return b.err(0)
	}
	defer func() { <-c.gate }()
	c.mu.Lock()
	c.qmu.Lock()
	c.open = nil // callers from now on form the next batch
	c.qmu.Unlock()
	c.commitLocked(ctx, b)
	c.mu.Unlock()
	close(b.done)
	return b.err(0)
}

// batch is a group of entries written together (see Record).
type batch struct {
	entries []Entry
	errs    []error // nil: all written
	done    chan struct{}
}

func (b *batch) err(i int) error {
	if b.errs == nil {
		return nil
	}
	return b.errs[i]
}

func (c *Chain) setErr(b *batch, i int, err error) {
	if b.errs == nil {
		b.errs = make([]error, len(b.entries))
	}
	b.errs[i] = c.fail(err)
}

// commitLocked writes b's entries: in segments that end where a
// checkpoint is due by count, each written at once, then the checkpoint.
func (c *Chain) commitLocked(ctx context.Context, b *batch) {
	if c.closed {
		for i := range b.entries {
			c.setErr(b, i, ErrClosed)
		}
		return
	}
	for i := 0; i < len(b.entries); {
		// A checkpoint that is due and failed after the last entry is
		// written first: if it fails again, so would these entries.
		if c.due() {
			if err := c.checkpointLocked(ctx, nil); err != nil {
				for ; i < len(b.entries); i++ {
					c.setErr(b, i, err)
				}
				return
			}
		}
		c.buf, c.lines, c.idx = c.buf[:0], c.lines[:0], c.idx[:0]
		seq, prev := c.seq, c.prev
		for ; i < len(b.entries) && c.since+len(c.idx) < c.opts.Every; i++ {
			e := &b.entries[i]
			c.setChain(e, seq+1, prev)
			start := len(c.buf)
			var err error
			if c.buf, err = appendLine(c.buf, e); err != nil {
				c.buf = c.buf[:start]
				c.setErr(b, i, fmt.Errorf("audit: encoding an entry: %w", err))
				continue
			}
			c.lines = append(c.lines, [2]int{start, len(c.buf)})
			c.idx = append(c.idx, i)
			seq, prev = e.Seq, e.Hash
		}
		if len(c.idx) == 0 {
			continue
		}
		if err := c.writeLocked(ctx, b); err != nil {
			for ; i < len(b.entries); i++ { // the rest of the batch fails with it
				c.setErr(b, i, fmt.Errorf("audit: writing entry %d: %w", c.seq+1, err))
			}
			return
		}
		if c.due() {
			if err := c.checkpointLocked(ctx, nil); err != nil && c.opts.OnFailure != nil {
				c.opts.OnFailure(fmt.Errorf("audit checkpoint (retried with the next entry): %w", err))
			}
		}
	}
}

// writeLocked writes the encoded segment (c.buf, c.lines, c.idx: entries
// of b) and advances the chain over the lines written; an entry not
// written gets the error.
func (c *Chain) writeLocked(ctx context.Context, b *batch) error {
	c.views = c.views[:0]
	for _, l := range c.lines {
		c.views = append(c.views, c.buf[l[0]:l[1]])
	}
	n, err := appendLines(ctx, c.store, c.views)
	clear(c.views)
	for k := range n {
		e := &b.entries[c.idx[k]]
		c.seq, c.prev = e.Seq, e.Hash
		if c.since == 0 {
			c.first = time.Now()
		}
		c.since++
	}
	// The lines written are made durable before their callers hear of
	// them, also when a later line of the batch failed (a short write).
	if n > 0 && c.opts.SyncEvery {
		if serr := c.store.Sync(); serr != nil {
			// Written, not durable: the chain goes on after them (they
			// are in the file), the callers are told.
			for k := range n {
				c.setErr(b, c.idx[k], fmt.Errorf("audit: syncing entry %d: %w", b.entries[c.idx[k]].Seq, serr))
			}
			if err == nil {
				return nil
			}
		}
	}
	if err != nil {
		for _, i := range c.idx[n:] {
			c.setErr(b, i, fmt.Errorf("audit: writing entry %d: %w", b.entries[i].Seq, err))
		}
	}
	return err
}

// BatchStore is a Store that writes several entries at once (a chain's
// group commit): AppendBatch writes lines in order as Append writes one,
// and returns how many of them were written whole (they stay written,
// whatever the error says of the rest).
type BatchStore interface {
	Store
	AppendBatch(ctx context.Context, lines [][]byte) (written int, err error)
}

func appendLines(ctx context.Context, s Store, lines [][]byte) (int, error) {
	if bs, ok := s.(BatchStore); ok {
		return bs.AppendBatch(ctx, lines)
	}
	for k, l := range lines {
		if err := s.Append(ctx, l); err != nil {
			return k, err
		}
	}
	return len(lines), nil
}

// turn waits for Record's turn, at most Options.Wait (the leader's context
// does not end it: the batch is the other callers' too).
func (c *Chain) turn() error {
	select {
	case c.gate <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(c.cur.Load().Wait)
	defer t.Stop()
	select {
	case c.gate <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	}
}

func (c *Chain) fail(err error) error {
	if c.opts.OnFailure != nil {
		c.opts.OnFailure(err)
	}
	if c.opts.FailOpen {
		return nil
	}
	return err
}

func (c *Chain) due() bool {
	return c.since >= c.opts.Every || c.since > 0 && time.Since(c.first) >= c.opts.Interval
}

// setChain sets e's chain fields.
func (c *Chain) setChain(e *Entry, seq uint64, prev string) {
	e.Seq = seq
	e.Prev = prev
	e.Gateway = c.gateway
	e.Hash = ""
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
}

// encode sets e's chain fields and returns its line.
func (c *Chain) encode(e *Entry) ([]byte, error) {
	c.setChain(e, c.seq+1, c.prev)
	line, err := appendLine(nil, e)
	if err != nil {
		return nil, fmt.Errorf("audit: encoding an entry: %w", err)
	}
	return line, nil
}

// checkpointLocked writes a checkpoint entry and the head.
func (c *Chain) checkpointLocked(ctx context.Context, detail map[string]string) error {
	e := Entry{Action: ActionCheckpoint, Outcome: OutcomeOK, Detail: map[string]string{}}
	for k, v := range detail {
		e.Detail[k] = v
	}
	e.Detail["entries"] = strconv.Itoa(c.since)
	e.Detail["key_id"] = KeyID(c.opts.Key)
	e.Detail["mac"] = CheckpointMAC(c.opts.Key, c.gateway, c.seq+1, c.prev)
	line, err := c.encode(&e)
	if err != nil {
		return err
	}
	head := Head{Gateway: e.Gateway, Seq: e.Seq, Prev: e.Prev, Hash: e.Hash}
	head.MAC = HeadMAC(c.opts.Key, head.Gateway, head.Seq, head.Prev, head.Hash)
	written, err := c.store.Checkpoint(ctx, line, head)
	if written {
		c.seq, c.prev, c.since = e.Seq, e.Hash, 0
	}
	if err != nil {
		return fmt.Errorf("audit: writing checkpoint %d: %w", e.Seq, err)
	}
	return nil
}

// tick writes a checkpoint when one is due by time.
func (c *Chain) tick() {
	defer close(c.done)
	for {
		c.mu.Lock()
		wait := c.opts.Interval
		if c.since > 0 {
			wait = max(time.Until(c.first.Add(c.opts.Interval)), 10*time.Millisecond)
		}
		c.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-t.C:
		}
		c.mu.Lock()
		if !c.closed && c.since > 0 && time.Since(c.first) >= c.opts.Interval {
			if err := c.checkpointLocked(context.Background(), nil); err != nil && c.opts.OnFailure != nil {
				c.opts.OnFailure(err)
			}
		}
		c.mu.Unlock()
	}
}

// Close writes a last checkpoint (when entries followed the last one),
// makes everything durable and closes the store.
func (c *Chain) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	var err error
	if c.since > 0 {
		err = c.checkpointLocked(context.Background(), map[string]string{"close": "true"})
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	return errors.Join(err, c.store.Sync(), c.store.Close())
}

var _ Recorder = (*Chain)(nil)
