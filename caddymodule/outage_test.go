package caddymodule

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/vault/vaulttest"
)

// cuttable is a TCP proxy a test can cut and restore, standing for a
// database going away and coming back.
type cuttable struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newCuttable(t *testing.T, target string) *cuttable {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cuttable{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); c.setCut(true) })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			if c.cut {
				c.mu.Unlock()
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				c.mu.Unlock()
				in.Close()
				continue
			}
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return c
}

// setCut refuses new connections and drops the open ones (true), or lets
// them through again (false).
func (c *cuttable) setCut(cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = cut
	if cut {
		for _, conn := range c.conns {
			conn.Close()
		}
		c.conns = nil
	}
}

// TestPostgresOutage: the database goes away: a new card gets 503 and
// nothing is forwarded; it comes back: the gateway recovers without a
// restart and nothing was lost.
func TestPostgresOutage(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCuttable(t, net.JoinHostPort(cfg.Host, "5432"))
	proxied := strings.Replace(dsn, "127.0.0.1:5432", proxy.ln.Addr().String(), 1)
	g := &gateway{t: t, dir: t.TempDir(), vault: "dev_keyset_file " + filepath.Join(t.TempDir(), "dev.json") + "\n\t\tvault postgres {\n\t\t\tdsn " + proxied + "\n\t\t}"}
	g = startGatewayWith(t, g)
	before := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, before.body), "card.number")
	if before.status != http.StatusOK {
		t.Fatalf("before the outage: %d %s", before.status, before.body)
	}

	proxy.setCut(true)
	during := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("5555555555554444"))
	if during.status != http.StatusServiceUnavailable || strings.Contains(during.body, "5555555555554444") {
		t.Fatalf("a new card during the outage: %d %s", during.status, during.body)
	}
	// The gateway stops trusting its record cache as soon as it cannot hear
	// other gateways' changes: the card tokenized before, cached, is then
	// refused both ways (503, nothing forwarded) rather than served from a
	// copy that may be stale.
	deadline := time.Now().Add(30 * time.Second) // generous: it takes one failed read
	var detok reply
	for {
		detok = g.post(outboundURL+"/payments", jsonCT, before.body, "X-Tokengate-Api-Key", apiKeyA)
		if detok.status == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if detok.status != http.StatusServiceUnavailable || detok.header.Get(InjectedHeader) != "" {
		t.Fatalf("paying a cached card during the outage: %d %q", detok.status, detok.header.Get(InjectedHeader))
	}
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); r.status != http.StatusServiceUnavailable || strings.Contains(r.body, visaPAN) {
		t.Fatalf("a cached card inbound during the outage: %d", r.status)
	}

	proxy.setCut(false)
	after := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("5555555555554444"))
	if after.status != http.StatusOK {
		t.Fatalf("after the outage: %d %s", after.status, after.body)
	}
	out := g.post(outboundURL+"/payments", jsonCT, before.body, "X-Tokengate-Api-Key", apiKeyA)
	if out.status != http.StatusOK || str(decode(t, g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)).body), "card.number") != token {
		t.Fatalf("the card tokenized before the outage: %d", out.status)
	}
}

// TestRedisOutage: Redis goes away: a card that comes with a CVV gets 503
// and nothing is forwarded; it comes back: the gateway recovers by itself.
func TestRedisOutage(t *testing.T) {
	if c := redisReachable(); !c {
		if requireServices() {
			t.Fatal("Redis is required (TOKENGATE_REQUIRE_SERVICES=1) and not reachable at 127.0.0.1:6379")
		}
		t.Skip("Redis not reachable at 127.0.0.1:6379: start it to run this test")
	}
	proxy := newCuttable(t, "127.0.0.1:6379")
	dir := t.TempDir()
	g := startGatewayWith(t, &gateway{t: t, dir: dir, vault: "vault bolt " + filepath.Join(dir, "v.db") +
		"\n\t\tcvv_store redis {\n\t\t\taddress " + proxy.ln.Addr().String() + "\n\t\t\tprefix " + t.Name() + ":\n\t\t}"})
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); r.status != http.StatusOK {
		t.Fatalf("before the outage: %d %s", r.status, r.body)
	}
	noNT := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333")) // no network token: pays by PAN
	proxy.setCut(true)
	// Paying by PAN while its CVV cannot be taken: the rule set's fallback
	// (pan), without the CVV.
	paid := g.post(outboundURL+"/payments", jsonCT, noNT.body, "X-Tokengate-Api-Key", apiKeyA)
	if doc := decode(t, paid.body); paid.status != http.StatusOK || str(doc, "card.number") != "4539097887163333" || get(doc, "card.cvc") != nil {
		t.Fatalf("paying by PAN during the outage: %d %q", paid.status, paid.header.Get(InjectedHeader))
	}
	wantRequestIDLogged(t, g, "the CVV store failed; the card is paid by PAN without its CVV")
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("5555555555554444")); r.status != http.StatusServiceUnavailable || strings.Contains(r.body, testCVV+`"`) {
		t.Fatalf("a card with a CVV during the outage: %d %s", r.status, r.body)
	}
	// A rule set with cvv_store_down: drop tokenizes the card and forwards
	// it without its CVV (not even the keep mask), saying so in a header.
	r := g.post(inboundURL+"/degraded/checkout", jsonCT, checkoutJSON("5555555555554444"))
	if doc := decode(t, r.body); r.status != http.StatusOK || !strings.HasPrefix(str(doc, "card.number"), "tok_") || get(doc, "card.cvc") != nil ||
		r.header.Get("Merchant-Saw-Cvv-Not-Held") != "card.cvc" {
		t.Fatalf("cvv_store_down drop during the outage: %d %q %s", r.status, r.header.Get("Merchant-Saw-Cvv-Not-Held"), r.body)
	}
	// Its token pays without a CVV.
	out := g.post(outboundURL+"/payments", jsonCT, r.body, "X-Tokengate-Api-Key", apiKeyA)
	if out.status != http.StatusOK || get(decode(t, out.body), "card.cvc") != nil {
		t.Fatalf("paying the token whose CVV was dropped: %d %s", out.status, out.body)
	}
	proxy.setCut(false)
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("5555555555554444")); r.status != http.StatusOK {
		t.Fatalf("after the outage: %d %s", r.status, r.body)
	}
	// Back to normal, the same rule set holds the CVV again and says nothing,
	// whatever the client claims.
	r = g.post(inboundURL+"/degraded/checkout", jsonCT, checkoutJSON("5555555555554444"), "Tokengate-Cvv-Not-Held", "card.cvc")
	if r.status != http.StatusOK || str(decode(t, r.body), "card.cvc") != "***" || r.header.Get("Merchant-Saw-Cvv-Not-Held") != "" {
		t.Fatalf("cvv_store_down drop after the outage: %d %q %s", r.status, r.header.Get("Merchant-Saw-Cvv-Not-Held"), r.body)
	}
	if log := g.log(); strings.Contains(log, "5555555555554444") || strings.Contains(log, `"`+testCVV+`"`) || !strings.Contains(log, "cvv_store_down: drop") {
		t.Fatal("the log holds card data or does not tell of the dropped CVV")
	}
}

func redisReachable() bool {
	c, err := net.Dial("tcp", "127.0.0.1:6379")
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func requireServices() bool { return os.Getenv("TOKENGATE_REQUIRE_SERVICES") == "1" }
