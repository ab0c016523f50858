package vault

import (
	"context"
	"errors"
	"sync"
	"time"
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
	linger bool // see NewLingeringGroupCommit
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
	return newGroupCommit(workers, max, commit, alone, false)
}

// maxLinger bounds a lingering committer's wait even after a slow commit (a
// disk stalled for a second): a writer that went away then costs at most
// this once.
const maxLinger = 10 * time.Millisecond

// maxLingerSkips bounds how many commits in a row skip lingering after
// waits that ran out short (see NewLingeringGroupCommit): it weighs the
// cost of probing again under random arrivals against how long a closed
// loop that comes back takes turns.
const maxLingerSkips = 8

// lingerSkips is how many waits to skip after missed waits in a row ran
// out short: none after one, then 1, 2, 4... up to maxLingerSkips. The
// shift is bounded: missed grows for as long as writers arrive at random,
// and 1<<63 or more would be negative or zero, lingering at every commit.
func lingerSkips(missed int) int {
	if missed < 2 {
		return 0
	}
	return min(1<<min(missed-2, 30), maxLingerSkips)
}

// NewLingeringGroupCommit is NewGroupCommit with one committer (a store with
// one writer, bbolt) that waits, within a bound, for the writers its last
// commit answered before it commits the writes that queued meanwhile.
//
// Without it a steady load splits into two cohorts that take turns: while
// group k syncs, the writers of group k-1 queue up, so they make group k+1
// alone, and the writers group k answers, back a moment later, find it
// gone and wait a whole commit for group k+2. Each write then waits for
// two commits, and a group holds half the writers. Waiting for them (they
// only had to prepare their next write) lets every writer share each
// commit: a write waits for one commit and that moment.
//
// The wait is for as many writes as the last commit answered plus those
// that queued during it (the writers known to be busy), at most half the
// last commit's duration and maxLinger: a lone writer never waits, and a
// writer that went away costs one bounded wait, as the next target follows
// the smaller group.
//
// Lingering pays only while writers loop back (a closed loop: bench/run's
// connections): they come back at once and fill the group. Independent
// writers arriving at random (production's requests) do not: a wait of
// half a commit gathers those arriving meanwhile, short of the last group,
// and lingering at every commit adds up to half a commit to each write and
// stretches every commit cycle, for nothing. So after two waits in a row
// that ran out short of their target the committer skips the next wait,
// two after a third, then four, up to maxLingerSkips; a wait that fills
// its group lingers again at every commit. One short wait alone skips
// nothing: a closed loop on a loaded machine often has a writer late.
// Under random arrivals about one commit in maxLingerSkips+1 lingers.
func NewLingeringGroupCommit[W any](max int, commit func([]W) error, alone func(error) bool) *GroupCommit[W] {
	return newGroupCommit(1, max, commit, alone, true)
}

func newGroupCommit[W any](workers, max int, commit func([]W) error, alone func(error) bool, linger bool) *GroupCommit[W] {
	g := &GroupCommit[W]{commit: commit, alone: alone, max: max, linger: linger, reqs: make(chan groupReq[W]), stop: make(chan struct{}), done: make(chan struct{})}
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
	r := groupReq[W]{w: w, err: errChans.Get().(chan error)}
	select {
	case g.reqs <- r:
		err := <-r.err
		errChans.Put(r.err) // answered once, read: empty again
		return err
	case <-ctx.Done():
		errChans.Put(r.err) // never handed over
		return ctx.Err()
	case <-g.done:
		errChans.Put(r.err)
		return ErrClosed
	}
}

// errChans pools the channels writes are answered on (two allocations
// each): a channel goes back empty, once its one answer was read or when
// no committer took its write.
var errChans = sync.Pool{New: func() any { return make(chan error, 1) }}

func (g *GroupCommit[W]) run() {
	reqs := make([]groupReq[W], 0, 64)
	ws := make([]W, 0, 64)
	var (
		answered int           // writes the last commit answered
		took     time.Duration // and how long it took
		timer    *time.Timer   // for lingering
		skip     int           // waits still to skip
		missed   int           // waits in a row that ran out short
	)
	for {
		queued := true // a write waited while the last group committed
		// Close first: a committer that always finds a write queued would
		// otherwise never see it, and Close would wait for the writers to
		// stop coming.
		select {
		case <-g.stop:
			return
		default:
		}
		select {
		case r := <-g.reqs:
			reqs = append(reqs[:0], r)
		default:
			queued = false
			select {
			case r := <-g.reqs:
				reqs = append(reqs[:0], r)
			case <-g.stop:
				return
			}
		}
		g.gather(&reqs)
		if g.linger && answered > 0 {
			// The last group's writers come back; those that queued
			// meanwhile are others (a write that arrived after the
			// commit is one of the last group's).
			want := answered
			if queued {
				want += len(reqs)
			}
			switch want = min(want, g.max); {
			case len(reqs) >= want:
			case skip > 0:
				skip--
			default:
				linger := min(took/2, maxLinger)
				if timer == nil {
					timer = time.NewTimer(linger)
				} else {
					timer.Reset(linger)
				}
				g.wait(&reqs, want, timer.C)
				timer.Stop()
				// Filled: the writers loop back. Short twice or more in
				// a row: they arrive at random, skip 1, 2, 4... waits.
				if len(reqs) >= want {
					missed = 0
				} else {
					missed++
					skip = lingerSkips(missed)
				}
			}
		}
		ws = ws[:0]
		for _, r := range reqs {
			ws = append(ws, r.w)
		}
		start := time.Now()
		err := g.commit(ws)
		answered, took = len(reqs), time.Since(start)
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

// gather adds the writes waiting now to reqs, up to max.
func (g *GroupCommit[W]) gather(reqs *[]groupReq[W]) {
	for len(*reqs) < g.max {
		select {
		case r := <-g.reqs:
			*reqs = append(*reqs, r)
		default:
			return
		}
	}
}

// wait adds writes to reqs until it holds want, or until deadline or Close
// (the writes taken are committed all the same).
func (g *GroupCommit[W]) wait(reqs *[]groupReq[W], want int, deadline <-chan time.Time) {
	for len(*reqs) < want {
		select {
		case r := <-g.reqs:
			*reqs = append(*reqs, r)
		case <-deadline:
			return
		case <-g.stop:
			return
		}
	}
}

// Close stops the committers; writes after it get ErrClosed. Writers
// blocked in Do when they stop are answered too, as the unbuffered channel
// only hands over a write a committer takes.
func (g *GroupCommit[W]) Close() {
	g.once.Do(func() { close(g.stop) })
	<-g.done
}
