// Package keys holds the keys that protect card data: a Tink keyset (AEAD to
// seal a card's secrets, PRF for keyed fingerprints) that can rotate and be
// wrapped with a key-encrypting key, and the sealing of Secrets into the
// opaque bytes a vault stores. Nothing outside this package sees a key.
package keys

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// fingerprintSize is the PRF output length: 32 bytes, the full HMAC-SHA256
// output, so fingerprints of different PANs never collide in practice.
const fingerprintSize = 32

// Keys holds tokengate's data keys as ready-to-use Tink primitives: an AEAD
// that seals card secrets and a PRF that computes keyed fingerprints (PCI DSS
// 3.5.1.1 forbids plain hashes of PANs). The primitives are built once at
// load, because Fingerprint and Seal run on every request. Keys is safe for
// concurrent use.
type Keys struct {
	aead tink.AEAD
	prf  prf.PRF
	// hmac is prf's key pooled for Fingerprint, nil when prf's key is
	// not HMAC-SHA256 (fingerprint.go).
	hmac *hmacPRF

	// primaryPrefix starts the primary key's ciphertexts (see Current).
	primaryPrefix []byte
	// legacyOpens counts first-format records opened; refuseLegacy turns
	// their fallback off (see Open).
	legacyOpens  atomic.Int64
	refuseLegacy atomic.Bool

	// keyIDs are the AEAD keyset's enabled key ids, ascending; primaryID
	// the primary's; rawKey, whether one's ciphertexts carry no id
	// (keyids.go).
	keyIDs    []uint32
	primaryID uint32
	rawKey    bool
}

// Options says where the keyset comes from. Exactly one source is used, in
// this order: Env, File, DevFile.
type Options struct {
	// File is the path of the keyset file (see GenerateKeyset for its format).
	File string
	// Env names an environment variable holding the keyset JSON itself. It
	// takes precedence over File, for deployments that inject secrets as
	// environment variables rather than files.
	Env string
	// KEKEnv names an environment variable holding the base64 32-byte
	// key-encrypting key. When set, the keysets must be encrypted with it
	// (PCI DSS 3.6: data keys are stored wrapped by a key-encrypting key, kept
	// apart from them), and cleartext keysets are refused.
	KEKEnv string
	// KEKFile is the path of a file holding the base64 32-byte
	// key-encrypting key, instead of KEKEnv (one or the other): for a KEK
	// handed over as a file, such as a systemd credential
	// ($CREDENTIALS_DIRECTORY/<name>) or a container secret
	// (/run/secrets/<name>), which, unlike a variable, the process's
	// children and /proc/<pid>/environ do not see.
	KEKFile string
	// KEK is the key-encrypting key's source when it is neither KEKEnv nor
	// KEKFile (a KMS key: AWSKMS); one of the three at most.
	KEK KEKSource
	// DevFile is used only when neither File nor Env is set: the keyset is
	// loaded from it, or generated into it (0600) on first start, so a
	// development setup works with no key ceremony. Load then returns a
	// warning that the caller must log loudly.
	DevFile string
	// NoCreate loads DevFile only if it exists: a missing one gives
	// ErrNoDevKeyset instead of a new keyset, so that a check of the
	// configuration (`caddy validate`) writes nothing.
	NoCreate bool
}

// ErrNoDevKeyset is Load's error, with NoCreate, when the development
// keyset does not exist yet.
var ErrNoDevKeyset = errors.New("keys: the development keyset does not exist yet")

// Load loads the keyset chosen by o and builds its primitives. The
// warning is non-empty when a development keyset is in use; the caller logs
// it. Errors name the file or variable involved and never contain key
// material.
func Load(o Options) (k *Keys, warning string, err error) {
	return LoadContext(context.Background(), o)
}

// LoadContext is Load with a context that bounds the calls a remote
// key-encrypting key (a KMS) makes to unwrap the keyset. When the KMS could
// not be reached, or refused, the error is a *KEKError.
func LoadContext(ctx context.Context, o Options) (k *Keys, warning string, err error) {
	kek, err := loadKEK(ctx, o)
	if err != nil {
		return nil, "", err
	}
	switch {
	case o.Env != "":
		v, ok := os.LookupEnv(o.Env)
		if !ok || v == "" {
			return nil, "", fmt.Errorf("keys: keyset variable %s is not set", o.Env)
		}
		k, err = parseKeys([]byte(v), kek)
		if err != nil {
			return nil, "", fmt.Errorf("keys: keyset variable %s: %w", o.Env, err)
		}
		return k, "", nil
	case o.File != "":
		k, err = loadKeysFile(o.File, kek)
		if err == nil && kek == nil {
			return k, fmt.Sprintf("keyset file %s holds its keys in cleartext: wrap it with `caddy tokengate wrap --keyset %s --new-kek-env <VARIABLE>` and set kek_env", o.File, o.File), nil
		}
		return k, "", err
	case o.DevFile != "":
		return loadDevKeys(o.DevFile, kek, o.NoCreate)
	}
	return nil, "", errors.New("keys: no keyset configured (set a keyset file or environment variable)")
}

func loadKeysFile(path string, kek tink.AEAD) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: read keyset file: %w", err) // *PathError names the file
	}
	k, err := parseKeys(data, kek)
	if err != nil {
		return nil, fmt.Errorf("keys: keyset file %s: %w", path, err)
	}
	return k, nil
}

