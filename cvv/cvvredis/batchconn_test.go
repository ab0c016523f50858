package cvvredis_test

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/cvv/cvvredis"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestPutAfterConnectionKilled: the batcher keeps a connection of its own
// (no pool health check per batch); when Redis closes it (a restart, an
// idle connection cut, here CLIENT KILL) the next CVV is still held, on a
// new connection, as the pool's check and go-redis's retry made sure before.
// Only this test's own connections are killed: Redis is shared.
func TestPutAfterConnectionKilled(t *testing.T) {
	admin := client(t)
	addr := os.Getenv("TOKENGATE_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	opts := cvvredis.Options(addr, "", 0)
	opts.ClientName = strings.TrimSuffix(prefix(), ":")
	opts.MaxRetries = -1 // go-redis itself does not retry: only the batcher's own retry can save the put
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	s := cvvredis.New(c, vaulttest.Keys(t), prefix())
	ctx := context.Background()

	for round := range 3 {
		if err := s.PutCVV(ctx, "acme", "tok_1", "123", time.Minute); err != nil {
			t.Fatalf("round %d: put: %v", round, err)
		}
		if got, ok, err := s.TakeCVV(ctx, "acme", "tok_1"); err != nil || !ok || got != "123" {
			t.Fatalf("round %d: take: %q %v %v", round, got, ok, err)
		}
		if n := killClients(t, admin, opts.ClientName); n == 0 {
			t.Fatalf("round %d: no connection named %s to kill", round, opts.ClientName)
		}
	}
}

// killClients closes every connection Redis knows by name, and says how
// many.
func killClients(t *testing.T, admin *redis.Client, name string) int {
	t.Helper()
	ctx := context.Background()
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(list))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		var id string
		named := false
		for _, f := range fields {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && id != "" {
			if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	return n
}
