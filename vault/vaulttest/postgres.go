package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresBaseDSN is the server the tests use: TOKENGATE_PG_DSN, or the
// local PostgreSQL (127.0.0.1:5432, trust auth, database test).
func PostgresBaseDSN() string {
	if dsn := os.Getenv("TOKENGATE_PG_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// PostgresDatabase creates a database of the test's own, dropped after it,
// and returns its DSN. Without a reachable PostgreSQL the test is skipped,
// saying how to run it, unless TOKENGATE_REQUIRE_SERVICES=1 (as in CI)
// makes that a failure.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, PostgresBaseDSN())
	if err != nil {
		if os.Getenv("TOKENGATE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PostgreSQL is required (TOKENGATE_REQUIRE_SERVICES=1) and not reachable: %v", err)
		}
		t.Skipf("PostgreSQL not reachable (%v): start it on 127.0.0.1:5432 with trust auth, or set TOKENGATE_PG_DSN, to run this test", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "tokengate_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), PostgresBaseDSN()); err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	cfg, _ := pgx.ParseConfig(PostgresBaseDSN())
	return strings.Replace(PostgresBaseDSN(), "/"+cfg.Database, "/"+name, 1)
}
