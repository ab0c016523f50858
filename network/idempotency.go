package network

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
)

// CodeIdempotencyConflict is the refusal of an idempotency key reused for
// another card.
const CodeIdempotencyConflict = "idempotency_conflict"

const (
	labelIdempotency    = "idempotency|"
	labelIdempotencyPAN = "idempotency-pan|"
)

// What the store holds under an idempotency key is "<token id> <keyed hash
// of the card number>": the token the key created, and the card it was for,
// so a key reused for another card is refused instead of handing out that
// card's token.

// idempotencyStripes serializes provisions that share a key (a client's
// retry racing its first attempt) without one lock for every provision.
const idempotencyStripes = 64

// idempotencyKey is the store key for a request's idempotency key, scoped
// by tenant; "" when the request has none.
func (b *Builtin) idempotencyKey(req ProvisionRequest) string {
	if req.IdempotencyKey == "" {
		return ""
	}
	return "idem:" + b.pooledMAC(labelIdempotency, req.Tenant, "|", req.IdempotencyKey)
}

// pooledMAC is mac under the service's key, hex-encoded, with a pooled HMAC:
// provisioning is on the new-card path.
func (b *Builtin) pooledMAC(parts ...string) string {
	m := b.macs.Get().(*cryptogramMAC)
	defer b.macs.Put(m)
	m.h.Reset()
	for _, p := range parts {
		m.h.Write([]byte(p))
	}
	m.buf = m.h.Sum(m.buf[:0])
	return hex.EncodeToString(m.buf)
}

func (b *Builtin) lockIdempotency(key string) func() {
	h := fnv.New32a()
	h.Write([]byte(key))
	mu := &b.idempotency[h.Sum32()%idempotencyStripes]
	mu.Lock()
	return mu.Unlock
}

// replay returns the token an earlier request with the same idempotency key
// created, if it is still usable. ok is false when there was none, or it
// was deleted since (a deleted token is never handed out again: a new one is
// issued and the key points to it).
func (b *Builtin) replay(ctx context.Context, key, pan string) (tok Token, ok bool, err error) {
	data, err := b.store.Load(ctx, key)
	if err != nil {
		return Token{}, false, wrap(fmt.Errorf("loading idempotency key: %w", err))
	}
	if data == nil {
		return Token{}, false, nil
	}
	id, panHash, ok := strings.Cut(string(data), " ")
	if !ok {
		return Token{}, false, wrap(errors.New("decoding idempotency key: malformed entry"))
	}
	if panHash != b.panHash(pan) {
		return Token{}, false, &Error{Code: CodeIdempotencyConflict, Message: "Idempotency Key Already Used For Another Card"}
	}
	e, err := b.lookup(ctx, id)
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

func (b *Builtin) panHash(pan string) string {
	return b.pooledMAC(labelIdempotencyPAN, pan)
}

func (b *Builtin) idempotencyEntry(id, pan string) []byte {
	return []byte(id + " " + b.panHash(pan))
}
