package network

import (
	"context"
	"errors"
	"hash/fnv"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/tokengate/tokengate/vault"
)

// CodeIdempotencyConflict is the refusal of an idempotency key reused for
// another card.
const CodeIdempotencyConflict = "idempotency_conflict"

const (
	labelIdempotency    = "idempotency|"
	labelIdempotencyPAN = "idempotency-pan|"
)

// Idempotency keys are remembered in memory, the last 100,000 for a day, as
// token service providers keep them: long enough for any retry of a
// timed-out or failed call. They are not written to the state store. A
// durable entry under a keyed hash lands on a random page of the store,
// which made every new card's commit write one more page (16% fewer new
// cards per second under load); what it would add, a retry that survives a
// restart of the gateway, only spares an unused token in the emulator,
// which tokengate also gives back when two racing requests end up with
// different tokens.
const (
	idempotencyTTL     = 24 * time.Hour
	idempotencyEntries = 100_000 // about 25 MB at most
)

// idempotencyEntry is what a key created: the token, and a keyed hash of the
// card number, so a key reused for another card is refused instead of
// handing out that card's token.
type idempotencyEntry struct {
	id      string
	panHash string
}

func newIdempotencyCache() *expirable.LRU[string, idempotencyEntry] {
	return expirable.NewLRU[string, idempotencyEntry](idempotencyEntries, nil, idempotencyTTL)
}

// idempotencyStripes serializes provisions that share a key (a client's
// retry racing its first attempt) without one lock for every provision.
const idempotencyStripes = 64

// idempotencyKey is the cache key for a request's idempotency key, scoped by
// tenant; "" when the request has none.
func (b *Builtin) idempotencyKey(req ProvisionRequest) string {
	if req.IdempotencyKey == "" {
		return ""
	}
	sum := mac(b.macs, labelIdempotency, req.Tenant, "|", req.IdempotencyKey)
	return string(sum[:])
}

func (b *Builtin) lockIdempotency(key string) func() {
	h := fnv.New32a()
	h.Write([]byte(key))
	mu := &b.idempotency[h.Sum32()%idempotencyStripes]
	mu.Lock()
	return mu.Unlock
}

// replay returns the token an earlier request with the same idempotency key
// created, if it is still usable; one whose unit of work has not ended is
// shared through unit (join). ok is false when there was none, or it
// was deleted since (a deleted token is never handed out again: a new one is
// issued and the key points to it).
func (b *Builtin) replay(ctx context.Context, key, pan string, unit *vault.Unit) (tok Token, ok bool, err error) {
	entry, found := b.idempotent.Get(key)
	if !found {
		return Token{}, false, nil
	}
	if entry.panHash != b.panHash(pan) {
		return Token{}, false, &Error{Code: CodeIdempotencyConflict, Message: "Idempotency Key Already Used For Another Card"}
	}
	if tok, ok, refuse := b.join(entry.id, unit); ok || refuse {
		return tok, ok, nil
	}
	e, err := b.lookup(ctx, entry.id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Token{}, false, nil
	case err != nil:
		return Token{}, false, err
	case e.st.Status == StatusDeleted:
		return Token{}, false, nil
	}
	return e.token(), true, nil
}

// remember records what key created, once its token is saved.
func (b *Builtin) remember(key, id, pan string) {
	b.idempotent.Add(key, idempotencyEntry{id: id, panHash: b.panHash(pan)})
}

func (b *Builtin) panHash(pan string) string {
	sum := mac(b.macs, labelIdempotencyPAN, pan)
	return string(sum[:])
}
