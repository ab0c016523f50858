package network

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
)

// CodeIdempotencyConflict is the refusal of an idempotency key reused for
// another card.
const CodeIdempotencyConflict = "idempotency_conflict"

const (
	labelIdempotency    = "idempotency|"
	labelIdempotencyPAN = "idempotency-pan|"
)

// idempotencyRecord is what the store holds under an idempotency key: the
// token it created and a keyed hash of the card's number, so a key reused
// for another card is refused instead of handing out that card's token.
type idempotencyRecord struct {
	ID  string `json:"id"`
	PAN string `json:"pan"`
}

// idempotencyStripes serializes provisions that share a key (a client's
// retry racing its first attempt) without one lock for every provision.
const idempotencyStripes = 64

// idempotencyKey is the store key for a request's idempotency key, scoped
// by tenant; "" when the request has none.
func (b *Builtin) idempotencyKey(req ProvisionRequest) string {
	if req.IdempotencyKey == "" {
		return ""
	}
	return "idem:" + hex.EncodeToString(mac(b.key, labelIdempotency, req.Tenant, "|", req.IdempotencyKey))
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
	var rec idempotencyRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return Token{}, false, wrap(fmt.Errorf("decoding idempotency key: %w", err))
	}
	if rec.PAN != b.panHash(pan) {
		return Token{}, false, &Error{Code: CodeIdempotencyConflict, Message: "Idempotency Key Already Used For Another Card"}
	}
	e, err := b.lookup(ctx, rec.ID)
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
	return hex.EncodeToString(mac(b.key, labelIdempotencyPAN, pan))
}

func (b *Builtin) idempotencyEntry(id, pan string) []byte {
	data, _ := json.Marshal(idempotencyRecord{ID: id, PAN: b.panHash(pan)})
	return data
}
