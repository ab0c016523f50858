package cvvredis_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/cvv/cvvredis"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestBatcherConnectionClosedWithClient: the put batcher's own connection
// is one of the client's, closed with it (a Caddy reload's Cleanup closes
// the old config's client): none is left open in Redis, and a put after
// the close fails rather than opening another.
func TestBatcherConnectionClosedWithClient(t *testing.T) {
	admin := client(t)
	addr := os.Getenv("TOKENGATE_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	opts := cvvredis.Options(addr, "", 0)
	opts.ClientName = strings.TrimSuffix(prefix(), ":")
	c := redis.NewClient(opts)
	s := cvvredis.New(c, vaulttest.Keys(t), prefix())
	ctx := context.Background()
	for range 3 {
		if err := s.PutCVV(ctx, "acme", "tok_1", "123", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if list, err := admin.ClientList(ctx).Result(); err != nil || !strings.Contains(list, "name="+opts.ClientName+" ") {
		t.Fatalf("the store's connection is not listed while open: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCVV(ctx, "acme", "tok_2", "123", time.Minute); err == nil {
		t.Fatal("a put after the client closed succeeded")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		list, err := admin.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(list, "name="+opts.ClientName+" ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a connection named %s is still open after the client closed", opts.ClientName)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
