// Command pgown measures the new-card rate PostgreSQL itself sustains for
// the statements the gateway makes per new card (package pgload: the
// fingerprint lookup, the builtin network token service's state, the
// record, through pgvault's own code and batching), with dummy rows, from
// as many concurrent writers as bench/run's wrk has connections. bench/run
// (BACKEND=postgres) runs it after each new-card run against the same
// database, so that the gateway's rate can be read as a share of it. It
// prints one JSON object: pgload.Result.
//
//	pgown -dsn DSN [-c 16] [-d 10s] [-prefix P]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/pgvault/pgload"
)

func main() {
	dsn := flag.String("dsn", "", "the database (a pgx connection string), as the gateway's vault postgres dsn")
	workers := flag.Int("c", 16, "concurrent writers (bench/run: CONNECTIONS)")
	d := flag.Duration("d", 10*time.Second, "how long to write (bench/run: DURATION)")
	prefix := flag.String("prefix", "", "keeps this run's tokens apart from other runs' over the same database (default: the time)")
	tenant := flag.String("tenant", "pgown", "the dummy rows' tenant")
	flag.Parse()
	if *dsn == "" || *workers < 1 || *d <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *prefix == "" {
		*prefix = fmt.Sprintf("%x", time.Now().UnixNano())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *dsn, *tenant, *prefix, *workers, *d); err != nil {
		fmt.Fprintln(os.Stderr, "pgown:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dsn, tenant, prefix string, workers int, d time.Duration) error {
	v, err := pgvault.Open(ctx, dsn) // the gateway's pool settings; the schema is there already
	if err != nil {
		return err
	}
	defer v.Close()
	res, err := pgload.Run(ctx, v, pgload.NewCards(tenant, prefix), workers, d)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
