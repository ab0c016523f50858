package network

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/card"
)

// The state cache sweeps its expired entries as it grows, so under a steady
// rate of new tokens it holds about a TTL's worth of them (at most twice
// that), not every token up to maxCacheEntries: expired entries are garbage
// the collector would mark at every cycle (issue 20). Entries still within
// their TTL are never swept.
func TestCacheHoldsAboutRateTimesTTL(t *testing.T) {
	clk := &clock{t: testNow}
	b := newTestBuiltin(t, NewMemoryStore(), func(c *BuiltinConfig) { c.Now = clk.Now })
	const perSecond, tokens = 1000, 20_000 // 20 s: four TTLs
	step := time.Second / perSecond
	bound := 2 * perSecond * int(cacheTTL/time.Second)
	var ids []string
	for i := range tokens {
		tok, err := b.Provision(ctx, provisionReq(makePAN(cardPrefixes[card.Visa], 16, i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tok.ID)
		if n := len(b.cache.m); n > bound {
			t.Fatalf("after %d tokens at %d/s the cache holds %d entries, want at most %d (2 x rate x TTL)", i+1, perSecond, n, bound)
		}
		clk.Advance(step)
	}
	// Every token of the last TTL is still served from memory.
	fresh := int(cacheTTL / step)
	for _, id := range ids[len(ids)-fresh+1:] {
		if b.cache.get(id, clk.Now()) == nil {
			t.Fatalf("token %s, provisioned within the TTL, was swept", id)
		}
	}
}
