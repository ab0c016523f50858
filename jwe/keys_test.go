package jwe_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/jwe"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemOf(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

// GenerateKeyPair's files load back, make a pair that works, and are never
// overwritten.
func TestGenerateAndLoad(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k", "a.pem"), filepath.Join(dir, "k", "a.pub.pem")
	if err := jwe.GenerateKeyPair(priv, pub); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(priv); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode: %v %v", fi, err)
	}
	sk, errPriv := jwe.LoadPrivateKey(priv)
	pk, errPub := jwe.LoadPublicKey(pub)
	if err := errors.Join(errPriv, errPub); err != nil {
		t.Fatal(err)
	}
	if !pk.Equal(&sk.PublicKey) || pk.N.BitLen() != jwe.KeyBits {
		t.Fatal("the public key is not the private key's")
	}
	before, _ := os.ReadFile(priv)
	if err := jwe.GenerateKeyPair(priv, pub); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("overwrote: %v", err)
	}
	if after, _ := os.ReadFile(priv); string(after) != string(before) {
		t.Fatal("the private key changed")
	}
}

// Every encoding the loaders have always read: PKCS#1 and PKCS#8 private
// keys; PKIX, PKCS#1 and certificate public keys.
func TestLoadEncodings(t *testing.T) {
	k, _ := keys(t)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
	pkix, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"pkcs1": pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k)),
		"pkcs8": pemOf("PRIVATE KEY", pkcs8),
	} {
		got, err := jwe.LoadPrivateKey(writeFile(t, name, data))
		if err != nil || !got.Equal(k) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for name, data := range map[string][]byte{
		"pkix":  pemOf("PUBLIC KEY", pkix),
		"pkcs1": pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.PublicKey)),
		"cert":  pemOf("CERTIFICATE", cert),
	} {
		got, err := jwe.LoadPublicKey(writeFile(t, name, data))
		if err != nil || !got.Equal(&k.PublicKey) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// A bad file is named with what is wrong, and the error never carries the
// file's content.
func TestBadKeyFiles(t *testing.T) {
	k, _ := keys(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPub, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	pkix, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
	const secret = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"

	cases := []struct {
		name, want string
		data       []byte
		private    bool
	}{
		{"empty", "no PEM block", nil, true},
		{"not PEM", "no PEM block", []byte(secret + "\n"), true},
		{"not PEM (public)", "no PEM block", []byte(secret + "\n"), false},
		{"garbage in PEM", `not an RSA private key (PKCS#1 or PKCS#8); the PEM block is "PRIVATE KEY"`, pemOf("PRIVATE KEY", []byte(secret)), true},
		{"public given as private", `the PEM block is "PUBLIC KEY"`, pemOf("PUBLIC KEY", pkix), true},
		{"private given as public", `not an RSA public key (PKIX, PKCS#1 or a certificate); the PEM block is "PRIVATE KEY"`, pemOf("PRIVATE KEY", pkcs8), false},
		{"EC private", "a *ecdsa.PrivateKey, not an RSA private key", pemOf("PRIVATE KEY", ecDER), true},
		{"EC public", "a *ecdsa.PublicKey, not an RSA public key", pemOf("PUBLIC KEY", ecPub), false},
		{"short private (PKCS#1)", "the RSA key has 1024 bits, fewer than 2048", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)), true},
		{"short public", "the RSA key has 1024 bits, fewer than 2048", pemOf("PUBLIC KEY", smallPub), false},
		{"bad certificate", "not a valid certificate", pemOf("CERTIFICATE", []byte(secret)), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "key.pem", c.data)
			var err error
			if c.private {
				_, err = jwe.LoadPrivateKey(path)
			} else {
				_, err = jwe.LoadPublicKey(path)
			}
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") || !strings.Contains(msg, c.want) {
				t.Fatalf("error %q: want %q after the path", msg, c.want)
			}
			if strings.Contains(msg, secret[:12]) {
				t.Fatalf("the error shows the file's content: %q", msg)
			}
		})
	}
	if _, err := jwe.LoadPrivateKey(filepath.Join(t.TempDir(), "missing.pem")); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("a missing file: %v", err)
	}
}
