package keys

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"unicode/utf8"
)

// Secrets is the card data that exists only inside Record.Sealed. It never
// contains the CVV: PCI DSS forbids storing it after authorization, even
// encrypted.
//
// Every way of printing a Secrets redacts it (fmt verbs including %v, %+v,
// %#v and %s; slog; encoding/json, which zap's reflection encoder also
// uses), so a stray log line cannot leak a PAN. Seal and Open are the only
// code that serializes the real values.
type Secrets struct {
	// PAN is the card number.
	PAN string `json:"pan"`
	// Name is the cardholder name, if collected.
	Name string `json:"name,omitempty"`
	// DPAN is the network token's number, when one was provisioned.
	DPAN string `json:"dpan,omitempty"`
}

// sealedSecrets has Secrets' fields and JSON tags but none of its redacting
// methods: it is the plaintext format inside the ciphertext.
type sealedSecrets Secrets

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// String returns a redacted description that says which fields are set.
func (s Secrets) String() string {
	return fmt.Sprintf("keys.Secrets{PAN:%s Name:%s DPAN:%s}", redact(s.PAN), redact(s.Name), redact(s.DPAN))
}

// GoString redacts like String, for %#v.
func (s Secrets) GoString() string { return s.String() }

// Format redacts for every fmt verb, so %x or %q cannot reach the fields.
func (s Secrets) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// LogValue redacts for log/slog.
func (s Secrets) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts for encoding/json and for loggers that encode values
// as JSON by reflection (zap.Any). Use Keys.Seal to persist Secrets.
func (s Secrets) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"pan": redact(s.PAN), "name": redact(s.Name), "dpan": redact(s.DPAN)})
}

// Errors from Seal and Open. They are fixed strings on purpose: an error
// wrapping a JSON or Tink error could quote plaintext card data.
var (
	errSeal = errors.New("keys: cannot seal card data")
	errOpen = errors.New("keys: cannot open sealed card data (wrong key, or the record was altered or moved)")
)

// associatedData is the first format's associated data, tenant and
// fingerprint: Sealed bytes copied to another tenant or another card's record
// fail to open, but two records of one tenant swapped whole (sealed data and
// fingerprint together) open under each other's token. SealValue still uses
// it, with the token inside id.
func associatedData(tenant, fingerprint string) []byte {
	return appendAssociatedData(make([]byte, 0, len(tenant)+1+len(fingerprint)), tenant, fingerprint)
}

// appendAssociatedData appends associatedData(a, b) to dst: the one place
// its layout is written, so that a value sealed with a pooled array
// (valueAD) opens with a new one, and back.
func appendAssociatedData(dst []byte, a, b string) []byte {
	return append(append(append(dst, a...), 0), b...)
}

// sealedV2 is the first byte of Sealed in the second format: the Tink
// ciphertext follows, sealed with associatedDataV2. Tink's ciphertexts
// begin with 0x01 (the keysets tokengate makes) or 0x00 (legacy prefixes),
// never 0x02 (only a RAW key's, which tokengate never makes, could), so a
// record's format is told without trying to decrypt it.
// The byte is not what protects the record: stripping or adding it only
// changes which associated data is tried, and the ciphertext was bound to
// one of them (see Open).
const sealedV2 = 0x02

// adV2Tag starts the second format's associated data. Its first byte, 0xFF,
// never occurs in UTF-8, and the first format's associated data starts with
// the tenant (UTF-8, Open checks) or with the 0x00 after an empty one: the
// two formats can never produce the same bytes, so a ciphertext sealed for
// one never opens as the other, whatever a row's columns are made to hold.
const adV2Tag = "\xfftokengate/record/v2"

// associatedDataV2 binds a ciphertext to its record: tenant, fingerprint
// and token, each length-prefixed. Sealed bytes moved to another tenant,
// another card's record or another token of the same tenant fail to open.
func associatedDataV2(tenant, fingerprint, token string) []byte {
	return appendAssociatedDataV2(make([]byte, 0, len(adV2Tag)+3*binary.MaxVarintLen32+len(tenant)+len(fingerprint)+len(token)), tenant, fingerprint, token)
}

