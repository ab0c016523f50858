package caddymodule

import (
	"bytes"
	"context"
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

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

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
// database and Redis prefix (skipping without them, as the tests do), and
// the database's DSN.
func pgBackends(b *testing.B, dir string) (lines, dsn string) {
	b.Helper()
	dsn = vaulttest.PostgresDatabase(b)
	if !redisReachable() {
		if requireServices() {
			b.Fatal("Redis is required (TOKENGATE_REQUIRE_SERVICES=1) and not reachable at 127.0.0.1:6379")
		}
		b.Skip("Redis not reachable at 127.0.0.1:6379: start it to run this benchmark")
	}
	prefix := fmt.Sprintf("tokengate-bench-%d:", time.Now().UnixNano())
	lines = fmt.Sprintf(`dev_keyset_file %s
		vault postgres {
			dsn %s
		}
		cvv_store redis {
			prefix %s
		}`, filepath.Join(dir, "dev-keyset.json"), dsn, prefix)
	return lines, dsn
}

// benchClients is the b.SetParallelism that makes 16 clients.
func benchClients() int { return max(1, 16/runtime.GOMAXPROCS(0)) }

// BenchmarkDetokenizeHTTPPostgres is BenchmarkDetokenizeHTTP on PostgreSQL
// and Redis.
func BenchmarkDetokenizeHTTPPostgres(b *testing.B) {
	dir := b.TempDir()
	lines, dsn := pgBackends(b, dir)
	g := startOutboundBenchOn(b, dir, lines)
	report := roundTrips(b, dsn)
	g.run(b, g.detokURL, func(h http.Header) bool {
		return strings.Contains(h.Get("Tokengate-Injected"), "=network_token")
	})
	report()
}

// BenchmarkTokenizeRepeatHTTPPostgres is BenchmarkTokenizeRepeatHTTP on
// PostgreSQL and Redis: the card found by fingerprint (cached), its CVV
// held in Redis.
func BenchmarkTokenizeRepeatHTTPPostgres(b *testing.B) {
	dir := b.TempDir()
	lines, dsn := pgBackends(b, dir)
	g := startBenchGatewayOn(b, dir, lines)
	g.parallelism = benchClients()
	g.measure = func(b *testing.B) func() { return roundTrips(b, dsn) }
	g.runHTTP(b, g.tokenize, true)
}

// BenchmarkTokenizeNewHTTPPostgres is bench/run's scenario (3) on
// PostgreSQL and Redis: every checkout brings a card the vault has never
// seen (the fingerprint lookup misses, the builtin service provisions a
// network token, the record is stored durably, the CVV held in Redis).
func BenchmarkTokenizeNewHTTPPostgres(b *testing.B) {
	dir := b.TempDir()
	lines, dsn := pgBackends(b, dir)
	benchTokenizeNew(b, dir, lines, func(b *testing.B) func() { return roundTrips(b, dsn) })
}

// benchTokenizeNew runs new cards through a gateway on backends; measure,
// when set, is called before each measured loop, what it returns after it.
func benchTokenizeNew(b *testing.B, dir, backends string, measure func(*testing.B) func()) {
	g := startBenchGatewayOn(b, dir, backends)
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
			report := func() {}
			if measure != nil {
				report = measure(b)
			}
			reportCPU := vaulttest.CPUPerOp(b)
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
			reportCPU()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cards/s")
			report()
		})
	}
}

// roundTrips reports, per op, the statements PostgreSQL ran in the
// benchmark's database (pg_stat_database's commits and rollbacks: one per
// implicit transaction, so a batch counts once), the commands Redis
// processed and the reads it made (total_reads_processed: one per round
// trip, so a pipeline of CVV puts counts once; both the whole server's:
// other clients count too). Call it before the measured loop; it reports
// when b ends.
func roundTrips(b *testing.B, dsn string) (report func()) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	counts := func() (xacts, cmds, reads int64) {
		_, _ = conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()")
		_ = conn.QueryRow(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&xacts)
		info, _ := rdb.Info(ctx, "stats").Result()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
				fmt.Sscan(v, &cmds)
			}
			if v, ok := strings.CutPrefix(line, "total_reads_processed:"); ok {
				fmt.Sscan(v, &reads)
			}
		}
		return
	}
	x0, c0, r0 := counts()
	pg0, rd0 := vaulttest.ServerCPU("postgres"), vaulttest.ServerCPU("redis-server")
	return func() {
		pg1, rd1 := vaulttest.ServerCPU("postgres"), vaulttest.ServerCPU("redis-server")
		b.StopTimer()
		time.Sleep(1100 * time.Millisecond) // backends flush their statistics every second
		x1, c1, r1 := counts()
		b.ReportMetric(float64(x1-x0-2)/float64(b.N), "pg-xacts/op") // less this function's own two
		b.ReportMetric(float64(c1-c0-1)/float64(b.N), "redis-cmds/op")
		b.ReportMetric(float64(r1-r0-1)/float64(b.N), "redis-trips/op")
		if pg0 >= 0 && pg1 >= 0 {
			b.ReportMetric(float64(pg1-pg0)/float64(b.N), "pg-cpu-ns/op")
			b.ReportMetric(float64(rd1-rd0)/float64(b.N), "redis-cpu-ns/op")
		}
		conn.Close(ctx)
		rdb.Close()
	}
}
