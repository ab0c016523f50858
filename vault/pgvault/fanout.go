package pgvault

import (
	"context"
	"sync"
)

// Cache is what a Fanout needs of a record cache (vault.Cache does it).
type Cache interface {
	Invalidate(tenant, token string)
	InvalidateAll()
	Pause()
	Resume()
}

// Fanout hands what Watch hears to what a gateway keeps in memory of the
// database: its record cache, and the state stores it handed out (KV),
// whose users registered with OnChange. One per gateway config: the Vault
// and its pool may be shared with the config being replaced, but the
// forget functions are this config's.
type Fanout struct {
	v       *Vault
	mu      sync.Mutex
	forgets map[string][]func(id string) // by state space (KV name)
}

// NewFanout returns a fan-out of v's changes with no listener yet.
func (v *Vault) NewFanout() *Fanout {
	return &Fanout{v: v, forgets: map[string][]func(string){}}
}

// WatchedKV is a state store that hears of other gateways' changes.
type WatchedKV struct {
	*KV
	f    *Fanout
	name string
}

// KV is the state store named, as Vault.KV, whose users can ask to hear of
// other gateways' changes to it (OnChange).
func (f *Fanout) KV(name string) WatchedKV {
	return WatchedKV{KV: f.v.KV(name), f: f, name: name}
}

// OnChange registers forget: it is called with the id of each entry of
// this space another gateway changes or deletes, and with "" (forget
// everything) when the database could not say which, and whenever the feed
// is lost or comes back, since changes may have gone unheard.
func (w WatchedKV) OnChange(forget func(id string)) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	w.f.forgets[w.name] = append(w.f.forgets[w.name], forget)
}

// Watch listens for changes (Vault.Watch) until ctx ends, and fans them
// out. The cache is paused until the connection listens, and whenever it
// is lost, so a change no announcement reached is never served from
// memory; the state stores forget everything at each of those moments.
// w's functions, those set, hear the same afterwards (for logs and
// metrics). It returns at once.
func (f *Fanout) Watch(ctx context.Context, cache Cache, w Watcher) {
	cache.Pause()
	f.v.Watch(ctx, Watcher{
		Changed: func(c Change) {
			switch {
			case c.All:
				cache.InvalidateAll()
				f.forget("", "")
			case c.Token != "":
				cache.Invalidate(c.Tenant, c.Token)
			default:
				f.forget(c.Name, c.ID)
			}
			if w.Changed != nil {
				w.Changed(c)
			}
		},
		Listening: func(up bool) {
			if up {
				cache.Resume()
			} else {
				cache.Pause()
			}
			f.forget("", "")
			if w.Listening != nil {
				w.Listening(up)
			}
		},
		Error: w.Error,
	})
}

// forget calls the forget functions of the space named ("": every space)
// with id.
func (f *Fanout) forget(name, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, fns := range f.forgets {
		if name == "" || n == name {
			for _, forget := range fns {
				forget(id)
			}
		}
	}
}
