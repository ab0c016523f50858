package keys

import (
	"context"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// KeyChange is what ChangeKey does to a key of the sealing (AEAD) keyset.
type KeyChange string

// Key changes.
const (
	// DisableKey marks the key DISABLED: Tink's primitive set leaves it
	// out, so it seals and opens nothing and the gateway counts it as
	// absent (a vault that still holds records it sealed is refused at
	// start), but it stays in the file, wrapped by the KEK, so EnableKey
	// can bring it back (a vault backup from before the re-seal restored).
	DisableKey KeyChange = "disable"
	// EnableKey marks a disabled key ENABLED again.
	EnableKey KeyChange = "enable"
	// DestroyKey deletes the key from the keyset: nothing sealed with it
	// can ever be opened again, backups included.
	DestroyKey KeyChange = "destroy"
)

// ChangeKey returns the keyset file data with change applied to the AEAD
// key id. The primary key is refused (rotate first), as is an id the
// keyset does not hold. The fingerprint (PRF) keyset is copied unchanged:
// see RotateKeyset.
func ChangeKey(data []byte, kek tink.AEAD, id uint32, change KeyChange) ([]byte, error) {
	ah, ph, err := decodeKeysetFile(data, kek)
	if err != nil {
		return nil, fmt.Errorf("keys: %s: %w", change, err)
	}
	info := ah.KeysetInfo()
	found := false
	for _, ki := range info.GetKeyInfo() {
		found = found || ki.GetKeyId() == id
	}
	switch {
	case !found:
		return nil, fmt.Errorf("keys: %s: the keyset holds no sealing key %d (it holds %s)", change, id, keyInfoList(ah))
	case id == info.GetPrimaryKeyId():
		return nil, fmt.Errorf("keys: %s: key %d is the primary key, which seals new cards: rotate first (caddy tokengate rotate), let the re-seal move the records, then %s it", change, id, change)
	}
	m := keyset.NewManagerFromHandle(ah)
	switch change {
	case DisableKey:
		err = m.Disable(id)
	case EnableKey:
		err = m.Enable(id)
	case DestroyKey:
		err = m.Delete(id)
	default:
		err = fmt.Errorf("unknown change %q", change)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %s key %d: %w", change, id, err)
	}
	if ah, err = m.Handle(); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", change, err)
	}
	return encodeKeysetFile(ah, ph, kek)
}

// keyInfoList lists a keyset's key ids and states, never key material:
// "1234 (enabled, primary), 5678 (disabled)".
func keyInfoList(h *keyset.Handle) string {
	info := h.KeysetInfo()
	s := ""
	for i, ki := range info.GetKeyInfo() {
		if i > 0 {
			s += ", "
		}
		state := "enabled"
		if ki.GetStatus().String() != "ENABLED" {
			state = "disabled"
		}
		if ki.GetKeyId() == info.GetPrimaryKeyId() {
			state += ", primary"
		}
		s += fmt.Sprintf("%d (%s)", ki.GetKeyId(), state)
	}
	return s
}

// LoadKEK builds the key-encrypting key o names (KEK, KEKEnv or KEKFile),
// or nil when it names none: for commands that rewrite a keyset file.
func LoadKEK(ctx context.Context, o Options) (tink.AEAD, error) { return loadKEK(ctx, o) }
