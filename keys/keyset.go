package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/secretdata"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// keysetFile is the on-disk (or environment) form of tokengate's keys: two
// Tink JSON keysets, each either cleartext or encrypted with the KEK.
type keysetFile struct {
	AEAD        json.RawMessage `json:"aead"`
	Fingerprint json.RawMessage `json:"fingerprint"`
}

// Associated data binding each encrypted keyset to its role, so the two
// encrypted keysets in a file cannot be swapped for one another.
var (
	adAEADKeyset        = []byte("tokengate keyset aead")
	adFingerprintKeyset = []byte("tokengate keyset fingerprint")
)

// NewKEK builds the key-encrypting key AEAD from 32 raw bytes. It uses
// Tink's own AES-GCM key type (aesgcm.NewKey + aesgcm.NewAEAD, 12-byte IV,
// 16-byte tag, no output prefix) rather than a keyset: the KEK is a single
// externally managed key, not something Tink should rotate, and this keeps
// all cryptography inside Tink instead of wrapping crypto/cipher by hand.
func NewKEK(raw []byte) (tink.AEAD, error) {
	kek, err := newKEK(raw)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encrypting key: %w", err)
	}
	return kek, nil
}

func newKEK(raw []byte) (tink.AEAD, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("must be 32 bytes, got %d", len(raw))
	}
	params, err := aesgcm.NewParameters(aesgcm.ParametersOpts{
		KeySizeInBytes: 32,
		IVSizeInBytes:  12,
		TagSizeInBytes: 16,
		Variant:        aesgcm.VariantNoPrefix,
	})
	if err != nil {
		return nil, err
	}
	key, err := aesgcm.NewKey(secretdata.NewBytesFromData(raw, insecuresecretdataaccess.Token{}), 0, params)
	if err != nil {
		return nil, err
	}
	return aesgcm.NewAEAD(key)
}

// KEKFromBase64 decodes a base64 (standard alphabet, padded or not)
// 32-byte key-encrypting key, as held in the KEK environment variable, and
// builds its AEAD with NewKEK. The error never repeats the input.
func KEKFromBase64(s string) (tink.AEAD, error) {
	kek, err := kekFromBase64(s)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encrypting key: %w", err)
	}
	return kek, nil
}

func kekFromBase64(s string) (tink.AEAD, error) {
	s = strings.TrimSpace(s)
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("not valid base64") // never echo the input
	}
	return newKEK(raw)
}

// GenerateKeyset creates a new keyset file: an AES256-GCM AEAD keyset for
// sealing card data and an HMAC-SHA256 PRF keyset for fingerprints. With a
// kek both keysets are encrypted; with nil they are written in cleartext,
// which is only fit for development.
func GenerateKeyset(kek tink.AEAD) ([]byte, error) {
	ah, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("keys: generate aead keyset: %w", err)
	}
	ph, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("keys: generate fingerprint keyset: %w", err)
	}
	return encodeKeysetFile(ah, ph, kek)
}

// RotateKeyset adds a new AES256-GCM key to the AEAD keyset and makes it
// primary: new seals use it, while records sealed earlier still open because
// Tink ciphertexts carry the id of the key that made them. The fingerprint
// keyset is copied unchanged on purpose: fingerprints are how the same card
// gets the same token, and a new fingerprint key would make every stored
// card look new (duplicate tokens for one PAN). The PRF key is only ever used
// for hashing and never encrypts data, so keeping it does not weaken sealing.
func RotateKeyset(data []byte, kek tink.AEAD) ([]byte, error) {
	ah, ph, err := decodeKeysetFile(data, kek)
	if err != nil {
		return nil, fmt.Errorf("keys: rotate: %w", err)
	}
	m := keyset.NewManagerFromHandle(ah)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("keys: rotate: add key: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return nil, fmt.Errorf("keys: rotate: set primary: %w", err)
	}
	if ah, err = m.Handle(); err != nil {
		return nil, fmt.Errorf("keys: rotate: %w", err)
	}
	return encodeKeysetFile(ah, ph, kek)
}

