package pgvault_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/pgvault/pgload"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// benchParallelism makes the new-card benchmarks run 16 writers whatever
// GOMAXPROCS (b.SetParallelism multiplies it), like bench/run's 16
// connections.
func benchParallelism(b *testing.B) {
	b.Helper()
	p := 1
	for p*testingProcs() < 16 {
		p++
	}
	b.SetParallelism(p)
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }

func reportCards(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cards/s")
}

// serverCPU returns what reports PostgreSQL's CPU time per card since it
// was called (every database's: other work on the server counts too).
func serverCPU(b *testing.B) (report func()) {
	pg0 := vaulttest.ServerCPU("postgres")
	return func() {
		if pg1 := vaulttest.ServerCPU("postgres"); pg0 >= 0 && pg1 >= 0 {
			b.ReportMetric(float64(pg1-pg0)/float64(b.N), "pg-cpu-ns/op")
		}
	}
}

// xacts returns what reports the transactions the benchmark's database
// committed or rolled back per card since it was called: with group
// commit, each batch sent is one (pg_stat_database, which an idle backend
// may update only ten seconds later: close the vault's connections before
// report, which waits for the exiting backends' counts).
func xacts(b *testing.B, dsn string) (report func()) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	count := func() (n int64) {
		_, _ = conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()")
		_ = conn.QueryRow(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&n)
		return n
	}
	x0 := count()
	return func() {
		b.StopTimer()
		time.Sleep(1100 * time.Millisecond)
		b.ReportMetric(float64(count()-x0-2)/float64(b.N), "pg-xacts/op") // less count's own two
		conn.Close(ctx)
	}
}

// BenchmarkPostgresNewCard is the vault's side of a new card, as the
// tokenizer makes it (pgload.Write, which bench/pgown runs in bench/run):
// the fingerprint lookup (a miss), the network token state created (the
// builtin service on a shared store), the record put, in one unit of work.
func BenchmarkPostgresNewCard(b *testing.B) {
	ctx := context.Background()
	dsn := freshDatabase(b)
	v, err := pgvault.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	kv := v.KV(pgload.StateSpace)
	reportXacts := xacts(b, dsn)
	cards := pgload.NewCards("acme", hex.EncodeToString([]byte(time.Now().Format("150405.000"))))
	benchParallelism(b)
	b.ReportAllocs()
	pgCPU := serverCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := pgload.Write(ctx, v, kv, cards.Next()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCards(b)
	pgCPU()
	v.Close() // its connections' backends flush their statistics as they exit
	reportXacts()
}

// BenchmarkPostgresRawStatements issues the statements a new card costs
// (pgvault's own SQL, each committed on its own, as before group commit)
// straight with pgx: what PostgreSQL itself sustains for them, the ceiling
// BenchmarkPostgresNewCard is compared with.
func BenchmarkPostgresRawStatements(b *testing.B) {
	ctx := context.Background()
	dsn := freshDatabase(b)
	v, err := pgvault.Open(ctx, dsn) // the schema
	if err != nil {
		b.Fatal(err)
	}
	v.Close()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	cards := pgload.NewCards("acme", hex.EncodeToString([]byte(time.Now().Format("150405.000"))))
	benchParallelism(b)
	b.ReportAllocs()
	pgCPU := serverCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := cards.Next()
			r := c.Rec
			var n int
			err := pool.QueryRow(ctx, `SELECT 1 FROM tokengate_records WHERE tenant = $1 AND fingerprint = $2`, r.Tenant, r.Fingerprint).Scan(&n)
			if err == nil {
				b.Error("lookup found a new card")
				return
			}
			ids, data := make([]string, 0, 2), make([][]byte, 0, 2)
			for id, d := range c.Entries {
				ids, data = append(ids, id), append(data, d)
			}
			if _, err := pool.Exec(ctx, `INSERT INTO tokengate_kv (name, id, data) SELECT $1, * FROM unnest($2::text[], $3::bytea[])`, "network_tokens", ids, data); err != nil {
				b.Error(err)
				return
			}
			js, _ := json.Marshal(r)
			if _, err := pool.Exec(ctx, `INSERT INTO tokengate_records (tenant, token, fingerprint, network_provider, network_id, data, version, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) ON CONFLICT DO NOTHING`,
				r.Tenant, r.Token, r.Fingerprint, r.Network.Provider, r.Network.ID, js, time.Now().UTC()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCards(b)
	pgCPU()
}
