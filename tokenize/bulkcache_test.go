package tokenize_test

import (
	"context"
	"testing"

	"github.com/tokengate/tokengate/body"
)

// A bulk body's cards are stored, and tokenized, but not cached: a
// 1,000-card import would otherwise keep 1,000 records alive for the
// cache's TTL. A body of a few cards is cached as before.
func TestBulkBodyNotCached(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	set := arraySet(t, tenantA, false)
	set.MaxCards = 100

	doc, _ := body.Parse(body.JSON, "application/json", manyCards(100, 1))
	res, err := e.tk.Apply(ctx, set, body.JSON, doc)
	if err != nil || res.Created != 100 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := e.cache.Len(); n != 0 {
		t.Fatalf("a 100-card body left %d records in the cache", n)
	}
	// Stored all the same: the same body again finds every card.
	doc, _ = body.Parse(body.JSON, "application/json", manyCards(100, 1))
	if res, err := e.tk.Apply(ctx, set, body.JSON, doc); err != nil || res.Created != 0 || res.Cards != 100 {
		t.Fatalf("again: %+v %v", res, err)
	}

	doc, _ = body.Parse(body.JSON, "application/json", manyCards(3, 2))
	if res, err := e.tk.Apply(ctx, set, body.JSON, doc); err != nil || res.Created != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := e.cache.Len(); n != 3 {
		t.Fatalf("a 3-card body left %d records in the cache, want 3", n)
	}
}