// RewrapKeyset re-encrypts a keyset file with newKEK: from cleartext (oldKEK
// nil) to wrapped, or from one key-encrypting key to another. The keys
// themselves do not change, so every sealed card keeps opening.
func RewrapKeyset(data []byte, oldKEK, newKEK tink.AEAD) ([]byte, error) {
	if newKEK == nil {
		return nil, errors.New("keys: rewrap: a new key-encrypting key is required")
	}
	ah, ph, err := decodeKeysetFile(data, oldKEK)
	if err != nil {
		return nil, fmt.Errorf("keys: rewrap: %w", err)
	}
	return encodeKeysetFile(ah, ph, newKEK)
}

// IsCleartextKeyset reports whether a keyset file holds its keys
// unencrypted.
func IsCleartextKeyset(data []byte) bool {
	var f keysetFile
	if json.Unmarshal(data, &f) != nil {
		return false
	}
	var probe struct {
		Encrypted *string `json:"encryptedKeyset"`
	}
	return json.Unmarshal(f.AEAD, &probe) == nil && probe.Encrypted == nil
}

func encodeKeysetFile(ah, ph *keyset.Handle, kek tink.AEAD) ([]byte, error) {
	a, err := writeHandle(ah, kek, adAEADKeyset)
	if err != nil {
		return nil, fmt.Errorf("keys: write aead keyset: %w", err)
	}
	p, err := writeHandle(ph, kek, adFingerprintKeyset)
	if err != nil {
		return nil, fmt.Errorf("keys: write fingerprint keyset: %w", err)
	}
	return json.MarshalIndent(keysetFile{AEAD: a, Fingerprint: p}, "", "  ")
}

func writeHandle(h *keyset.Handle, kek tink.AEAD, ad []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := keyset.NewJSONWriter(&buf)
	var err error
	if kek != nil {
		err = h.WriteWithAssociatedData(w, kek, ad)
		if f := kekFailure(kek); err != nil && f != nil {
			err = f
		}
	} else {
		// Cleartext is the development path only (no KEK configured).
		err = insecurecleartextkeyset.Write(h, w)
	}
	return buf.Bytes(), err
}

// decodeKeysetFile reads both keysets of a keyset file. Its errors carry
// no "keys:" prefix; callers add where the data came from.
func decodeKeysetFile(data []byte, kek tink.AEAD) (ah, ph *keyset.Handle, err error) {
	var f keysetFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, nil, fmt.Errorf("not a JSON keyset file: %w", err)
	}
	if len(f.AEAD) == 0 || len(f.Fingerprint) == 0 {
		return nil, nil, errors.New(`a keyset file needs both "aead" and "fingerprint" keysets`)
	}
	if ah, err = readHandle(f.AEAD, kek, adAEADKeyset); err != nil {
		return nil, nil, fmt.Errorf("aead keyset: %w", err)
	}
	if ph, err = readHandle(f.Fingerprint, kek, adFingerprintKeyset); err != nil {
		return nil, nil, fmt.Errorf("fingerprint keyset: %w", err)
	}
	return ah, ph, nil
}

// readHandle reads one keyset. Encrypted keysets need the KEK, and with a
// KEK configured a cleartext keyset is refused: configuring a KEK says keys
// must be wrapped, so silently accepting unwrapped ones would hide a mistake.
func readHandle(raw json.RawMessage, kek tink.AEAD, ad []byte) (*keyset.Handle, error) {
	var probe struct {
		Encrypted *string `json:"encryptedKeyset"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("not a JSON keyset: %w", err)
	}
	r := keyset.NewJSONReader(bytes.NewReader(raw))
	switch {
	case probe.Encrypted != nil && kek == nil:
		return nil, errors.New("keyset is encrypted but no key-encrypting key is configured")
	case probe.Encrypted != nil:
		h, err := keyset.ReadWithAssociatedData(r, kek, ad)
		if f := kekFailure(kek); err != nil && f != nil {
			return nil, fmt.Errorf("cannot decrypt with the configured key-encrypting key: %w", f)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot decrypt with the configured key-encrypting key: %w", err)
		}
		return h, nil
	case kek != nil:
		return nil, errors.New("keyset is cleartext but a key-encrypting key is configured; encrypt it")
	default:
		return insecurecleartextkeyset.Read(r)
	}
}