// loadDevKeys loads path, generating it first when it does not exist. The
// file is created with O_EXCL, so two instances starting at once cannot
// overwrite each other's keys: the loser reads the winner's file.
func loadDevKeys(path string, kek tink.AEAD, noCreate bool) (*Keys, string, error) {
	used := fmt.Sprintf("development keyset in use from %s; do not use in production", path)
	if _, err := os.Stat(path); err == nil {
		k, err := loadKeysFile(path, kek)
		return k, used, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("keys: development keyset: %w", err)
	} else if noCreate {
		return nil, "", ErrNoDevKeyset
	}
	data, err := GenerateKeyset(kek)
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", fmt.Errorf("keys: development keyset directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		k, err := loadKeysFile(path, kek)
		return k, used, err
	}
	if err != nil {
		return nil, "", fmt.Errorf("keys: create development keyset: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // a half-written keyset would fail every later start
		return nil, "", fmt.Errorf("keys: write development keyset %s: %w", path, err)
	}
	k, err := parseKeys(data, kek)
	if err != nil {
		return nil, "", fmt.Errorf("keys: keyset file %s: %w", path, err)
	}
	return k, fmt.Sprintf("development keyset generated at %s; do not use in production", path), nil
}

// Parse builds Keys from keyset file contents (see GenerateKeyset). kek
// must be the key-encrypting key when the keysets are encrypted, and nil when
// they are cleartext.
func Parse(data []byte, kek tink.AEAD) (*Keys, error) {
	k, err := parseKeys(data, kek)
	if err != nil {
		return nil, fmt.Errorf("keys: keyset: %w", err)
	}
	return k, nil
}

func parseKeys(data []byte, kek tink.AEAD) (*Keys, error) {
	ah, ph, err := decodeKeysetFile(data, kek)
	if err != nil {
		return nil, err
	}
	return newKeys(ah, ph)
}

func newKeys(ah, ph *keyset.Handle) (*Keys, error) {
	a, err := aead.New(ah)
	if err != nil {
		return nil, fmt.Errorf("aead keyset: %w", err)
	}
	set, err := prf.NewPRFSet(ph)
	if err != nil {
		return nil, fmt.Errorf("fingerprint keyset: %w", err)
	}
	p, ok := set.PRFs[set.PrimaryID]
	if !ok {
		return nil, errors.New("fingerprint keyset has no enabled primary key")
	}
	// Prove now that the PRF gives 32 bytes (an AES-CMAC PRF gives only 16),
	// so Fingerprint and DeriveKey can never fail later.
	if _, err := p.ComputePRF([]byte("probe"), fingerprintSize); err != nil {
		return nil, fmt.Errorf("fingerprint keyset must be an HMAC-SHA256 PRF: %w", err)
	}
	k := &Keys{aead: a, prf: p, hmac: newHMACPRF(ph, p), primaryPrefix: primaryPrefix(ah)}
	k.keyIDs, k.primaryID, k.rawKey = keyIDsOf(ah)
	return k, nil
}

// primaryPrefix is what a ciphertext of the primary AEAD key starts with
// (Tink's output prefix: a version byte and the key id), nil for a key
// whose ciphertexts carry none.
func primaryPrefix(h *keyset.Handle) []byte {
	info := h.KeysetInfo()
	for _, ki := range info.GetKeyInfo() {
		if ki.GetKeyId() != info.GetPrimaryKeyId() {
			continue
		}
		var version byte
		switch ki.GetOutputPrefixType() {
		case tinkpb.OutputPrefixType_TINK:
			version = 0x01
		case tinkpb.OutputPrefixType_LEGACY, tinkpb.OutputPrefixType_CRUNCHY:
			version = 0x00
		default:
			return nil
		}
		return binary.BigEndian.AppendUint32([]byte{version}, ki.GetKeyId())
	}
	return nil
}

// Fingerprint returns the keyed fingerprint of a PAN in a tenant: the hex of
// the 32-byte PRF output over tenant + "\x00" + pan. The tenant is part of
// the input so one tenant's fingerprints reveal nothing about another's
// cards. The same keyset always gives the same fingerprint, which is how the
// same card maps to the same token.
func (k *Keys) Fingerprint(tenant, pan string) string {
	if k.hmac != nil {
		return k.hmac.fingerprint(tenant, pan)
	}
	in := make([]byte, 0, len(tenant)+1+len(pan))
	in = append(append(append(in, tenant...), 0), pan...)
	out, err := k.prf.ComputePRF(in, fingerprintSize)
	if err != nil {
		// Unreachable: newKeys checked the output size. No input in the panic.
		panic("keys: fingerprint PRF failed")
	}
	return hex.EncodeToString(out)
}

// deriveDomain starts every DeriveKey input. 0xFF never occurs in UTF-8, so
// no tenant name can make a Fingerprint input equal a DeriveKey input, and a
// derived key is never also a stored fingerprint.
const deriveDomain = "\xfftokengate derive-key\x00"

// DeriveKey returns a 32-byte key derived from the fingerprint PRF key and
// label, for embedded components that need a stable secret of their own
// (the network-token emulator's cryptogram MAC key, label e.g.
// "emulator/cryptogram"). Use a distinct label per purpose. The result is
// stable for as long as the fingerprint key, which RotateKeyset never
// changes; it changes with a new keyset.
func (k *Keys) DeriveKey(label string) []byte {
	out, err := k.prf.ComputePRF([]byte(deriveDomain+label), fingerprintSize)
	if err != nil {
		panic("keys: key derivation PRF failed")
	}
	return out
}

// Current says whether sealed is in the current format and sealed with the
// primary key, so that re-sealing it would change nothing. caddy tokengate
// reseal skips such records, which makes running it again cheap.
func (k *Keys) Current(sealed []byte) bool {
	if NeedsReseal(sealed) {
		return false
	}
	return k.primaryPrefix == nil || bytes.HasPrefix(sealed[1:], k.primaryPrefix)
}
