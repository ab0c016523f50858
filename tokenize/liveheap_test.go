package tokenize_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/stack"
)

// TestLiveHeap measures what the gateway's long-lived state costs the
// garbage collector (issue 20): it fills a stack on bbolt with new cards as
// bench/run's new-card scenario does (read cache, CVVs held, the builtin
// network's state), writes a heap profile of what stays live, and times a
// repeat-card request with the state empty and full, printing benchmark
// lines (ns/op, GC mark CPU ns/op, B/op, allocs/op) for benchstat. It takes
// a minute, so it runs only with TOKENGATE_LIVEHEAP set to the directory
// the profiles go to; TOKENGATE_LIVEHEAP_CARDS sets the fill (default
// 60,000: 30 s of the benchmark's 2,000 new cards a second, the cache TTL).
func TestLiveHeap(t *testing.T) {
	dir := os.Getenv("TOKENGATE_LIVEHEAP")
	if dir == "" {
		t.Skip("set TOKENGATE_LIVEHEAP to a directory to measure the live heap")
	}
	cards := 60_000
	if s := os.Getenv("TOKENGATE_LIVEHEAP_CARDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		cards = n
	}
	v := openBolt(t)
	cvvs := cvvmem.New(10 * time.Minute)
	t.Cleanup(func() { cvvs.Close() })
	// A long TTL, so nothing expires while the fill runs slower than the benchmark.
	s := stack.New(stack.Config{Vault: v, Keys: testKeys(t), CVVs: cvvs, CacheTTL: 10 * time.Minute})
	tk := s.Tokenizer
	tk.Now = fixedNow
	// The network's clock runs at the benchmark's 2,000 new cards a second
	// (0.5 s a batch of the fill), so its state cache holds what it would
	// under that load.
	// Its state is in the vault's bbolt file, as the gateway keeps it.
	var elapsed atomic.Int64
	nb, err := network.NewBuiltin(network.BuiltinConfig{Key: bytes.Repeat([]byte{7}, 32),
		Now: func() time.Time { return testNow.Add(time.Duration(elapsed.Load())) }}, v.KV("network_tokens"))
	if err != nil {
		t.Fatal(err)
	}
	tk.Lifecycle.Networks, tk.Lifecycle.Provisioner = network.Registry{nb.Name(): nb}, nb.Name()

	ctx := context.Background()
	repeat, in := cardSet(t, tenantA), checkoutBody(t)
	doc, _ := body.Parse(body.JSON, "application/json", in)
	if res, err := tk.Apply(ctx, repeat, body.JSON, doc); err != nil || res.Created != 1 {
		t.Fatalf("first tokenization: %+v %v", res, err)
	}
	hot := func() {
		doc, err := body.Parse(body.JSON, "application/json", in)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := tk.Apply(ctx, repeat, body.JSON, doc); err != nil || res.Created != 0 {
			t.Fatalf("%+v %v", res, err)
		}
		if _, err := doc.Bytes(); err != nil {
			t.Fatal(err)
		}
		body.Release(doc)
		// The rest of a gateway request (Caddy, HTTP, the proxy) allocates
		// about 34 KiB more (bench/RESULTS.md: 36 KiB a request), which is
		// what sets how often the GC runs.
		garbage = make([]*byte, 34*1024/8)
	}
	measureGC(t, "empty", hot)
	empty := readLive()

	const batch = 1000
	set := arraySet(t, tenantA, false)
	set.MaxCards = batch
	for seed := 1; seed <= cards/batch; seed++ {
		doc, _ := body.Parse(body.JSON, "application/json", manyCards(batch, seed))
		if res, err := tk.Apply(ctx, set, body.JSON, doc); err != nil || res.Created != batch {
			t.Fatalf("fill: %+v %v", res, err)
		}
		elapsed.Add(int64(batch * time.Second / 2000))
	}
	t.Logf("read cache holds %d records, %d CVVs held", s.Cache.Len(), cvvs.Len())
	runtime.GC()
	f, err := os.Create(filepath.Join(dir, "heap.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	full := readLive()
	per := func(i int) float64 { return (full[i] - empty[i]) / float64(cards) }
	// What each card adds to the live heap: objects, bytes, and the bytes
	// the GC must scan for pointers (/gc/scan/heap), which is what sets its
	// mark work per cycle.
	fmt.Printf("BenchmarkLiveHeapPerCard-%d\t%d\t%.2f objects/card\t%.0f live-B/card\t%.0f scan-B/card\n",
		runtime.GOMAXPROCS(0), cards, per(0), per(1), per(2))
	measureGC(t, "full", hot)
	runtime.KeepAlive(s)
}

// readLive collects garbage and returns the heap's live objects, live bytes
// and scannable bytes.
func readLive() []float64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/objects:objects"}, {Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	out := make([]float64, len(s))
	for i := range s {
		out[i] = float64(s[i].Value.Uint64())
	}
	return out
}

// garbage keeps the modelled request allocation from being optimized away.
var garbage []*byte

// measureGC runs op in six rounds and prints one benchmark line per round:
// wall time, the GC's mark CPU, GC cycles, the heap the GC marked (the
// live heap after the last cycle times the cycles), bytes and objects
// allocated, each per op. The mark CPU is the runtime's estimate (assist,
// dedicated and idle workers), which counts a worker's time off the CPU:
// on a busy machine, and with the idle worker filling the P this
// single-goroutine loop leaves free, it overstates; cycles and marked
// bytes do not depend on the machine's load.
func measureGC(t *testing.T, name string, op func()) {
	const rounds, n = 6, 40_000
	names := []string{"/cpu/classes/gc/mark/assist:cpu-seconds", "/cpu/classes/gc/mark/dedicated:cpu-seconds",
		"/cpu/classes/gc/mark/idle:cpu-seconds", "/gc/heap/allocs:bytes", "/gc/heap/allocs:objects", "/gc/cycles/total:gc-cycles", "/gc/heap/live:bytes", "/gc/scan/heap:bytes"}
	read := func() []float64 {
		s := make([]metrics.Sample, len(names))
		for i := range names {
			s[i].Name = names[i]
		}
		metrics.Read(s)
		out := make([]float64, len(s))
		for i := range s {
			switch s[i].Value.Kind() {
			case metrics.KindFloat64:
				out[i] = s[i].Value.Float64()
			case metrics.KindUint64:
				out[i] = float64(s[i].Value.Uint64())
			}
		}
		return out
	}
	for range rounds {
		before, start := read(), time.Now()
		for range n {
			op()
		}
		elapsed := time.Since(start)
		// The GC CPU metrics move at the end of each cycle: a round spans
		// hundreds, so the one cut off at either end is noise.
		after := read()
		gcPerOp := (after[0] + after[1] + after[2] - before[0] - before[1] - before[2]) * 1e9 / n
		cycles := after[5] - before[5]
		fmt.Printf("BenchmarkLiveHeap/state=%s-%d\t%d\t%.0f ns/op\t%.0f gc-ns/op\t%.2f gcs/kop\t%.0f marked-B/op\t%.0f scan-B/op\t%.0f B/op\t%.0f allocs/op\n",
			name, runtime.GOMAXPROCS(0), n, float64(elapsed.Nanoseconds())/n, gcPerOp,
			cycles*1000/n, after[6]*cycles/n, after[7]*cycles/n, (after[3]-before[3])/n, (after[4]-before[4])/n)
	}
}
