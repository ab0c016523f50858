package cvvredis

import (
	"testing"

	"github.com/tokengate/tokengate/vault/vaulttest"
)

// BenchmarkKeyName is a CVV's Redis key name: a pooled keyed HMAC of the
// token, per PutCVV and TakeCVV.
func BenchmarkKeyName(b *testing.B) {
	k := newKeyNames(vaulttest.Keys(b), "tokengate:")
	b.ReportAllocs()
	for b.Loop() {
		_ = k.name("cvv", "acme", "tok_4a7b1c9d2e3f4a5b6c7d8e9f")
	}
}
