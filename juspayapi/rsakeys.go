package juspayapi

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-jose/go-jose/v4"
)

// RSAKeyBits is the size of the keys Juspay's tokenization APIs use.
const RSAKeyBits = 2048

// GenerateKeyPair writes a new RSA-2048 key pair: the private key as PKCS#8
// PEM, mode 0600, and the public key as PKIX PEM. It never overwrites a file.
func GenerateKeyPair(privatePath, publicPath string) error {
	for _, p := range []string{privatePath, publicPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists; a key is never overwritten", p)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, RSAKeyBits)
	if err != nil {
		return err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(privatePath, "PRIVATE KEY", priv, 0o600); err != nil {
		return err
	}
	return writePEM(publicPath, "PUBLIC KEY", pub, 0o644)
}

func writePEM(path, kind string, der []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: kind, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadPrivateKey reads an RSA private key from a PEM file (PKCS#8 or PKCS#1).
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA private key", path)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA private key", path)
	}
	return rk, checkSize(path, &rk.PublicKey)
}

// LoadPublicKey reads an RSA public key from a PEM file (PKIX, PKCS#1, or a
// certificate).
func LoadPublicKey(path string) (*rsa.PublicKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		key = cert.PublicKey
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	rk, ok := key.(*rsa.PublicKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("%s: not an RSA public key", path)
	}
	return rk, checkSize(path, rk)
}

func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return block, nil
}

func checkSize(path string, k *rsa.PublicKey) error {
	if k.N.BitLen() < RSAKeyBits {
		return errors.New(path + ": the RSA key is shorter than 2048 bits")
	}
	return nil
}

// Encrypt makes a compact JWE (RSA-OAEP-256, A128GCM) of plain to key, with
// kid in its header when given: what Juspay's clients send as cardData and
// what the server answers in payload.
func Encrypt(key *rsa.PublicKey, kid string, plain []byte) (string, error) {
	opts := &jose.EncrypterOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	enc, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: key}, opts)
	if err != nil {
		return "", err
	}
	obj, err := enc.Encrypt(plain)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// Decrypt opens a compact JWE made with RSA-OAEP-256 and A128GCM.
func Decrypt(key *rsa.PrivateKey, compact string) ([]byte, error) {
	obj, err := jose.ParseEncrypted(compact, keyAlgorithms, contentEncryption)
	if err != nil {
		return nil, err
	}
	return obj.Decrypt(key)
}
