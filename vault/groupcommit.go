package vault

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed answers writes that reach a GroupCommit after Close.
var ErrClosed = errors.New("vault: closed")

// GroupCommit is group commit for a backend whose cost is per transaction
// (an fsync, a round trip and a commit): committers take every write that
// queued while the previous transaction was being written, and commit them
// together. Under load the groups grow with the storage's latency; when idle
// a write commits at once. A fixed timer instead (bbolt's Batch) closes
// groups early when a commit outlasts it, and small groups then queue up
// behind each other: throughput stops growing with the load.
type GroupCommit[W any] struct {
	commit func([]W) error
	alone  func(error) bool
	max    int
	reqs   chan groupReq[W]
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

type groupReq[W any] struct {
	w   W
	err chan error
}

// NewGroupCommit starts workers committers (one for a store that allows
// one writer at a time; a few for a database server, so a group is
// gathered while another commits). commit writes every w of a group in
// one transaction, all or none, and returns its error; it may be called
// again with a single write of a failed group, so it must reset whatever
// it reports on each call. At most max writes share a transaction.
//
// alone says whether a group that failed with err is retried write by
// write (nil: always): yes when one write was refused, no when the store
// is down, where each retry would only wait out its own timeout.
func NewGroupCommit[W any](workers, max int, commit func([]W) error, alone func(error) bool) *GroupCommit[W] {
	g := &GroupCommit[W]{commit: commit, alone: alone, max: max, reqs: make(chan groupReq[W]), stop: make(chan struct{}), done: make(chan struct{})}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.run()
		}()
	}
	go func() {
		wg.Wait()
		close(g.done)
	}()
	return g
}

// Do commits w in a transaction shared with other writers and returns once
// that transaction is committed, with w's error: when a group fails, each of
// its writes is committed again alone (see alone), so only the failing one
// fails. A caller whose ctx ends while its write waits to join a group
// gets ctx's error (nothing was sent); once taken, the write's outcome is
// waited for, so no caller reports a failure for a committed write.
func (g *GroupCommit[W]) Do(ctx context.Context, w W) error {
	r := groupReq[W]{w: w, err: make(chan error, 1)}
	select {
	case g.reqs <- r:
		return <-r.err
	case <-ctx.Done():
		return ctx.Err()
	case <-g.done:
		return ErrClosed
	}
}

func (g *GroupCommit[W]) run() {
	reqs := make([]groupReq[W], 0, 64)
	ws := make([]W, 0, 64)
	for {
		select {
		case r := <-g.reqs:
			reqs = append(reqs[:0], r)
		case <-g.stop:
			return
		}
	gather:
		for len(reqs) < g.max {
			select {
			case r := <-g.reqs:
				reqs = append(reqs, r)
			default:
				break gather
			}
		}
		ws = ws[:0]
		for _, r := range reqs {
			ws = append(ws, r.w)
		}
		err := g.commit(ws)
		clear(ws) // the writes may hold card data: not kept past their commit
		if err == nil || len(reqs) == 1 || (g.alone != nil && !g.alone(err)) {
			for _, r := range reqs {
				r.err <- err
			}
			clear(reqs)
			continue
		}
		for _, r := range reqs {
			ws = append(ws[:0], r.w)
			r.err <- g.commit(ws)
		}
		clear(ws)
		clear(reqs)
	}
}

// Close stops the committers; writes after it get ErrClosed. Writers
// blocked in Do when they stop are answered too, as the unbuffered channel
// only hands over a write a committer takes.
func (g *GroupCommit[W]) Close() {
	g.once.Do(func() { close(g.stop) })
	<-g.done
}
