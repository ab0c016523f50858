package jwe_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/jwe"
)

var (
	keysOnce   sync.Once
	keyA, keyB *rsa.PrivateKey
)

// keys makes two 2048-bit keys once: generating them is most of the time.
func keys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if keyA, err = rsa.GenerateKey(rand.Reader, jwe.KeyBits); err != nil {
			t.Fatal(err)
		}
		if keyB, err = rsa.GenerateKey(rand.Reader, jwe.KeyBits); err != nil {
			t.Fatal(err)
		}
	})
	return keyA, keyB
}

func TestRoundTrip(t *testing.T) {
	a, _ := keys(t)
	plain := []byte(`{"cardNumber":"4111111111111111","expMonth":"09","expYear":"2030"}`)
	compact, err := jwe.Encrypt(&a.PublicKey, "dev", plain)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(compact, "."); n != 4 {
		t.Fatalf("not compact: %d dots", n)
	}
	if strings.Contains(compact, "4111") {
		t.Fatal("the card number shows in the JWE")
	}
	m, err := jwe.Parse(compact)
	if err != nil {
		t.Fatal(err)
	}
	if m.KeyID() != "dev" {
		t.Fatalf("kid %q, want dev", m.KeyID())
	}
	got, err := m.Decrypt(a)
	if err != nil || string(got) != string(plain) {
		t.Fatalf("Decrypt: %q %v", got, err)
	}
	got, err = jwe.Decrypt(a, compact)
	if err != nil || string(got) != string(plain) {
		t.Fatalf("jwe.Decrypt: %q %v", got, err)
	}
}

// The header says the profile: a reader elsewhere checks alg and enc.
func TestHeaderNamesTheProfile(t *testing.T) {
	a, _ := keys(t)
	compact, err := jwe.Encrypt(&a.PublicKey, "", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := jose.ParseEncryptedCompact(compact, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A128GCM})
	if err != nil {
		t.Fatal(err)
	}
	if obj.Header.Algorithm != "RSA-OAEP-256" || obj.Header.KeyID != "" {
		t.Fatalf("header %+v", obj.Header)
	}
	if m, _ := jwe.Parse(compact); m.KeyID() != "" {
		t.Fatalf("kid %q, want none", m.KeyID())
	}
}

func TestOtherAlgorithmsRefused(t *testing.T) {
	a, _ := keys(t)
	for _, c := range []struct {
		name string
		alg  jose.KeyAlgorithm
		enc  jose.ContentEncryption
	}{
		{"RSA1_5", jose.RSA1_5, jose.A128GCM},
		{"RSA-OAEP", jose.RSA_OAEP, jose.A128GCM},
		{"A256GCM", jose.RSA_OAEP_256, jose.A256GCM},
		{"A128CBC-HS256", jose.RSA_OAEP_256, jose.A128CBC_HS256},
	} {
		t.Run(c.name, func(t *testing.T) {
			enc, err := jose.NewEncrypter(c.enc, jose.Recipient{Algorithm: c.alg, Key: &a.PublicKey}, nil)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := enc.Encrypt([]byte("secret"))
			if err != nil {
				t.Fatal(err)
			}
			compact, _ := obj.CompactSerialize()
			if _, err := jwe.Decrypt(a, compact); !errors.Is(err, jwe.ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v", err)
			}
		})
	}
}

func TestWrongKeyRefused(t *testing.T) {
	a, b := keys(t)
	compact, err := jwe.Encrypt(&a.PublicKey, "a", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwe.Decrypt(b, compact); !errors.Is(err, jwe.ErrKey) {
		t.Fatalf("want ErrKey, got %v", err)
	}
	if _, err := jwe.Decrypt(nil, compact); !errors.Is(err, jwe.ErrKey) {
		t.Fatalf("no key: want ErrKey, got %v", err)
	}
	// An altered ciphertext fails the same way: A128GCM authenticates it.
	parts := strings.Split(compact, ".")
	parts[3] = flip(parts[3])
	if _, err := jwe.Decrypt(a, strings.Join(parts, ".")); !errors.Is(err, jwe.ErrKey) {
		t.Fatalf("altered: want ErrKey, got %v", err)
	}
}

func TestNotAJWE(t *testing.T) {
	for _, s := range []string{"", "abc", "a.b.c", "a.b.c.d.e"} {
		_, err := jwe.Parse(s)
		if !errors.Is(err, jwe.ErrMalformed) {
			t.Fatalf("%q: want ErrMalformed, got %v", s, err)
		}
		if strings.Contains(err.Error(), "go-jose") {
			t.Fatalf("%q: the error reads as go-jose's: %v", s, err)
		}
	}
	if _, err := jwe.Encrypt(nil, "", []byte("x")); err == nil {
		t.Fatal("encrypted to no key")
	}
}

// flip changes the first base64url character of s.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}
