package boltvault

import (
	"errors"
	"os"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// errClosed answers writes that arrive after Close.
var errClosed = errors.New("vault: closed")

// maxGroup bounds how many writes share one transaction.
const maxGroup = 1000

// committer is group commit for bbolt: one goroutine commits, and each
// transaction takes every write that queued while the previous one was being
// written and synced. Under load the groups grow with the disk's latency;
// when idle a write commits at once. bbolt's own Batch instead closes a group
// on a fixed timer: when a commit outlasts the timer, small groups queue up
// behind each other and throughput stops growing with the load (measured:
// new-card tokenization flat at ~0.25 of the proxy ceiling whatever the
// concurrency).
type committer struct {
	db    *bolt.DB
	file  os.FileInfo // the file as opened, to notice it deleted or replaced
	reqs  chan commitReq
	stop  chan struct{}
	done  chan struct{}
	close sync.Once
}

type commitReq struct {
	fn  func(*bolt.Tx) error
	err chan error
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{db: db, reqs: make(chan commitReq), stop: make(chan struct{}), done: make(chan struct{})}
	c.file, _ = os.Stat(db.Path())
	go c.run()
	return c
}

// ErrFileGone answers writes once the vault file was deleted or replaced on
// disk: bbolt would go on writing to the open, now nameless, file, and every
// card written from then on would be lost at the next start.
var ErrFileGone = errors.New("vault: the vault file was deleted or replaced while open; restart to reopen it (writes refused so no token is issued for a card that would be lost)")

// fileGone reports whether the path no longer names the file that was
// opened. A stat per group commit costs microseconds next to its fsync.
func (c *committer) fileGone() bool {
	if c.file == nil {
		return false
	}
	now, err := os.Stat(c.db.Path())
	return err != nil || !os.SameFile(c.file, now)
}

// do runs fn in a write transaction shared with other writers and returns
// once that transaction is durable. fn may run more than once (when another
// write of its group fails, every write is retried alone), so it must reset
// whatever it reports on each run.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	r := commitReq{fn: fn, err: make(chan error, 1)}
	select {
	case c.reqs <- r:
		return <-r.err
	case <-c.done:
		return errClosed
	}
}

func (c *committer) run() {
	defer close(c.done)
	group := make([]commitReq, 0, 64)
	for {
		select {
		case r := <-c.reqs:
			group = append(group[:0], r)
		case <-c.stop:
			return
		}
	gather:
		for len(group) < maxGroup {
			select {
			case r := <-c.reqs:
				group = append(group, r)
			default:
				break gather
			}
		}
		if c.fileGone() {
			for _, r := range group {
				r.err <- ErrFileGone
			}
			continue
		}
		err := c.db.Update(func(tx *bolt.Tx) error {
			for _, r := range group {
				if err := r.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil || len(group) == 1 {
			for _, r := range group {
				r.err <- err
			}
			continue
		}
		// One write failed and rolled the group back: each alone, so only
		// the failing one fails.
		for _, r := range group {
			r.err <- c.db.Update(r.fn)
		}
	}
}

// shutdown stops the goroutine; writes after it get errClosed. Writers
// blocked in do when it stops are answered too, as the unbuffered channel
// only hands over a write the goroutine takes.
func (c *committer) shutdown() {
	c.close.Do(func() { close(c.stop) })
	<-c.done
}
