package network

import (
	"github.com/tokengate/tokengate/vault"
)

// pendingToken is a token provisioned in a unit of work that has not ended:
// its state is held in the unit (or, in a shared store, already created),
// and its id and DPAN stay claimed until every unit that holds it has ended.
// Only then does a durable write make the DPAN visible to allocate's store
// check; releasing the claim earlier would let another card draw the same
// DPAN (see vault.Unit).
type pendingToken struct {
	idx     string            // the DPAN's index key, claimed with the id
	entries map[string][]byte // the held writes; nil when already durable (a Creator, not a HeldCreator)
	create  bool              // the entries are not written yet: held to be created (RecordCreator)
	tok     Token
	units   int  // units holding it
	saved   bool // one of them committed: the token is durable
}

// holdUntilEnd keeps p's claims until unit ends (with any other unit that
// joins it, see join).
func (b *Builtin) holdUntilEnd(unit *vault.Unit, p pendingToken) error {
	p.units = 1
	b.provision.Lock()
	b.pending[p.tok.ID] = &p
	b.provision.Unlock()
	if err := unit.OnEnd(b.endUnit(p.tok.ID)); err != nil {
		b.provision.Lock()
		delete(b.pending, p.tok.ID) // the caller releases the claims
		b.provision.Unlock()
		return wrap(err)
	}
	return nil
}

// join lets a request replaying an idempotency key whose token is still
// pending share that token: its unit holds the same writes, so whichever
// of the two stores its card commits them, and the claims last until both
// have ended. The same card in the same tenant is stored by one request
// only, so at most one of them commits. ok is false when the token is not
// pending (durable, or unknown: the caller looks it up); refuse when it is
// pending but cannot be shared (no unit, or it is being dropped), and the
// caller must provision anew.
func (b *Builtin) join(id string, unit *vault.Unit) (tok Token, ok, refuse bool) {
	b.provision.Lock()
	p := b.pending[id]
	_, claimed := b.reserved[id]
	switch {
	case p == nil && claimed: // being dropped
		b.provision.Unlock()
		return Token{}, false, true
	case p == nil || p.saved:
		b.provision.Unlock()
		return Token{}, false, false
	case unit == nil:
		b.provision.Unlock()
		return Token{}, false, true
	}
	p.units++
	entries, create := p.entries, p.create
	b.provision.Unlock()
	end := b.endUnit(id)
	if entries != nil {
		var err error
		if create {
			err = unit.HoldNew(b.store.(RecordCreator), entries) // create is set only then
		} else {
			err = unit.Hold(b.store, entries)
		}
		if err != nil {
			end(false)
			return Token{}, false, true
		}
	}
	if err := unit.OnEnd(end); err != nil {
		end(false)
		return Token{}, false, true
	}
	return p.tok, true, false
}

// endUnit returns what a unit holding the token runs when it ends. When the
// last one ends without any having committed, the token never reached the
// store: this process forgets it before releasing its id and DPAN, so it is
// never handed out again (a retry with its idempotency key then finds it in
// neither the cache nor the store, and provisions anew).
func (b *Builtin) endUnit(id string) func(committed bool) {
	return func(committed bool) {
		b.provision.Lock()
		p := b.pending[id]
		p.units--
		p.saved = p.saved || committed
		last := p.units == 0
		if last {
			delete(b.pending, id) // id stays reserved until released below
		}
		b.provision.Unlock()
		if !last {
			return
		}
		if !p.saved {
			b.cache.forget(id)
		}
		b.release(id, p.idx)
	}
}
