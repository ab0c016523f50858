package caddymodule

import (
	"context"
	"errors"
	"fmt"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tokengate/tokengate/keys"
)

// The key commands take the key-encrypting key as the gateway's kek does:
// --kek-env <VARIABLE>, --kek-file <path>, or --kek-uri aws-kms://... with
// --kms-region and --kms-endpoint (credentials from the AWS default chain);
// wrap and rewrap take the new one as --new-kek-env, --new-kek-file or
// --new-kek-uri (--new-kms-region, --new-kms-endpoint).

// addKEKFlags adds the key-encrypting key flags but --kek-env and
// --new-kek-env, which the command had first.
func addKEKFlags(cmd *cobra.Command) {
	cmd.Flags().String("kek-file", "", "File holding the base64 key-encrypting key (as kek_file)")
	cmd.Flags().String("kek-uri", "", "The key-encrypting key in a KMS: aws-kms://arn:aws:kms:<region>:<account>:key/<id> (as kek aws_kms)")
	cmd.Flags().String("kms-region", "", "With --kek-uri: the key's region (default: the ARN's)")
	cmd.Flags().String("kms-endpoint", "", "With --kek-uri: the KMS endpoint URL (a VPC endpoint, local-kms)")
	cmd.Flags().String("new-kek-file", "", "wrap, rewrap: file holding the new key-encrypting key")
	cmd.Flags().String("new-kek-uri", "", "wrap, rewrap: the new key-encrypting key in a KMS (aws-kms://...)")
	cmd.Flags().String("new-kms-region", "", "With --new-kek-uri: the key's region (default: the ARN's)")
	cmd.Flags().String("new-kms-endpoint", "", "With --new-kek-uri: the KMS endpoint URL")
}

// kekSourceFlags is the key-encrypting key the flags with prefix ("" or
// "new-") name, or nil for none.
func kekSourceFlags(fl caddycmd.Flags, prefix string) (keys.KEKSource, error) {
	env, file, uri := fl.String(prefix+"kek-env"), fl.String(prefix+"kek-file"), fl.String(prefix+"kek-uri")
	region, endpoint := fl.String(prefix+"kms-region"), fl.String(prefix+"kms-endpoint")
	n := 0
	for _, v := range []string{env, file, uri} {
		if v != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, fmt.Errorf("set one of --%skek-env, --%skek-file and --%skek-uri", prefix, prefix, prefix)
	case uri == "" && (region != "" || endpoint != ""):
		return nil, fmt.Errorf("--%skms-region and --%skms-endpoint go with --%skek-uri", prefix, prefix, prefix)
	case env != "":
		return keys.EnvKEK(env), nil
	case file != "":
		return keys.FileKEK(file), nil
	case uri != "":
		src := keys.AWSKMS{KeyURI: uri, Region: region, Endpoint: endpoint}
		if err := src.Check(); err != nil {
			return nil, fmt.Errorf("--%skek-uri: %w", prefix, err)
		}
		return src, nil
	}
	return nil, nil
}

// kekFlags builds the key-encrypting key the flags with prefix name, or nil
// for none. --kek-env alone keeps its own messages (kekFromEnv).
func kekFlags(ctx context.Context, fl caddycmd.Flags, prefix string) (tink.AEAD, error) {
	src, err := kekSourceFlags(fl, prefix)
	if err != nil || src == nil {
		return nil, err
	}
	if env, ok := src.(keys.EnvKEK); ok {
		return kekFromEnv(string(env))
	}
	return src.KEK(ctx)
}

// keysetOptions is the keyset the flags name (--keyset or --keyset-env),
// with its key-encrypting key. Flags that contradict each other give a
// source whose KEK says so, so loading fails with that message.
func keysetOptions(fl caddycmd.Flags) keys.Options {
	o := keys.Options{File: fl.String("keyset"), Env: fl.String("keyset-env")}
	src, err := kekSourceFlags(fl, "")
	switch {
	case err != nil:
		o.KEK = badKEK{err}
	case src != nil:
		o.KEK = src
	}
	return o
}

// badKEK is a key-encrypting key flag error, reported when it is used.
type badKEK struct{ err error }

func (b badKEK) KEK(context.Context) (tink.AEAD, error) { return nil, b.err }
func (b badKEK) String() string                         { return "invalid key-encrypting key flags" }
func (badKEK) Remote() bool                             { return false }

var errNoNewKEK = errors.New("needs --new-kek-env <VARIABLE>, --new-kek-file <path> or --new-kek-uri aws-kms://..., the new key-encrypting key")
