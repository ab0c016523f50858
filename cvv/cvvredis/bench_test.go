package cvvredis_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/cvv/cvvredis"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// BenchmarkPutCVVParallel is the repeat-card tokenize's CVV hold on the
// local Redis, 16 requests at once (bench/run's wrk connections): one
// PutCVV per op, taken back afterwards so nothing stays.
func BenchmarkPutCVVParallel(b *testing.B) {
	c := client(b)
	s := cvvredis.New(c, vaulttest.Keys(b), prefix())
	ctx := context.Background()
	var n atomic.Int64
	defer func() { // nothing stays held
		for i := range n.Load() {
			_, _, _ = s.TakeCVV(ctx, "bench", "tok_"+strconv.FormatInt(i+1, 10))
		}
	}()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok := "tok_" + strconv.FormatInt(n.Add(1), 10)
			if err := s.PutCVV(ctx, "bench", tok, "123", time.Minute); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
}
