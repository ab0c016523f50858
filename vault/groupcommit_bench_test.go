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

// reportLatency reports the mean and 90th percentile of lat, in µs, and
// the writes per commit.
func reportLatency(b *testing.B, lat []time.Duration, commits int64) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(sum.Microseconds())/float64(len(lat)), "µs/write")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "p90-µs")
	if commits > 0 {
		b.ReportMetric(float64(len(lat))/float64(commits), "writes/commit")
	}
}

// newBenchCommitter is a lingering group commit whose commits take
// benchSync, and its commit count.
func newBenchCommitter() (*vault.GroupCommit[int], *int64) {
	var commits int64
	g := vault.NewLingeringGroupCommit(1000, func([]int) error {
		time.Sleep(benchSync)
		commits++ // one committer: no race
		return nil
	}, nil)
	return g, &commits
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
func BenchmarkGroupCommitLatency(b *testing.B) {
	ctx := context.Background()
	b.Run("sequential", func(b *testing.B) {
		g, commits := newBenchCommitter()
		defer g.Close()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			if err := g.Do(ctx, i); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		reportLatency(b, lat, *commits)
	})
	b.Run("openloop", func(b *testing.B) {
		g, commits := newBenchCommitter()
		defer g.Close()
		lat := make([]time.Duration, b.N)
		rng := rand.New(rand.NewPCG(1, 2))
		meanGap := benchSync / 4
		var wg sync.WaitGroup
		b.ResetTimer()
		next := time.Now()
		for i := range b.N {
			next = next.Add(time.Duration(rng.ExpFloat64() * float64(meanGap)))
			time.Sleep(time.Until(next))
			wg.Go(func() {
				start := time.Now()
				if err := g.Do(ctx, i); err != nil {
					b.Error(err)
				}
				lat[i] = time.Since(start)
			})
		}
		wg.Wait()
		b.StopTimer()
		reportLatency(b, lat, *commits)
	})
	b.Run("closedloop", func(b *testing.B) {
		g, commits := newBenchCommitter()
		defer g.Close()
		const writers = 16
		lat := make([]time.Duration, b.N)
		var wg sync.WaitGroup
		b.ResetTimer()
		for w := range writers {
			wg.Go(func() {
				for i := w; i < b.N; i += writers {
					start := time.Now()
					if err := g.Do(ctx, i); err != nil {
						b.Error(err)
					}
					lat[i] = time.Since(start)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		reportLatency(b, lat, *commits)
	})
}
