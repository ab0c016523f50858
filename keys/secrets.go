package keys

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	errSeal = errors.New("vault: cannot seal card data")
	errOpen = errors.New("vault: cannot open sealed card data (wrong key, or the record was altered or moved)")
)

// associatedData binds a ciphertext to its record, so Sealed bytes copied to
// another tenant or another card's record fail to open.
func associatedData(tenant, fingerprint string) []byte {
	ad := make([]byte, 0, len(tenant)+1+len(fingerprint))
	return append(append(append(ad, tenant...), 0), fingerprint...)
}

// Seal encrypts s for the record identified by tenant and fingerprint with
// the primary AEAD key. The result goes into Record.Sealed.
func (k *Keys) Seal(tenant, fingerprint string, s Secrets) ([]byte, error) {
	pt := encodeSecrets(s)
	ct, err := k.aead.Encrypt(pt, associatedData(tenant, fingerprint))
	clear(pt)
	if err != nil {
		return nil, errSeal
	}
	return ct, nil
}

// Open decrypts what Seal produced for the same tenant and fingerprint. Any
// key of the AEAD keyset works, so records sealed before a rotation open.
func (k *Keys) Open(tenant, fingerprint string, sealed []byte) (Secrets, error) {
	pt, err := k.aead.Decrypt(sealed, associatedData(tenant, fingerprint))
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
	ct, err := k.aead.Encrypt(value, associatedData(purpose+"\x00"+tenant, id))
	if err != nil {
		return nil, errSeal
	}
	return ct, nil
}

// OpenValue decrypts what SealValue produced for the same purpose, tenant
// and id.
func (k *Keys) OpenValue(purpose, tenant, id string, sealed []byte) ([]byte, error) {
	pt, err := k.aead.Decrypt(sealed, associatedData(purpose+"\x00"+tenant, id))
	if err != nil {
		return nil, errOpen
	}
	return pt, nil
}
