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
func BenchmarkPutCVVParallel(b *testing.B) { benchPut(b, true) }

// BenchmarkPutCVV is BenchmarkPutCVVParallel one request at a time: a
// lone call's cost, as most of the gateway's are, its CVV the only one in
// its pipeline.
func BenchmarkPutCVV(b *testing.B) { benchPut(b, false) }

// benchPut measures PutCVV, 16 callers at once when parallel (8 per
// GOMAXPROCS on 2 cores), else one; it reports the client's CPU per op.
func benchPut(b *testing.B, parallel bool) {
	c := client(b)
	s := cvvredis.New(c, vaulttest.Keys(b), prefix())
	ctx := context.Background()
	var n atomic.Int64
	defer func() { // nothing stays held
		for i := range n.Load() {
			_, _, _ = s.TakeCVV(ctx, "bench", "tok_"+strconv.FormatInt(i+1, 10))
		}
	}()
	put := func() bool {
		tok := "tok_" + strconv.FormatInt(n.Add(1), 10)
		if err := s.PutCVV(ctx, "bench", tok, "123", time.Minute); err != nil {
			b.Error(err)
			return false
		}
		return true
	}
	b.ReportAllocs()
	reportCPU := vaulttest.CPUPerOp(b)
	if parallel {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() && put() {
			}
		})
	} else {
		for i := 0; i < b.N && put(); i++ {
		}
	}
	b.StopTimer()
	reportCPU()
}

// BenchmarkTakeCVV is the detokenize's CVV take on the local Redis, one
// request at a time: each op takes a CVV put before the timer.
func BenchmarkTakeCVV(b *testing.B) {
	c := client(b)
	s := cvvredis.New(c, vaulttest.Keys(b), prefix())
	ctx := context.Background()
	for i := range b.N {
		if err := s.PutCVV(ctx, "bench", "tok_"+strconv.Itoa(i), "123", time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	reportCPU := vaulttest.CPUPerOp(b)
	for i := range b.N {
		if v, ok, err := s.TakeCVV(ctx, "bench", "tok_"+strconv.Itoa(i)); err != nil || !ok || v != "123" {
			b.Fatal(ok, err)
		}
	}
	b.StopTimer()
	reportCPU()
}
