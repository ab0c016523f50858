package keys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// maxKEKFile bounds what is read from a KEK file: a base64 32-byte key and
// a newline are 45 bytes; anything much larger is the wrong file.
const maxKEKFile = 4096

// KEKSource is where the key-encrypting key that wraps the keyset comes
// from: an environment variable (EnvKEK), a file (FileKEK), or a key that
// never leaves a KMS (AWSKMS). KEK returns the AEAD the keyset is wrapped
// and unwrapped with; it is used only while a keyset is read or written
// (once at load, in Tink's envelope: the KMS decrypts the keyset, never a
// card), so no request ever calls a KMS. ctx bounds what a remote source
// does with the AEAD it returns.
type KEKSource interface {
	KEK(ctx context.Context) (tink.AEAD, error)
	// String names the source for errors and logs: a variable, a file, a
	// key URI. Never key material.
	String() string
	// Remote reports whether using the KEK calls a service (a KMS) that
	// may be down: a gateway opens a keyset wrapped by one at its start,
	// with retries, never while its configuration is checked.
	Remote() bool
}

// EnvKEK is a base64 32-byte key-encrypting key held in the environment
// variable it names.
type EnvKEK string

// KEK reads and decodes the variable.
func (e EnvKEK) KEK(context.Context) (tink.AEAD, error) {
	v, ok := os.LookupEnv(string(e))
	if !ok || v == "" {
		return nil, fmt.Errorf("keys: key-encrypting key variable %s is not set", string(e))
	}
	kek, err := kekFromBase64(v)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encrypting key variable %s: %w", string(e), err)
	}
	return kek, nil
}

func (e EnvKEK) String() string { return "key-encrypting key variable " + string(e) }

// Remote is false: the key is in the process.
func (EnvKEK) Remote() bool { return false }

// FileKEK is a base64 32-byte key-encrypting key held in the file at the
// path it names (a systemd credential, a container secret).
type FileKEK string

// KEK reads and decodes the file. Errors name the file, never its contents.
func (p FileKEK) KEK(context.Context) (tink.AEAD, error) {
	path := string(p)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encrypting key file: %w", err) // *PathError names the file
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxKEKFile+1))
	if err != nil {
		return nil, fmt.Errorf("keys: key-encrypting key file %s: %w", path, err)
	}
	if len(buf) > maxKEKFile {
		return nil, fmt.Errorf("keys: key-encrypting key file %s is larger than %d bytes: not a base64 32-byte key", path, maxKEKFile)
	}
	kek, err := kekFromBase64(string(buf))
	clear(buf)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encrypting key file %s: %w", path, err)
	}
	return kek, nil
}

func (p FileKEK) String() string { return "key-encrypting key file " + string(p) }

// Remote is false: the key is read from a local file.
func (FileKEK) Remote() bool { return false }

// kekSource is the source o names: KEK, KEKEnv or KEKFile (one at most),
// or nil when none is set.
func kekSource(o Options) (KEKSource, error) {
	n := 0
	for _, set := range []bool{o.KEK != nil, o.KEKEnv != "", o.KEKFile != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, errors.New("keys: set one key-encrypting key (its variable, its file or its KMS key), not both")
	case o.KEK != nil:
		return o.KEK, nil
	case o.KEKEnv != "":
		return EnvKEK(o.KEKEnv), nil
	case o.KEKFile != "":
		return FileKEK(o.KEKFile), nil
	}
	return nil, nil
}

// loadKEK builds the key-encrypting key o names, or returns nil when none
// is set. Errors name the variable, file or key, never key material.
func loadKEK(ctx context.Context, o Options) (tink.AEAD, error) {
	src, err := kekSource(o)
	if src == nil || err != nil {
		return nil, err
	}
	return src.KEK(ctx)
}

// IsRemoteKEK reports whether o's key-encrypting key is in a service that
// may be down (a KMS): see KEKSource.Remote.
func IsRemoteKEK(o Options) bool {
	src, err := kekSource(o)
	return err == nil && src != nil && src.Remote()
}
