// Package jwe is the one place tokengate writes and opens JWE, and loads the
// RSA keys it and Basis Theory's webhook signatures are made with. Juspay's
// tokenization APIs use one profile both ways (compact JWE, RSA-OAEP-256 key
// wrapping, A128GCM content): the Juspay API server opens cardData and
// encrypts its answers with it, the Juspay provider encrypts card data and
// opens Juspay's answers, and the CLI's jwe-encrypt and jwe-decrypt are the
// same two calls. The package knows neither Caddy nor Juspay.
package jwe

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// The only algorithms a JWE may name: anything else (RSA1_5, dir, none, a
// CBC content cipher) is refused while parsing, before any key is tried.
// Declared once so that what is written and what is read cannot drift.
const (
	keyAlgorithm      = jose.RSA_OAEP_256
	contentEncryption = jose.A128GCM
)

var (
	// ErrMalformed is returned for input that is not a JWE of this profile,
	// including one that names another algorithm.
	ErrMalformed = errors.New("jwe: not a JWE made with RSA-OAEP-256 and A128GCM")
	// ErrKey is returned when a well-formed JWE does not decrypt with the
	// key given: encrypted to another key, or altered on the way.
	ErrKey = errors.New("jwe: does not decrypt with this key")
)

// Encrypt makes a compact JWE of plain to key, with kid in its protected
// header when kid is not empty.
func Encrypt(key *rsa.PublicKey, kid string, plain []byte) (string, error) {
	if key == nil {
		return "", errors.New("jwe: no key to encrypt to")
	}
	opts := &jose.EncrypterOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	enc, err := jose.NewEncrypter(contentEncryption, jose.Recipient{Algorithm: keyAlgorithm, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("jwe: %s", detail(err))
	}
	obj, err := enc.Encrypt(plain)
	if err != nil {
		return "", fmt.Errorf("jwe: %s", detail(err))
	}
	return obj.CompactSerialize()
}

// Decrypt opens a JWE with key: Parse, then Message.Decrypt.
func Decrypt(key *rsa.PrivateKey, compact string) ([]byte, error) {
	m, err := Parse(compact)
	if err != nil {
		return nil, err
	}
	return m.Decrypt(key)
}

// Message is a parsed JWE, not yet decrypted: its header can pick the key.
type Message struct {
	obj *jose.JSONWebEncryption
}

// Parse reads a JWE of this profile. The compact form is what every caller
// sends; the JSON serialization is read too, as go-jose's ParseEncrypted has
// always done here, so that what was accepted stays accepted.
func Parse(s string) (*Message, error) {
	obj, err := jose.ParseEncrypted(s, []jose.KeyAlgorithm{keyAlgorithm}, []jose.ContentEncryption{contentEncryption})
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", ErrMalformed, detail(err))
	}
	return &Message{obj: obj}, nil
}

// KeyID is the kid of the JWE's header: which key it says it is encrypted
// to (empty when it names none).
func (m *Message) KeyID() string { return m.obj.Header.KeyID }

// Decrypt opens the message with key. The caller owns the plaintext and
// should clear it when it holds card data.
func (m *Message) Decrypt(key *rsa.PrivateKey) ([]byte, error) {
	if key == nil {
		return nil, ErrKey
	}
	plain, err := m.obj.Decrypt(key)
	if err != nil {
		// go-jose says only "error in cryptographic primitive": nothing to add.
		return nil, ErrKey
	}
	return plain, nil
}

// detail is go-jose's reason without its package prefix: it names the part
// of the input that is wrong (never key material or plaintext), and the
// error reads as this package's.
func detail(err error) string {
	return strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")
}
