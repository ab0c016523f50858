package caddymodule

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestPostgresVault: a gateway on a PostgreSQL vault tokenizes and
// detokenizes as on bbolt, with the builtin network token service's state
// in the same database.
func TestPostgresVault(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	// With the CVVs in Redis beside it: the shared deployment.
	pg := &gateway{t: t, tc: caddytest.NewTester(t), dir: t.TempDir(), vault: "dev_keyset_file " + filepath.Join(t.TempDir(), "dev.json") + "\n\t\tvault postgres {\n\t\t\tdsn " + dsn + "\n\t\t}\n\t\tcvv_store redis {\n\t\t\tprefix " + t.Name() + ":\n\t\t}"}
	pg.logFile = filepath.Join(pg.dir, "caddy.log")
	pg.tc.InitServer(pg.config("", defaultSites), "caddyfile")
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
	again := pg.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if str(decode(t, again.body), "card.number") != token {
		t.Fatal("the same card got another token")
	}
}
