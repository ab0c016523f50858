package cvvredis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/cvv/cvvredis"
	"github.com/tokengate/tokengate/cvv/cvvtest"
	tgkeys "github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// client connects to the local Redis (or TOKENGATE_REDIS_ADDR); without one
// the test skips, unless TOKENGATE_REQUIRE_SERVICES=1.
func client(t testing.TB) *redis.Client {
	t.Helper()
	addr := os.Getenv("TOKENGATE_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(cvvredis.Options(addr, "", 0))
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
	c.Set(context.Background(), s.KeyFor("acme", "tok_2"), raw, 0)
	if _, ok, err := s.TakeCVV(context.Background(), "acme", "tok_2"); ok || err == nil {
		t.Fatal("a CVV moved to another token opened")
	}
}

// Key names read as prefix:kind:tenant:hash, with no NUL and no token in
// them; the same token names the same key in every gateway of a keyset, not
// in another keyset's; tenants cannot collide through a colon.
func TestKeyNames(t *testing.T) {
	c := client(t)
	p := prefix()
	ks := vaulttest.Keys(t)
	s := cvvredis.New(c, ks, p)
	if err := s.PutCVV(context.Background(), "acme", "tok_4111secret", "7391", 60e9); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(context.Background(), p+"cvv:acme:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys under %scvv:acme: %v %v", p, keys, err)
	}
	name := keys[0]
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(p) + `cvv:acme:[0-9a-f]{32}$`).MatchString(name) {
		t.Fatalf("key name %q: want %scvv:acme:<32 hex>", name, p)
	}
	if strings.Contains(name, "tok_") || strings.Contains(name, "4111") {
		t.Fatalf("key name %q holds the token", name)
	}
	if other := cvvredis.New(c, ks, p).KeyFor("acme", "tok_4111secret"); other != name {
		t.Fatalf("another gateway with the keyset names it %q, not %q", other, name)
	}
	data, err := tgkeys.GenerateKeyset(nil)
	if err != nil {
		t.Fatal(err)
	}
	ks2, err := tgkeys.Parse(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if other := cvvredis.New(c, ks2, p).KeyFor("acme", "tok_4111secret"); other == name {
		t.Fatal("another keyset names the token's key alike: the hash is not keyed")
	}
	a, b := s.KeyFor("a:b", "c"), s.KeyFor("a", "b:c")
	if a == b || strings.Count(strings.TrimPrefix(a, p), ":") != 2 {
		t.Fatalf("tenants with colons: %q and %q", a, b)
	}
}
