package pgvault_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// fakeCache records what a Fanout asks of the record cache.
type fakeCache struct {
	mu     sync.Mutex
	paused bool
	gone   []string // tenant/token invalidated
}

func (c *fakeCache) Invalidate(tenant, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gone = append(c.gone, tenant+"/"+token)
}
func (c *fakeCache) InvalidateAll() {}
func (c *fakeCache) Pause()         { c.mu.Lock(); c.paused = true; c.mu.Unlock() }
func (c *fakeCache) Resume()        { c.mu.Lock(); c.paused = false; c.mu.Unlock() }

// A Fanout pauses the cache until it listens, then sends a record's change
// to the cache and a state entry's to the forget functions of its space
// only; every space forgets everything when the feed comes up.
func TestFanout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, watching, writer := twoGateways(ctx, t)
	feed := watching.NewFanout()
	forgot := make(chan string, 16)
	feed.KV("network_tokens").OnChange(func(id string) { forgot <- "network_tokens:" + id })
	feed.KV("other").OnChange(func(id string) { forgot <- "other:" + id })
	cache := &fakeCache{}
	up := make(chan bool, 4)
	feed.Watch(ctx, cache, pgvault.Watcher{Listening: func(b bool) { up <- b }})
	select {
	case b := <-up:
		if !b {
			t.Fatal("the feed reported a lost connection first")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the feed never listened")
	}
	cache.mu.Lock()
	paused := cache.paused
	cache.mu.Unlock()
	if paused {
		t.Fatal("the cache is still paused once the feed listens")
	}
	heard := map[string]bool{}
	for len(heard) < 2 {
		select {
		case got := <-forgot:
			heard[got] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("on coming up, only %v forgot", heard)
		}
	}
	if !heard["network_tokens:"] || !heard["other:"] {
		t.Fatalf("on coming up, forgot %v; want every space told to forget everything", heard)
	}

	kv := writer.KV("network_tokens")
	if err := kv.Save(ctx, "ntk_1", []byte(`{"status":"ACTIVE"}`)); err != nil {
		t.Fatal(err)
	}
	if err := kv.Save(ctx, "ntk_1", []byte(`{"status":"SUSPENDED"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-forgot:
		if got != "network_tokens:ntk_1" {
			t.Fatalf("a state change reached %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a state change reached no forget function")
	}

	rec, _, err := writer.Put(ctx, vaulttest.Sample("acme", "tok_1", "fp1"))
	if err != nil {
		t.Fatal(err)
	}
	rec.Network.Status = "SUSPENDED"
	if _, err := writer.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		cache.mu.Lock()
		gone := append([]string(nil), cache.gone...)
		cache.mu.Unlock()
		if len(gone) > 0 {
			if gone[0] != "acme/tok_1" {
				t.Fatalf("invalidated %v", gone)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a record's change never reached the cache")
		}
	}
	select {
	case got := <-forgot:
		t.Fatalf("a record's change reached the state stores too: %q", got)
	default:
	}
}
