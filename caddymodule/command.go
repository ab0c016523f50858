package caddymodule

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tokengate/tokengate/vault"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "tokengate",
		Usage: "keygen|rotate --keyset <file> [--kek-env <VARIABLE>]",
		Short: "Creates or rotates tokengate's keyset",
		Long: `
keygen writes a new keyset file: an AES-256-GCM keyset that seals card data
and an HMAC-SHA256 keyset for keyed fingerprints. It refuses to overwrite a
file.

rotate adds a new sealing key to an existing keyset file and makes it primary.
Cards sealed before keep opening with the older keys; new cards use the new
one. The fingerprint key is kept, so the same card keeps its token. Reload
Caddy afterwards.

With --kek-env, the keyset is encrypted with the base64 32-byte
key-encrypting key held in that environment variable; configure the same
variable as kek_env in the tokengate global option.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("keyset", "", "The keyset file")
			cmd.Flags().String("kek-env", "", "Environment variable holding the base64 key-encrypting key")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdKeyset)
		},
	})
}

func cmdKeyset(fl caddycmd.Flags) (int, error) {
	path := fl.String("keyset")
	if fl.NArg() != 1 || path == "" {
		return exitFailure, errors.New("usage: caddy tokengate keygen|rotate --keyset <file> [--kek-env <VARIABLE>]")
	}
	var kek tink.AEAD
	if env := fl.String("kek-env"); env != "" {
		var err error
		if kek, err = vault.KEKFromBase64(os.Getenv(env)); err != nil {
			return exitFailure, fmt.Errorf("%s: %w", env, err)
		}
	}
	switch fl.Arg(0) {
	case "keygen":
		if _, err := os.Stat(path); err == nil {
			return exitFailure, fmt.Errorf("%s exists; keygen never overwrites a keyset (use rotate)", path)
		}
		data, err := vault.GenerateKeyset(kek)
		if err != nil {
			return exitFailure, err
		}
		return writeKeyset(path, data)
	case "rotate":
		old, err := os.ReadFile(path)
		if err != nil {
			return exitFailure, err
		}
		data, err := vault.RotateKeyset(old, kek)
		if err != nil {
			return exitFailure, fmt.Errorf("%s: %w", path, err)
		}
		return writeKeyset(path, data)
	}
	return exitFailure, fmt.Errorf("unknown subcommand %q (want keygen or rotate)", fl.Arg(0))
}

// exitFailure is the exit status for a failed command, as Caddy's own commands use.
const exitFailure = caddy.ExitCodeFailedStartup

// writeKeyset replaces the file atomically, so a crash never leaves a
// half-written keyset (which would make every sealed card unreadable).
func writeKeyset(path string, data []byte) (int, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyset-*")
	if err != nil {
		return exitFailure, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return exitFailure, err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return exitFailure, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return exitFailure, err
	}
	if err := tmp.Close(); err != nil {
		return exitFailure, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return exitFailure, err
	}
	fmt.Printf("wrote %s\n", path)
	return caddy.ExitCodeSuccess, nil
}
