package vault_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// BenchmarkCacheHitParallel is the repeat-card and detokenize paths' vault
// read: a cached record, from every core at once.
func BenchmarkCacheHitParallel(b *testing.B) {
	ctx := context.Background()
	bv := vaulttest.OpenBolt(b)
	c := vault.NewCache(bv, time.Minute, 1000)
	if _, _, err := c.Put(ctx, vaulttest.Sample("acme", "tok_1", "fp1")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetByFingerprint(ctx, "acme", "fp1"); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Get(ctx, "acme", "tok_1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
