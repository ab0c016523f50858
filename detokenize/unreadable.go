package detokenize

import (
	"fmt"

	"github.com/tokengate/tokengate/errdefs"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
)

// UnreadableError is Apply's error for a token whose record, found under
// the caller's tenant, does not open with the gateway's keys. It is an
// errdefs.ErrUnreadable, never an ErrUnavailable: retrying cannot help, and
// the answer must not say the vault is down. It names the field and the key
// id the record's bytes carry (a Tink key id, not secret), never the token
// or anything of the card.
type UnreadableError struct {
	// Field is the token field's path.
	Field string
	// KeyID is the id of the key that sealed the record, when its bytes
	// carry one (HasKeyID).
	KeyID    uint32
	HasKeyID bool
	// KeyHeld says the keyset holds that key: the record was then altered
	// or moved (another row's sealed data), not sealed with another keyset.
	KeyHeld bool
}

func (e *UnreadableError) Error() string {
	switch {
	case !e.HasKeyID:
		return "detokenize: the card's record carries no key id and does not open"
	case e.KeyHeld:
		return fmt.Sprintf("detokenize: the card's record does not open for it with key %d, which the keyset holds: the record was altered or moved", e.KeyID)
	}
	return fmt.Sprintf("detokenize: the card's record was sealed with key %d, which this gateway's keyset does not hold", e.KeyID)
}

// Unwrap makes it an errdefs.ErrUnreadable.
func (e *UnreadableError) Unwrap() error { return errdefs.ErrUnreadable }

// Reason is a metric label for it: other_keyset, altered_or_moved, or
// no_key_id.
func (e *UnreadableError) Reason() string {
	switch {
	case !e.HasKeyID:
		return "no_key_id"
	case e.KeyHeld:
		return "altered_or_moved"
	}
	return "other_keyset"
}

func unreadable(ks *keys.Keys, field string, sealed []byte) *UnreadableError {
	id, ok := vault.SealingKeyID(sealed)
	return &UnreadableError{Field: field, KeyID: id, HasKeyID: ok, KeyHeld: ok && ks.HasKeyID(id)}
}
