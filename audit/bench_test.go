package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// benchEntry is what the detokenize hook records for one request: tenant,
// API key id, rule set, destination, Caddy's request id (a UUID), a W3C
// trace id and one token.
func benchEntry(i uint64) Entry {
	return Entry{
		Time: time.Now().UTC(), Action: ActionDetokenize, Outcome: OutcomeOK,
		Tenant: "acme", APIKey: "3f2a9c1be07d", RuleSet: "stripe_charges", Destination: "api.stripe.com",
		RequestID: fmt.Sprintf("5b3c9f2e-8a41-4d7b-9c6e-%012x", i),
		TraceID:   fmt.Sprintf("4bf92f3577b34da6a3ce929d%08x", uint32(i)),
		Tokens:    []TokenUse{{Token: "tok_4cU7XyZb9QmP2kLw8RtN", Field: "card.number", Became: "network_token"}},
	}
}

// countingStore counts the writes of a file store: lines/write is the
// group commit's batch size.
type countingStore struct {
	*FileStore
	writes atomic.Int64
}

func (s *countingStore) Append(ctx context.Context, line []byte) error {
	s.writes.Add(1)
	return s.FileStore.Append(ctx, line)
}

func (s *countingStore) AppendBatch(ctx context.Context, lines [][]byte) (int, error) {
	s.writes.Add(1)
	return s.FileStore.AppendBatch(ctx, lines)
}

// BenchmarkChainRecordFile is the file sink's cost per detokenization:
// Record of a realistic entry (checkpoints every 1000 entries, as by
// default; with `fsync every`, an fsync per write), one goroutine and in
// parallel (as concurrent requests do).
func BenchmarkChainRecordFile(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, par := range []bool{false, true} {
			name := "serial"
			if par {
				name = "parallel"
			}
			if sync {
				name += "/fsync"
			}
			b.Run(name, func(b *testing.B) {
				benchRecordFile(b, par, sync)
			})
		}
	}
}

func benchRecordFile(b *testing.B, par, sync bool) {
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	opts := Options{Gateway: "gw1", Key: testKey, Interval: time.Hour, SyncEvery: sync}
	fs, tail, err := OpenFile(path, FileOptions{Key: testKey})
	if err != nil {
		b.Fatal(err)
	}
	store := &countingStore{FileStore: fs}
	c, err := NewChain(context.Background(), store, tail, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var n atomic.Uint64
	store.writes.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	if !par {
		for i := 0; i < b.N; i++ {
			if err := c.Record(ctx, benchEntry(uint64(i))); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(8) // requests waiting on the trail, more than cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := c.Record(ctx, benchEntry(n.Add(1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	if w := store.writes.Load(); w > 0 {
		b.ReportMetric(float64(b.N)/float64(w), "lines/write")
	}
}

// BenchmarkChainEncode is the cost of encoding and hashing one entry
// (what Record does besides writing).
func BenchmarkChainEncode(b *testing.B) {
	c := &Chain{gateway: "gw1", prev: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	e := benchEntry(1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		x := e
		if _, err := c.encode(&x); err != nil {
			b.Fatal(err)
		}
	}
}