// appendAssociatedDataV2 appends associatedDataV2's bytes to ad.
func appendAssociatedDataV2(ad []byte, tenant, fingerprint, token string) []byte {
	ad = append(ad, adV2Tag...)
	for _, f := range [...]string{tenant, fingerprint, token} {
		ad = binary.AppendUvarint(ad, uint64(len(f)))
		ad = append(ad, f...)
	}
	return ad
}

// Seal encrypts s for the record identified by tenant, fingerprint and
// token with the primary AEAD key, in the second format. The result goes
// into Record.Sealed; a record that changes token must be sealed again.
func (k *Keys) Seal(tenant, fingerprint, token string, s Secrets) ([]byte, error) {
	pt := encodeSecrets(s)
	ct, err := k.aead.Encrypt(pt, associatedDataV2(tenant, fingerprint, token))
	clear(pt)
	if err != nil {
		return nil, errSeal
	}
	return append([]byte{sealedV2}, ct...), nil
}

// SealLegacyForTests seals s as releases before the token was bound did
// (first format: tenant and fingerprint only). Nothing in tokengate writes
// that format any more; tests use it to build the records an older vault
// holds.
func (k *Keys) SealLegacyForTests(tenant, fingerprint string, s Secrets) ([]byte, error) {
	pt := encodeSecrets(s)
	ct, err := k.aead.Encrypt(pt, associatedData(tenant, fingerprint))
	clear(pt)
	if err != nil {
		return nil, errSeal
	}
	return ct, nil
}

// NeedsReseal says whether sealed is in the first format, which binds
// tenant and fingerprint but not the token: Reseal (on the record's next
// write) or caddy tokengate reseal brings it to the current one.
func NeedsReseal(sealed []byte) bool {
	return len(sealed) == 0 || sealed[0] != sealedV2
}

// Open decrypts what Seal produced for the same tenant, fingerprint and
// token. Any key of the AEAD keyset works, so records sealed before a
// rotation open.
//
// A record in the first format (sealed before the token was bound) opens
// with the first format's associated data, and LegacyOpens counts it,
// unless RefuseLegacy was set. A record in the second format never falls
// back to the first format's associated data. What the fallback leaves
// possible until every record is re-sealed: a row holding a first-format
// ciphertext of another card of the same tenant (two old rows swapped, or
// an old row's content copied from a backup over any row) opens under the
// row's token. caddy tokengate reseal ends it; RefuseLegacy after it
// closes it for good.
func (k *Keys) Open(tenant, fingerprint, token string, sealed []byte) (Secrets, error) {
	var pt []byte
	var err error
	if !NeedsReseal(sealed) {
		// Every detokenization opens a card: its associated data is built
		// in a pooled array (no card data in it: tenant, fingerprint and
		// token, which the record stores in clear), not a new one.
		bp := adBuffers.Get().(*[]byte)
		ad := appendAssociatedDataV2((*bp)[:0], tenant, fingerprint, token)
		pt, err = k.aead.Decrypt(sealed[1:], ad)
		putAD(bp, ad)
	} else {
		if k.refuseLegacy.Load() || !utf8.ValidString(tenant) {
			return Secrets{}, errOpen
		}
		pt, err = k.aead.Decrypt(sealed, associatedData(tenant, fingerprint))
		if err == nil {
			k.legacyOpens.Add(1)
		}
	}
	if err != nil {
		return Secrets{}, errOpen
	}
	defer clear(pt)
	s, ok := decodeSecrets(pt)
	if !ok {
		return Secrets{}, errOpen
	}
	return s, nil
}

// Reseal returns sealed in the current format (token bound) when it is in
// the first one and opens for tenant and fingerprint; ok is false when
// there is nothing to do or it does not open (the write goes on with the
// bytes it had, and the read that follows refuses them). The vault calls
// it on every record write, so old records move to the current format
// (and the primary key) on their next change; caddy tokengate reseal moves
// the rest, and records of the current format sealed with an older key.
func (k *Keys) Reseal(tenant, fingerprint, token string, sealed []byte) (resealed []byte, ok bool) {
	if !NeedsReseal(sealed) {
		return nil, false
	}
	s, err := k.Open(tenant, fingerprint, token, sealed)
	if err != nil {
		return nil, false
	}
	out, err := k.Seal(tenant, fingerprint, token, s)
	if err != nil {
		return nil, false
	}
	return out, true
}

