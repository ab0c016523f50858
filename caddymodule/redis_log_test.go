package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisGateway starts a bbolt gateway with its CVVs in Redis under a
// prefix of its own, and returns it, the prefix and a Redis client.
func redisGateway(t *testing.T) (*gateway, string, *redis.Client) {
	t.Helper()
	if !redisReachable() {
		if requireServices() {
			t.Fatal("Redis is required (TOKENGATE_REQUIRE_SERVICES=1) and not reachable at 127.0.0.1:6379")
		}
		t.Skip("Redis not reachable at 127.0.0.1:6379: start it to run this test")
	}
	prefix := fmt.Sprintf("%s-%d:", t.Name(), time.Now().UnixNano())
	dir := t.TempDir()
	g := startGatewayWith(t, &gateway{t: t, dir: dir, vault: "vault bolt " + filepath.Join(dir, "v.db") +
		"\n\t\tcvv_store redis {\n\t\t\tprefix " + prefix + "\n\t\t}"})
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() })
	return g, prefix, rdb
}

// TestRedisThroughCaddy: with the Redis CVV store, a CVV waits under
// prefix:cvv:tenant:<hash> (no NUL, no token), go-redis's own lines are
// JSON lines of Caddy's log under tokengate.redis, and cvvs_held is not a
// series (it would read 0 whatever Redis holds).
func TestRedisThroughCaddy(t *testing.T) {
	g, prefix, rdb := redisGateway(t)
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333"))
	if in.status != http.StatusOK {
		t.Fatalf("tokenize: %d %s", in.status, in.body)
	}
	token := str(decode(t, in.body), "card.number")
	names, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil || len(names) != 1 {
		t.Fatalf("keys under %s: %q, %v", prefix, names, err)
	}
	if !regexp.MustCompile(`^`+regexp.QuoteMeta(prefix)+`cvv:tenant_a:[0-9a-f]{32}$`).MatchString(names[0]) || strings.Contains(names[0], token) {
		t.Fatalf("the CVV's key %q: want %scvv:tenant_a:<32 hex>, without the token", names[0], prefix)
	}

	// go-redis logs a TTL it must round up; any line of its will do.
	rdb.Set(context.Background(), prefix+"probe", "x", 500*time.Microsecond)
	logged := waitForText(t, g.logFile, `"logger":"tokengate.redis"`)
	var line string
	for l := range strings.Lines(string(logged)) {
		if strings.Contains(l, `"logger":"tokengate.redis"`) {
			line = l
		}
	}
	if m := decode(t, line); !strings.Contains(str(m, "msg"), "truncating to 1ms") || str(m, "level") != "warn" {
		t.Fatalf("go-redis's line in Caddy's log: %s", line)
	}

	if metrics := g.scrape(); strings.Contains(metrics, "\ntokengate_cvvs_held ") {
		t.Fatalf("cvvs_held is a series with the Redis store: %s", grepLines(metrics, "tokengate_cvvs_held"))
	}
}
