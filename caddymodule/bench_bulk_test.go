package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/card"
)

// The memory benchmark of bench/run's big body: one ~1 MiB JSON body with
// 1,000 cards the vault has never seen, through the tokenize handler (bulk
// rule set, bbolt vault in a temp dir) to an upstream. bench/run measures
// Caddy's peak RSS growth; here the gateway's peak live heap during the
// request (sampled) and the bytes it allocates are reported per request.
// Run it with -benchtime 4x or more (even): odd requests measure the live
// heap, even ones the heap with its garbage.

// bulkBody is bench/gen's bigbody: n cards of about 1 KiB, PANs "4" +
// prefix (5 digits) + a 9-digit counter + the Luhn digit.
func bulkBody(n int, prefix string) []byte {
	type bigCard struct {
		Reference string `json:"reference"`
		Number    string `json:"number"`
		ExpMonth  string `json:"exp_month"`
		ExpYear   string `json:"exp_year"`
		CVC       string `json:"cvc"`
		Name      string `json:"name"`
		Note      string `json:"note"`
	}
	note := strings.Repeat("lorem ipsum dolor sit amet ", 40)[:900]
	doc := struct {
		BatchID string    `json:"batch_id"`
		Cards   []bigCard `json:"cards"`
	}{BatchID: "batch_" + prefix}
	for i := 1; i <= n; i++ {
		digits := fmt.Sprintf("4%s%09d", prefix, i)
		doc.Cards = append(doc.Cards, bigCard{
			Reference: fmt.Sprintf("ref_%s_%06d", prefix, i),
			Number:    digits + string(card.LuhnDigit(digits)),
			ExpMonth:  fmt.Sprintf("%02d", 1+i%12),
			ExpYear:   "2031",
			CVC:       fmt.Sprintf("%03d", i%1000),
			Name:      fmt.Sprintf("Cardholder %06d", i),
			Note:      note,
		})
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return raw
}

// heapPeak samples the heap until stop is closed and returns its highest
// value: with forceGC, the live heap after a forced collection every few
// milliseconds (what the request holds); without, the heap objects, garbage
// included (what the process's memory follows, as the GC paces it).
func heapPeak(stop <-chan struct{}, forceGC bool) uint64 {
	name, every := "/memory/classes/heap/objects:bytes", 100*time.Microsecond
	if forceGC {
		name, every = "/gc/heap/live:bytes", 2*time.Millisecond
	}
	s := []metrics.Sample{{Name: name}}
	var peak uint64
	for {
		if forceGC {
			runtime.GC()
		}
		metrics.Read(s)
		peak = max(peak, s[0].Value.Uint64())
		select {
		case <-stop:
			return peak
		case <-time.After(every):
		}
	}
}

// BenchmarkTokenizeBulkNewHTTP posts the 1 MiB body with 1,000 new cards
// once per op. The upstream reads the body into a reused buffer and answers
// its length, so what is measured is the gateway's (and the client's
// request, which is not copied). peak/body is the heap's high-water mark
// (garbage included) above the heap after a GC before the request, in
// bodies; live/body the same for the live heap; alloc-B/op is TotalAlloc
// per request; live-B/card and alloc-B/card are the same per card.
func BenchmarkTokenizeBulkNewHTTP(b *testing.B) {
	benchBulkHTTP(b, true)
}

// BenchmarkPlainProxyBulkHTTP is the floor for BenchmarkTokenizeBulkNewHTTP:
// the same body through a plain reverse_proxy, measured the same way, so
// that what the gateway adds is the difference.
func BenchmarkPlainProxyBulkHTTP(b *testing.B) {
	benchBulkHTTP(b, false)
}

func benchBulkHTTP(b *testing.B, tokenize bool) {
	var upBuf bytes.Buffer
	var upOK atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upBuf.Reset()
		if _, err := upBuf.ReadFrom(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tokenized := bytes.Contains(upBuf.Bytes(), []byte(`"number":"tok_`)) && !bytes.Contains(upBuf.Bytes(), []byte(`"cvc"`))
		upOK.Store(tokenized == tokenize) // the plain proxy must forward the cards as they are
		fmt.Fprint(w, upBuf.Len())
	}))
	b.Cleanup(up.Close)
	g := &gateway{t: b, dir: b.TempDir()}
	rules := g.writeFile("rules.yaml", strings.Replace(benchRules, "    fields:\n      - {kind: pan, json: \"cards", "    token_format: prefixed\n    token_prefix: tok_\n    fields:\n      - {kind: pan, json: \"cards", 1))
	forgetKeys()
	handler := "tokenize bulk {\n\t\tmax_body_size 4MB\n\t}"
	if !tokenize {
		handler = "" // reverse_proxy streams the body through
	}
	g.load(`{
	persist_config off
	auto_https off
	log {
		level ERROR
	}
	tokengate {
		rules ` + rules + `
		vault bolt ` + filepath.Join(g.dir, "vault.db") + `
	}
}
http://:9080 {
	bind 127.0.0.1
	` + handler + `
	reverse_proxy ` + strings.TrimPrefix(up.URL, "http://") + `
}
`)
	url := g.addr("http://127.0.0.1:9080/bulk")
	client := g.client()
	post := func(raw []byte) {
		resp, err := client.Post(url, "application/json", bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !upOK.Load() {
			b.Fatalf("%d %.300s", resp.StatusCode, out)
		}
	}
	post(bulkBody(10, "99999")) // warm up: connections, vault file
	const cards = 1000
	var peak, live float64 // signed: a plain proxy's live heap can end below the baseline's
	var alloc, size uint64
	var ms runtime.MemStats
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		raw := bulkBody(cards, fmt.Sprintf("%05d", i))
		size = uint64(len(raw))
		// Twice: the first collection moves sync.Pools to their victim
		// caches (json.Marshal's ~1 MiB buffer among them), the second
		// frees them, as the sampler's collections would during the
		// request, which would then read below the baseline.
		runtime.GC()
		runtime.GC()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		runtime.ReadMemStats(&ms)
		alloc0 := ms.TotalAlloc
		forceGC := i%2 == 1 // odd requests measure the live heap, even ones the heap
		stop, got := make(chan struct{}), make(chan uint64)
		go func() { got <- heapPeak(stop, forceGC) }()
		b.StartTimer()
		post(raw)
		b.StopTimer()
		close(stop)
		if forceGC {
			live += float64(<-got) - float64(s[1].Value.Uint64())
		} else {
			peak += float64(<-got) - float64(s[0].Value.Uint64())
			runtime.ReadMemStats(&ms)
			alloc += ms.TotalAlloc - alloc0
		}
		b.StartTimer()
	}
	n := float64((b.N + 1) / 2) // requests measured each way
	liveN := float64(b.N / 2)
	b.ReportMetric(live/liveN/float64(size), "live/body")
	b.ReportMetric(peak/n/float64(size), "peak/body")
	b.ReportMetric(float64(alloc)/n, "alloc-B/op")
	b.ReportMetric(live/liveN/cards, "live-B/card")
	b.ReportMetric(float64(alloc)/n/cards, "alloc-B/card")
}
