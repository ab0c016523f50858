package tokenize_test

import (
	"context"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/cvv"
)

// BenchmarkTokenizeHeld measures what one 1,000-card request of new cards
// (~1 MiB JSON, bbolt vault, builtin network) holds, phase by phase, beyond
// its body: the live heap after a forced collection, above the heap before
// the body was parsed, at four points of the real path:
//   - store: while the cards are stored (every 50th token drawn; the
//     highest),
//   - cvv: when the first CVV is held (every card stored, nothing edited),
//   - edit: after Apply (the body's edits recorded),
//   - out: after Bytes (the rewritten body as well).
//
// Each is reported per card (held-<point>-B/card), with the highest over
// the four in bodies (held/body) and the bytes the request allocates per
// card (alloc-B/card, the forced collections' own excluded as far as
// TotalAlloc allows). Live-heap numbers do not depend on the machine's
// load; the forced collections make ns/op meaningless here.
func BenchmarkTokenizeHeld(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	live := func() uint64 {
		runtime.GC()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	var storePeak atomic.Uint64
	sample := func() {
		for v := live(); ; {
			old := storePeak.Load()
			if v <= old || storePeak.CompareAndSwap(old, v) {
				return
			}
		}
	}
	var held [4]float64 // store, cvv, edit, out: summed over ops
	var peak, alloc float64
	var ms runtime.MemStats
	seed := 0
	for b.Loop() {
		b.StopTimer()
		seed++
		// A fresh gateway each op, so that what the cards leave behind
		// (CVVs held, the network's state, caches) grows the same way in
		// every op rather than by whichever map happens to double.
		e := newEnv(b)
		set := arraySet(b, tenantA, false)
		set.MaxCards = n
		e.tk.Random = &sampledReader{r: e.tk.Random, every: 50, sample: sample}
		cvvs := &firstPut{Store: e.tk.CVVs}
		e.tk.CVVs = cvvs
		in := manyCards(n, seed)
		base := live()
		runtime.ReadMemStats(&ms)
		alloc0 := ms.TotalAlloc
		storePeak.Store(0)
		var atCVV uint64
		cvvs.reset(func() { atCVV = live() })
		b.StartTimer()
		doc, err := body.Parse(body.JSON, "application/json", in)
		if err != nil {
			b.Fatal(err)
		}
		res, err := e.tk.Apply(ctx, set, body.JSON, doc)
		if err != nil || res.Created != n {
			b.Fatalf("%+v %v", res, err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		alloc1 := ms.TotalAlloc
		atEdit := live()
		runtime.ReadMemStats(&ms)
		alloc2 := ms.TotalAlloc
		b.StartTimer()
		out, err := doc.Bytes()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		alloc3 := ms.TotalAlloc
		atOut := live()
		runtime.KeepAlive(out)
		body.Release(doc) // as the tokenize handler does
		points := [4]uint64{storePeak.Load(), atCVV, atEdit, atOut}
		top := 0.0
		for i, p := range points {
			h := float64(p) - float64(base)
			held[i] += h
			top = max(top, h)
		}
		peak += top / float64(len(in))
		alloc += float64(alloc1-alloc0) + float64(alloc3-alloc2)
		b.StartTimer()
	}
	ops := float64(b.N)
	for i, name := range []string{"store", "cvv", "edit", "out"} {
		b.ReportMetric(held[i]/ops/n, "held-"+name+"-B/card")
	}
	b.ReportMetric(peak/ops, "held/body")
	b.ReportMetric(alloc/ops/n, "alloc-B/card")
}

// sampledReader calls sample on every every-th Read, before reading.
type sampledReader struct {
	r      io.Reader
	every  int64
	n      atomic.Int64
	sample func()
}

func (s *sampledReader) Read(p []byte) (int, error) {
	if s.n.Add(1)%s.every == 0 {
		s.sample()
	}
	return s.r.Read(p)
}

// firstPut calls at on a request's first PutCVV: every card is stored by
// then and the body not yet edited.
type firstPut struct {
	cvv.Store
	mu sync.Mutex
	at func()
}

func (f *firstPut) reset(at func()) { f.mu.Lock(); f.at = at; f.mu.Unlock() }

func (f *firstPut) PutCVV(ctx context.Context, tenant, token, cvv string, ttl time.Duration) error {
	f.mu.Lock()
	at := f.at
	f.at = nil
	f.mu.Unlock()
	if at != nil {
		at()
	}
	return f.Store.PutCVV(ctx, tenant, token, cvv, ttl)
}
