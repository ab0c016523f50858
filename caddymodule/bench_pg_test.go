package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault/vaulttest"
)

// The in-process benchmarks of bench/run's BACKEND=postgres: the same
// gateways as BenchmarkDetokenizeHTTP and BenchmarkTokenizeRepeatHTTP, with
// the vault (and the builtin network token service's state) in a PostgreSQL
// database of the benchmark's own and CVVs in Redis under a prefix of its
// own. They run 16 clients whatever GOMAXPROCS, as bench/run's 16
// connections: a request now waits on round trips, which only concurrency
// hides. Compare with BenchmarkPlainProxyHTTP and
// BenchmarkPlainProxyInboundHTTP.
//
//	TOKENGATE_REQUIRE_SERVICES=1 go test -run '^$' -bench 'Postgres$' -benchmem ./caddymodule/

// pgBackends returns the tokengate block's lines for a fresh PostgreSQL
// database and Redis prefix (skipping without them, as the tests do).
func pgBackends(b *testing.B, dir string) string {
	b.Helper()
	dsn := vaulttest.PostgresDatabase(b)
	if !redisReachable() {
		if requireServices() {
			b.Fatal("Redis is required (TOKENGATE_REQUIRE_SERVICES=1) and not reachable at 127.0.0.1:6379")
		}
		b.Skip("Redis not reachable at 127.0.0.1:6379: start it to run this benchmark")
	}
	prefix := fmt.Sprintf("tokengate-bench-%d:", time.Now().UnixNano())
	return fmt.Sprintf(`dev_keyset_file %s
		vault postgres {
			dsn %s
		}
		cvv_store redis {
			prefix %s
		}`, filepath.Join(dir, "dev-keyset.json"), dsn, prefix)
}

// benchClients is the b.SetParallelism that makes 16 clients.
func benchClients() int { return max(1, 16/runtime.GOMAXPROCS(0)) }

// BenchmarkDetokenizeHTTPPostgres is BenchmarkDetokenizeHTTP on PostgreSQL
// and Redis.
func BenchmarkDetokenizeHTTPPostgres(b *testing.B) {
	dir := b.TempDir()
	g := startOutboundBenchOn(b, dir, pgBackends(b, dir))
	g.run(b, g.detokURL, func(h http.Header) bool {
		return strings.Contains(h.Get("Tokengate-Injected"), "=network_token")
	})
}

// BenchmarkTokenizeRepeatHTTPPostgres is BenchmarkTokenizeRepeatHTTP on
// PostgreSQL and Redis: the card found by fingerprint (cached), its CVV
// held in Redis.
func BenchmarkTokenizeRepeatHTTPPostgres(b *testing.B) {
	dir := b.TempDir()
	g := startBenchGatewayOn(b, dir, pgBackends(b, dir))
	g.parallelism = benchClients()
	g.runHTTP(b, g.tokenize, true)
}

// BenchmarkTokenizeNewHTTPPostgres is bench/run's scenario (3) on
// PostgreSQL and Redis: every checkout brings a card the vault has never
// seen (the fingerprint lookup misses, the builtin service provisions a
// network token, the record is stored durably, the CVV held in Redis).
func BenchmarkTokenizeNewHTTPPostgres(b *testing.B) {
	dir := b.TempDir()
	g := startBenchGatewayOn(b, dir, pgBackends(b, dir))
	var seq atomic.Int64
	seq.Store(time.Now().UnixNano() % 1e6 * 1000) // PANs no other run used in this database
	for _, kind := range []string{"json", "form"} {
		name := "checkout.json"
		ct := "application/json"
		if kind == "form" {
			name, ct = "checkout.form", "application/x-www-form-urlencoded"
		}
		raw, err := os.ReadFile(filepath.Join("..", "bench", "bodies", name))
		if err != nil {
			b.Fatal(err)
		}
		raw = bytes.TrimRight(raw, "\n")
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(benchClients())
			cpu0 := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					pan := newPAN(int(seq.Add(1)))
					req, _ := http.NewRequest(http.MethodPost, g.tokenize, bytes.NewReader(bytes.Replace(raw, []byte("{{PAN}}"), []byte(pan), 1)))
					req.Header.Set("Content-Type", ct)
					resp, err := g.client().Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					out, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(pan)) || !bytes.Contains(out, []byte("tok_")) {
						b.Errorf("%d %q", resp.StatusCode, out)
						return
					}
				}
			})
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cards/s")
		})
	}
}
