package jwe

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

// KeyBits is the size of the keys GenerateKeyPair makes and the least the
// loaders accept: what Juspay's tokenization APIs use.
const KeyBits = 2048

// Errors name the file and what is wrong with it, never what it holds: a
// parser's message could quote the key's bytes, so theirs are not passed on.

// LoadPrivateKey reads an RSA private key from a PEM file: PKCS#1 ("RSA
// PRIVATE KEY") or PKCS#8 ("PRIVATE KEY").
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, checkSize(path, &k.PublicKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA private key (PKCS#1 or PKCS#8); the PEM block is %q", path, block.Type)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an RSA private key", path, k)
	}
	return rk, checkSize(path, &rk.PublicKey)
}

// LoadPublicKey reads an RSA public key from a PEM file: PKIX ("PUBLIC
// KEY"), PKCS#1 ("RSA PUBLIC KEY"), or a certificate.
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
			return nil, fmt.Errorf("%s: not a valid certificate", path)
		}
		key = cert.PublicKey
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA public key (PKIX, PKCS#1 or a certificate); the PEM block is %q", path, block.Type)
	}
	rk, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an RSA public key", path, key)
	}
	return rk, checkSize(path, rk)
}

func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // names the path and the cause, not the content
	}
	block, _ := pem.Decode(data)
	clear(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block (want a file that starts -----BEGIN ...)", path)
	}
	return block, nil
}

func checkSize(path string, k *rsa.PublicKey) error {
	if n := k.N.BitLen(); n < KeyBits {
		return fmt.Errorf("%s: the RSA key has %d bits, fewer than %d", path, n, KeyBits)
	}
	return nil
}

// GenerateKeyPair writes a new RSA key pair of KeyBits: the private key as
// PKCS#8 PEM, mode 0600, and the public key as PKIX PEM. It never
// overwrites a file.
func GenerateKeyPair(privatePath, publicPath string) error {
	for _, p := range []string{privatePath, publicPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists; a key is never overwritten", p)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, KeyBits)
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
