package vault_test

import (
	"bytes"
	"context"
	"strings"
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

// BenchmarkCacheHit is one cached read by token and one by fingerprint of
// a record shaped as tokenization stores it: hex fingerprint, sealed card
// data, a network token and the last-used day.
func BenchmarkCacheHit(b *testing.B) {
	ctx := context.Background()
	c := vault.NewCache(vaulttest.OpenBolt(b), time.Minute, 1000)
	rec := vaulttest.Sample("acme", "tok_0123456789abcdefghij", strings.Repeat("0f", 32))
	rec.Sealed = bytes.Repeat([]byte{0xa5}, 120)
	rec.Metadata = map[string]string{vault.LastUsedKey: "20260615"}
	if _, _, err := c.Put(ctx, rec); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetByFingerprint(ctx, rec.Tenant, rec.Fingerprint); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Get(ctx, rec.Tenant, rec.Token); err != nil {
			b.Fatal(err)
		}
	}
}
