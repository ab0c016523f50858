package keys

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// maxKEKFile bounds what is read from a KEK file: a base64 32-byte key and
// a newline are 45 bytes; anything much larger is the wrong file.
const maxKEKFile = 4096

// loadKEK reads the key-encrypting key from where o says (KEKEnv or
// KEKFile), or returns nil when neither is set. Errors name the variable or
// file, never its contents.
func loadKEK(o Options) (tink.AEAD, error) {
	switch {
	case o.KEKEnv != "" && o.KEKFile != "":
		return nil, errors.New("keys: set the key-encrypting key's variable or its file, not both")
	case o.KEKEnv != "":
		v, ok := os.LookupEnv(o.KEKEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("keys: key-encrypting key variable %s is not set", o.KEKEnv)
		}
		kek, err := kekFromBase64(v)
		if err != nil {
			return nil, fmt.Errorf("keys: key-encrypting key variable %s: %w", o.KEKEnv, err)
		}
		return kek, nil
	case o.KEKFile != "":
		f, err := os.Open(o.KEKFile)
		if err != nil {
			return nil, fmt.Errorf("keys: key-encrypting key file: %w", err) // *PathError names the file
		}
		defer f.Close()
		buf, err := io.ReadAll(io.LimitReader(f, maxKEKFile+1))
		if err != nil {
			return nil, fmt.Errorf("keys: key-encrypting key file %s: %w", o.KEKFile, err)
		}
		if len(buf) > maxKEKFile {
			return nil, fmt.Errorf("keys: key-encrypting key file %s is larger than %d bytes: not a base64 32-byte key", o.KEKFile, maxKEKFile)
		}
		kek, err := kekFromBase64(string(buf))
		clear(buf)
		if err != nil {
			return nil, fmt.Errorf("keys: key-encrypting key file %s: %w", o.KEKFile, err)
		}
		return kek, nil
	}
	return nil, nil
}