// LegacyOpens counts the first-format records Open has opened since the
// keys were loaded: more than zero means caddy tokengate reseal has work.
func (k *Keys) LegacyOpens() int64 { return k.legacyOpens.Load() }

// RefuseLegacy makes Open refuse first-format records from now on: once
// caddy tokengate reseal has brought every record to the current format, no
// row can be made to open with an older ciphertext of another card.
func (k *Keys) RefuseLegacy(refuse bool) { k.refuseLegacy.Store(refuse) }

// adBuffers are the arrays Open builds associated data in.
var adBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledAD bounds the arrays kept in adBuffers: a tenant or token of
// unusual length is built in an array left to the collector.
const maxPooledAD = 512

// secretsV1 marks the binary plaintext: three length-prefixed fields (PAN,
// name, DPAN). It replaced JSON because every outbound request opens a
// card, and decoding JSON cost more than the decryption itself.
const secretsV1 = 0x01

func encodeSecrets(s Secrets) []byte {
	out := make([]byte, 0, 1+3*binary.MaxVarintLen16+len(s.PAN)+len(s.Name)+len(s.DPAN))
	out = append(out, secretsV1)
	for _, f := range [...]string{s.PAN, s.Name, s.DPAN} {
		out = binary.AppendUvarint(out, uint64(len(f)))
		out = append(out, f...)
	}
	return out
}

func decodeSecrets(pt []byte) (Secrets, bool) {
	if len(pt) > 0 && pt[0] == '{' { // sealed before the binary format
		var js sealedSecrets
		if err := json.Unmarshal(pt, &js); err != nil {
			return Secrets{}, false
		}
		return Secrets(js), true
	}
	if len(pt) == 0 || pt[0] != secretsV1 {
		return Secrets{}, false
	}
	rest := pt[1:]
	var fields [3]string
	for i := range fields {
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			return Secrets{}, false
		}
		fields[i] = string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
	}
	if len(rest) != 0 {
		return Secrets{}, false
	}
	return Secrets{PAN: fields[0], Name: fields[1], DPAN: fields[2]}, true
}

// SealValue encrypts one short secret that leaves the process (a CVV held
// in a shared store) with the primary AEAD key, bound to purpose, tenant and
// id as associated data: a value moved to another tenant, token or purpose
// does not open.
func (k *Keys) SealValue(purpose, tenant, id string, value []byte) ([]byte, error) {
	bp, ad := valueAD(purpose, tenant, id)
	ct, err := k.aead.Encrypt(value, ad)
	putAD(bp, ad)
	if err != nil {
		return nil, errSeal
	}
	return ct, nil
}

// OpenValue decrypts what SealValue produced for the same purpose, tenant
// and id.
func (k *Keys) OpenValue(purpose, tenant, id string, sealed []byte) ([]byte, error) {
	bp, ad := valueAD(purpose, tenant, id)
	pt, err := k.aead.Decrypt(sealed, ad)
	putAD(bp, ad)
	if err != nil {
		return nil, errOpen
	}
	return pt, nil
}

// valueAD builds a value's associated data, associatedData(purpose+"\x00"+
// tenant, id) byte for byte, in a pooled array (every CVV held and taken
// seals or opens one; the bytes are no secret); putAD returns it.
func valueAD(purpose, tenant, id string) (*[]byte, []byte) {
	bp := adBuffers.Get().(*[]byte)
	ad := appendAssociatedData((*bp)[:0], purpose, tenant) // the first argument, purpose+"\x00"+tenant,
	return bp, appendAssociatedData(ad, "", id)            // then the 0 and the second
}

// putAD pools the array valueAD (or Open) built ad in, unless it grew too
// long to keep.
func putAD(bp *[]byte, ad []byte) {
	if cap(ad) <= maxPooledAD {
		clear(ad)
		*bp = ad[:0]
		adBuffers.Put(bp)
	}
}
