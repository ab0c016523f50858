package boltvault

import (
	"context"
	"errors"
	"os"
	"sync/atomic"

	"github.com/tokengate/tokengate/vault"
	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds how many writes share one transaction.
const maxGroup = 1000

// committer is group commit for bbolt (vault.GroupCommit, with one
// committer: bbolt allows one writer): each transaction takes every write
// that queued while the previous one was being written and synced. bbolt's
// own Batch instead closes a group on a fixed timer: when a commit outlasts
// the timer, small groups queue up behind each other and throughput stops
// growing with the load (measured: new-card tokenization flat at ~0.25 of
// the proxy ceiling whatever the concurrency). It lingers (see
// vault.NewLingeringGroupCommit) so busy writers share every commit instead
// of taking turns: 16 writers made groups of 8, now of 16.
type committer struct {
	db   *bolt.DB
	file os.FileInfo // the file as opened, to notice it deleted or replaced
	g    *vault.GroupCommit[func(*bolt.Tx) error]

	// Group commits and the writes they took (a benchmark's writes/commit).
	groups, writes atomic.Int64
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{db: db}
	c.file, _ = os.Stat(db.Path())
	// A group that failed is retried write by write, so only the failing
	// write fails; not when the file is gone, which every write would meet.
	c.g = vault.NewLingeringGroupCommit(maxGroup, c.commit, func(err error) bool { return !errors.Is(err, ErrFileGone) })
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

// commit runs a group's writes in one transaction.
func (c *committer) commit(group []func(*bolt.Tx) error) error {
	c.groups.Add(1)
	c.writes.Add(int64(len(group)))
	if c.fileGone() {
		return ErrFileGone
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		for _, fn := range group {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
}

// do runs fn in a write transaction shared with other writers and returns
// once that transaction is durable. fn may run more than once (when another
// write of its group fails, every write is retried alone), so it must reset
// whatever it reports on each run.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	return c.g.Do(context.Background(), fn)
}

// shutdown stops the committer; writes after it get vault.ErrClosed.
func (c *committer) shutdown() { c.g.Close() }
