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
	pg := &gateway{t: t, tc: caddytest.NewTester(t), dir: t.TempDir(), vault: "vault postgres {\n\t\t\tdsn " + dsn + "\n\t\t}"}
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
	again := pg.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if str(decode(t, again.body), "card.number") != token {
		t.Fatal("the same card got another token")
	}
}
