package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestPostgresVault: a gateway on a PostgreSQL vault tokenizes and
// detokenizes as on bbolt, with the builtin network token service's state
// in the same database.
func TestPostgresVault(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	// With the CVVs in Redis beside it: the shared deployment.
	prefix := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()) // its own keys, whatever earlier runs left
	pg := &gateway{t: t, dir: t.TempDir(), vault: "dev_keyset_file " + filepath.Join(t.TempDir(), "dev.json") + "\n\t\tvault postgres {\n\t\t\tdsn " + dsn + "\n\t\t}\n\t\tcvv_store redis {\n\t\t\tprefix " + prefix + ":\n\t\t}"}
	pg.logFile = filepath.Join(pg.dir, "caddy.log")
	pg.load(pg.config("", defaultSites))
	in := pg.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	if in.status != http.StatusOK || !strings.HasPrefix(token, "tok_") {
		t.Fatalf("tokenize on PostgreSQL: %d %s", in.status, in.body)
	}
	out := pg.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	if out.header.Get(InjectedHeader) != "card.number=network_token" {
		t.Fatalf("detokenize on PostgreSQL: %d %q", out.status, out.header.Get(InjectedHeader))
	}
	// A card without a network token pays with its PAN and the CVV held in
	// Redis, once.
	ne := pg.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333"))
	first := decode(t, pg.post(outboundURL+"/payments", jsonCT, ne.body, "X-Tokengate-Api-Key", apiKeyA).body)
	second := decode(t, pg.post(outboundURL+"/payments", jsonCT, ne.body, "X-Tokengate-Api-Key", apiKeyA).body)
	if str(first, "card.cvc") != testCVV || get(second, "card.cvc") != nil {
		t.Fatalf("the CVV through Redis: first %v, second %v", get(first, "card.cvc") != nil, get(second, "card.cvc") != nil)
	}
	// A card kept without consent: its short-lived token lives in Redis
	// (for every gateway), never in PostgreSQL, and pays with its CVV once.
	nc := pg.post(inboundURL+"/noconsent/checkout", jsonCT, checkoutJSON("5555555555554444"))
	short := str(decode(t, nc.body), "card.number")
	if nc.status != http.StatusOK || !strings.HasPrefix(short, "tok_") {
		t.Fatalf("no-consent card: %d %s", nc.status, nc.body)
	}
	var rows int
	if err := pgConn(t, dsn).QueryRow(context.Background(), `SELECT count(*) FROM tokengate_records WHERE token = $1`, short).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("the short-lived card reached PostgreSQL: %d rows, %v", rows, err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	// Under a readable key (prefix:card:tenant:hash), which names no token.
	if names, err := rdb.Keys(context.Background(), prefix+":card:tenant_a:*").Result(); err != nil || len(names) != 1 || strings.Contains(names[0], short) {
		t.Fatalf("the short-lived card is not in Redis under %s:card:tenant_a:<hash>: %q, %v", prefix, names, err)
	}
	paid := pg.post(outboundURL+"/payments", jsonCT, nc.body, "X-Tokengate-Api-Key", apiKeyA)
	if doc := decode(t, paid.body); paid.header.Get(InjectedHeader) != "card.number=pan;reason=no_consent" || str(doc, "card.number") != "5555555555554444" || str(doc, "card.cvc") != testCVV {
		t.Fatalf("paying the short-lived card: %d %q", paid.status, paid.header.Get(InjectedHeader))
	}
	if again := decode(t, pg.post(outboundURL+"/payments", jsonCT, nc.body, "X-Tokengate-Api-Key", apiKeyA).body); get(again, "card.cvc") != nil {
		t.Fatal("the short-lived card's CVV was used twice")
	}
	again := pg.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if str(decode(t, again.body), "card.number") != token {
		t.Fatal("the same card got another token")
	}
	// The change feed is a series here (it has one); cvvs_held is not, as
	// Redis holds the CVVs.
	metrics := pg.scrape()
	if !strings.Contains(metrics, "\ntokengate_vault_change_feed_listening ") || strings.Contains(metrics, "\ntokengate_cvvs_held ") {
		t.Fatalf("with PostgreSQL and Redis, /metrics should have the change feed and no cvvs_held:\n%s", grepLines(metrics, "tokengate_vault_change_feed|tokengate_cvvs_held"))
	}
}

// pgConn connects to a test database, to look at what a gateway wrote.
func pgConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
