package vault_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
)

// benchSync stands for a commit's fsync in the group-commit benchmarks.
const benchSync = time.Millisecond

// benchCommitter is a lingering group commit whose commits take benchSync.
// A write is the time it arrived (its Do was called); the committer records
// how long each group waited from the moment it could have committed (its
// first write arrived and the previous commit was done) to its commit: the
// latency lingering added.
type benchCommitter struct {
	*vault.GroupCommit[time.Time]
	commits, writes int64 // one committer: no race
	waited, prev    time.Time
	lingered        time.Duration
}

func newBenchCommitter() *benchCommitter {
	c := &benchCommitter{}
	c.GroupCommit = vault.NewLingeringGroupCommit(1000, func(ws []time.Time) error {
		start, first := time.Now(), ws[0]
		for _, w := range ws {
			if w.Before(first) {
				first = w
			}
		}
		if first.Before(c.prev) {
			first = c.prev
		}
		c.lingered += start.Sub(first)
		c.commits++
		c.writes += int64(len(ws))
		time.Sleep(benchSync)
		c.prev = time.Now()
		return nil
	}, nil)
	return c
}

// write writes once and returns how long it took.
func (c *benchCommitter) write(b *testing.B) time.Duration {
	start := time.Now()
	if err := c.Do(context.Background(), start); err != nil {
		b.Error(err)
	}
	return time.Since(start)
}

// report reports the mean and 90th percentile of the writes' latencies lat,
// in µs, the writes per commit, and the mean delay lingering added per
// write (the steadier figure on a loaded machine, as it leaves out the
// commits' own jitter).
func (c *benchCommitter) report(b *testing.B, lat []time.Duration) {
	b.Helper()
	c.Close() // the counters are the committer's until it stops
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(sum.Microseconds())/float64(len(lat)), "µs/write")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "p90-µs")
	b.ReportMetric(float64(c.writes)/float64(c.commits), "writes/commit")
	b.ReportMetric(float64(c.lingered.Microseconds())/float64(c.commits), "linger-µs/commit")
}

// BenchmarkGroupCommitLatency is the latency a write sees through a
// lingering group commit whose commits take benchSync:
//   - sequential: one writer, one write at a time (should pay no linger:
//     µs/write about benchSync);
//   - openloop: independent writers arriving at random (exponential gaps,
//     about four per commit), as production's requests do: each write's
//     latency from its arrival;
//   - closedloop: 16 writers that each write again as soon as answered, as
//     bench/run's connections (ns/op is the throughput).
//
// linger-µs/commit is the delay lingering added to a commit.
func BenchmarkGroupCommitLatency(b *testing.B) {
	b.Run("sequential", func(b *testing.B) {
		g := newBenchCommitter()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			lat = append(lat, g.write(b))
		}
		b.StopTimer()
		g.report(b, lat)
	})
	b.Run("openloop", func(b *testing.B) {
		g := newBenchCommitter()
		lat := make([]time.Duration, b.N)
		rng := rand.New(rand.NewPCG(1, 2))
		meanGap := benchSync / 4
		var wg sync.WaitGroup
		b.ResetTimer()
		next := time.Now()
		for i := range b.N {
			next = next.Add(time.Duration(rng.ExpFloat64() * float64(meanGap)))
			time.Sleep(time.Until(next))
			wg.Go(func() { lat[i] = g.write(b) })
		}
		wg.Wait()
		b.StopTimer()
		g.report(b, lat)
	})
	b.Run("closedloop", func(b *testing.B) {
		g := newBenchCommitter()
		const writers = 16
		lat := make([]time.Duration, b.N)
		var wg sync.WaitGroup
		b.ResetTimer()
		for w := range writers {
			wg.Go(func() {
				for i := w; i < b.N; i += writers {
					lat[i] = g.write(b)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		g.report(b, lat)
	})
}
