package keys

import (
	"slices"

	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// KeyIDs returns the ids of the sealing (AEAD) keyset's keys, ascending:
// Tink's KeysetInfo, which holds ids and states, never key material. A
// vault records the ids of the keys that sealed its records
// (vault.SealingKeyID reads one from a record's sealed bytes), and the
// gateway refuses to start with a keyset that lacks one of them.
func (k *Keys) KeyIDs() []uint32 { return slices.Clone(k.keyIDs) }

// HasKeyID reports whether the sealing keyset holds a key of that id, one
// that can open records (enabled).
func (k *Keys) HasKeyID(id uint32) bool {
	_, found := slices.BinarySearch(k.keyIDs, id)
	return found
}

// PrimaryKeyID is the id of the key new records are sealed with.
func (k *Keys) PrimaryKeyID() uint32 { return k.primaryID }

// HasRawKey reports whether the sealing keyset holds a key whose
// ciphertexts carry no key id (Tink's RAW output prefix). tokengate never
// makes one, but a keyset imported from elsewhere may hold one: its
// records' leading bytes are then random, and a key id read from them
// means nothing, so the key-id checks are skipped for such a keyset.
func (k *Keys) HasRawKey() bool { return k.rawKey }

// keyIDsOf lists the enabled keys of h, ascending: a disabled key opens
// nothing (Tink's primitive set leaves it out).
func keyIDsOf(h *keyset.Handle) (ids []uint32, primary uint32, raw bool) {
	info := h.KeysetInfo()
	for _, ki := range info.GetKeyInfo() {
		if ki.GetStatus() == tinkpb.KeyStatusType_ENABLED {
			ids = append(ids, ki.GetKeyId())
			raw = raw || ki.GetOutputPrefixType() == tinkpb.OutputPrefixType_RAW
		}
	}
	slices.Sort(ids)
	return ids, info.GetPrimaryKeyId(), raw
}
