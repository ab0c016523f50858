package cvvredis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/cvv/cvvredis"
	"github.com/tokengate/tokengate/cvv/cvvtest"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// client connects to the local Redis (or TOKENGATE_REDIS_ADDR); without one
// the test skips, unless TOKENGATE_REQUIRE_SERVICES=1.
func client(t *testing.T) *redis.Client {
	t.Helper()
	addr := os.Getenv("TOKENGATE_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	if err := c.Ping(context.Background()).Err(); err != nil {
		c.Close()
		if os.Getenv("TOKENGATE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("Redis is required (TOKENGATE_REQUIRE_SERVICES=1) and not reachable: %v", err)
		}
		t.Skipf("Redis not reachable at %s (%v): start it, or set TOKENGATE_REDIS_ADDR, to run this test", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "tokengate-test-" + hex.EncodeToString(b[:]) + ":"
}

// The Redis store keeps every promise of the CVV store contract.
func TestConformance(t *testing.T) {
	cvvtest.Run(t, func(t *testing.T) cvv.Store {
		return cvvredis.New(client(t), vaulttest.Keys(t), prefix())
	})
}

// What Redis holds is sealed: neither the CVV nor anything it can be read
// from.
func TestSealedInRedis(t *testing.T) {
	c := client(t)
	p := prefix()
	s := cvvredis.New(c, vaulttest.Keys(t), p)
	if err := s.PutCVV(context.Background(), "acme", "tok_1", "7391", 60e9); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(context.Background(), p+"*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	raw, _ := c.Get(context.Background(), keys[0]).Bytes()
	if strings.Contains(string(raw), "7391") || len(raw) < 20 {
		t.Fatal("the CVV is readable in Redis")
	}
	// Moved to another token, it does not open.
	c.Set(context.Background(), strings.Replace(keys[0], "tok_1", "tok_2", 1), raw, 0)
	if _, ok, err := s.TakeCVV(context.Background(), "acme", "tok_2"); ok || err == nil {
		t.Fatal("a CVV moved to another token opened")
	}
}
