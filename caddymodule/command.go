package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/tink-crypto/tink-go/v2/tink"
	"github.com/tokengate/tokengate/jwe"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault/migrate"
	"github.com/tokengate/tokengate/vault/reseal"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "tokengate",
		Usage: "keygen|rotate|wrap|rewrap --keyset <file> [--kek-env <VARIABLE> | --kek-file <path> | --kek-uri aws-kms://... [--kms-region <r>] [--kms-endpoint <url>]] [--new-kek-env <VARIABLE> | --new-kek-file <path> | --new-kek-uri aws-kms://...] | hash-key | rsa-keygen --private <file> --public <file> | jwe-encrypt --public <file> [--kid <kid>] | jwe-decrypt --private <file> | migrate --from <backend>:<where> --to <backend>:<where> [--keyset <file> [--kek-env <VARIABLE>]] | backup --to <file> [--address <admin address>] | verify-backup --from <file> | restore --from <file> --vault <file> [--force] | reseal --keyset <file> [--kek-env <VARIABLE>] --vault <backend>:<where> | keys status --vault <backend>:<where> [--keyset <file>] | keys disable|enable <key id> --keyset <file> [--kek-env <VARIABLE>|--kek-file <path>|--kek-uri aws-kms://...] --vault <backend>:<where> [--destroy] | purge --tenant <tenant> [--customer <id> | --tokens <file or list>] [--dry-run] [--address <admin address> | --vault <backend>:<where>] | rules lint --rules <file> | audit verify|search --file <path> [--keyset <file>] | version; keygen, rotate, wrap, rewrap, keys disable|enable, reseal, purge --vault, restore, migrate: [--audit-file <path> | --audit-dsn <dsn>] [--audit-gateway <name>]",
		Short: "Creates, rotates and wraps tokengate's keyset; hashes API keys; migrates the vault between backends; backs up and restores a bbolt vault; re-seals its records; lists the keys a vault needs; lints rules files; prints tokengate's version",
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
variable as kek_env in the tokengate global option.

Instead of --kek-env, --kek-file names a file holding that key (as
kek_file), and --kek-uri aws-kms://arn:aws:kms:<region>:<account>:key/<id>
a key in AWS KMS (as kek aws_kms; --kms-region, --kms-endpoint; credentials
from the AWS default chain): the keyset is then wrapped by the KMS key. Every
command below that takes --kek-env takes these too; wrap and rewrap take the
new key as --new-kek-env, --new-kek-file or --new-kek-uri.

wrap encrypts a cleartext keyset file with the key-encrypting key in
--new-kek-env; rewrap re-encrypts a wrapped one (its current key in
--kek-env) with the key in --new-kek-env. The keys inside do not change, so
every card keeps opening; set kek_env to the new variable and reload.
Make a key-encrypting key with: head -c 32 /dev/urandom | base64

hash-key reads an API key on standard input and prints its SHA-256, for
api_key_hash in the tokengate global option.

rsa-keygen writes an RSA-2048 key pair for the Juspay API: the private key
(PKCS#8 PEM, mode 0600) for jwe_key, or to give a merchant its half; the
public key (PEM) for merchant_key, or to give to clients.

jwe-encrypt reads a plaintext (the card JSON of generateToken's cardData) on
standard input and prints it as a compact JWE (RSA-OAEP-256, A128GCM) to the
public key, with --kid in its header; jwe-decrypt reads a compact JWE (a
generateToken answer's payload) and prints its plaintext. Both are for
trying the API by hand.

migrate copies the vault named by --from into the one named by --to, each
bolt:<path> (a bbolt vault file) or postgres:<dsn> (a pgx connection
string): every tenant's records and the builtin network token service's
state, as they are stored. It loads no keyset and decrypts nothing. A record
the target already holds unchanged is counted as already present; one it
holds differently (the same token with other content, or the same card under
another token) is a conflict, named by its token and never overwritten. Run
it again after an interruption to finish; a second run copies nothing. At
the end every source record is read back from the target; conflicts or a
record not found make the exit status non-zero. Before copying, it compares
the Tink key ids that sealed each vault's records (ids, never keys) and
refuses, naming them, to copy into a vault whose records were sealed with
keys the source's were not, and the other way round: no gateway could pay
with both. With --keyset (or --keyset-env; --kek-env if it is wrapped),
the keyset of the gateway that will serve the target, the check is exact:
every key of both vaults must be in it. Stop the gateway first: a
bbolt file in use by it is locked. Opening PostgreSQL creates or migrates
its schema.

backup asks the running gateway, through Caddy's admin endpoint (--address,
default localhost:2019), for a consistent copy of its bbolt vault file,
taken from one read transaction while it goes on serving. It writes the copy
to --to (never over an existing file; a temporary file beside it until the
copy is complete, synced and verified), and the copy's SHA-256 to
<file>.sha256. Verified means: the length and SHA-256 the gateway sent,
bbolt's page check, every record decodes and is in its tenant's fingerprint
index, and the record count the gateway sent. With --verify-keys, every
record must also open with the keyset named by --keyset or --keyset-env
(and --kek-env). The copy holds sealed records, keyed fingerprints and the
builtin network token service's state; never the keyset, which is backed up
apart. A PostgreSQL vault is backed up with pg_dump (the admin endpoint
answers 501).

verify-backup checks the backup file --from (and its .sha256) as restore
does, changing nothing.

restore verifies the backup --from (refusing one that fails), then puts a
copy at the bbolt vault file --vault (bolt:<path> or a path), written beside
it, synced and renamed. It refuses a file a running gateway holds (bbolt's
lock): stop the gateway, restore, start it. An existing file is replaced
only with --force, and kept beside it as <file>.replaced-<time>.

reseal seals every record of the vault named by --vault (bolt:<path> or
postgres:<dsn>) again with the primary key of the keyset in --keyset (or
the variable --keyset-env names; and --kek-env if it is wrapped), binding each to its token: records sealed
before tokengate bound the token open under another token of their tenant
if two rows are swapped, and records sealed before a rotate use an older
key. It writes compare-and-set, so it can run while gateways use the same
PostgreSQL database (stop the gateway for a bbolt file, which it locks). It
skips records already current, so running it again after an interruption
finishes the job and a second run re-seals nothing. It prints counts, never
card data; records that do not open where they are filed are named (tenant
and token) and make the exit status non-zero.

keys status prints the ids of the keys that sealed the records of the vault
named by --vault (Tink key ids, never keys). A vault written by a release
that did not record them is scanned and its list completed first (a
gateway does that in the background after it starts). With --keyset (or
--keyset-env; --kek-env if it is wrapped) it says whether that keyset holds
every one; the exit status is non-zero when it does not. It counts the
records each key sealed, from the records as they are now.

keys disable <key id> takes a sealing key out of the keyset file --keyset
(--kek-env, --kek-file or --kek-uri if it is wrapped) once no record of the vault
--vault is sealed with it: it refuses, changing nothing, while one is
(let the gateway's background re-seal finish, or run reseal) and for the
primary key. The key is marked disabled: it opens and seals nothing, and
stays in the file, wrapped, so keys enable <key id> can bring it back to
open a vault backup from before the re-seal; with --destroy it is deleted
from the keyset. The fingerprint key is never touched. Reload Caddy
afterwards.

purge asks the running gateway, through Caddy's admin endpoint (--address,
default localhost:2019), to erase cards of the tenant --tenant: all of
them; with --customer, those the Juspay customer saved (a card another
customer saved too only loses this customer); with --tokens, those tokens
(a file, one a line, or a comma list). Each card's network token is
deleted at its issuing service first (a service that fails keeps the card:
it is counted and the exit status is non-zero; run the purge again), then
the record, the cached and short-lived copies and any held CVV. --dry-run
counts and erases nothing; --rate bounds erasures per second (default
100). It draws a progress bar and prints counts, never card data. With
--vault (bolt:<path> or postgres:<dsn>) it works on the vault directly,
without a gateway (a stopped one's bbolt file): there is no network token
service then, so cards whose network token is live are kept and counted.

rules lint reads the rules file named by --rules and prints, one per line
as file:line: severity: set X: message, what the config load would refuse
(errors: a parse error, a token or a card value found where its other
values are not read or written) and what is probably a mistake (warnings:
a set an earlier set's match covers, so a handler using both in file order
never applies it; inbound sets a request can match both). It needs no
vault, keys or gateway. The exit status is non-zero when there is an
error; warnings alone exit 0.

rules explain reads a request body on standard input and prints it as it
would leave under the rule set --set of --rules: an inbound set's body as
the merchant receives it (card numbers as <token>), an outbound set's as
the processor receives it, once with a network token and once on the PAN
fallback, for a card of --brand (default visa), with the fields each case
touched and its Tokengate-Injected header. --content-type is the body's
type (default application/json; urlencoded forms and multipart too);
--json prints the report as JSON. It runs the gateway's own tokenizer and
detokenizer over throwaway in-memory parts: no vault, keys, network or
gateway is needed, and card values show as placeholders (<pan>,
<network_token>, <cryptogram>, <cvv>). The exit status is non-zero when
the body cannot be explained or, inbound, the gateway would refuse it.

audit verify checks the audit trail in --file (and its rolled files
beside it, oldest first) or, with --dsn, the PostgreSQL audit sink's chain
of --gateway: every entry's hash, the chain of hashes, the seqs, each
checkpoint's MAC (with the key derived from the keyset: --keyset or
--keyset-env, and --kek-env or --kek-file if it is wrapped) and the head
(the latest checkpoint, kept apart: a chain shorter than it was cut). It
exits 0 with the counts verified, or non-zero naming the first entry that
was changed, removed, inserted, reordered or truncated, or whose
checkpoint MAC is invalid (file, line and seq).

audit search prints as JSON lines the entries of --file (and its rolled
files) or --dsn that match --token, --tenant, --action, --since and
--until (RFC 3339 times); no keyset is needed.

keygen, rotate, wrap, rewrap, keys disable and enable, reseal, purge with
--vault, restore and migrate record what they do in the command-line audit
trail named by --audit-file <path> (default: the environment variable
TOKENGATE_AUDIT_FILE) or --audit-dsn <dsn> (the PostgreSQL audit sink's
tables), in the chain named --audit-gateway (default cli@<hostname>): the
operation (key ids and primary before and after, where the key-encrypting
key is, never a key; counts), the command, the OS user and the host. The
entry is written before anything changes: a chain that cannot be opened or
written makes the command refuse, changing nothing; a refusal is recorded
as refused, a failure after the entry as failed. The checkpoints are keyed
by the keyset the command loads (keygen: the new one), so purge --vault,
restore and migrate then need --keyset or --keyset-env. Use a file of its
own, never a running gateway's audit file (two writers fork the chain): a
file whose chain carries another name, or that another process holds open
for writing, is refused. Verify it with audit
verify --file.

version prints tokengate's version (stamped at build time by ./xcaddy.sh
and the Dockerfile from git describe), the Caddy version it is built
into, and the Go version and platform.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("keyset", "", "The keyset file")
			cmd.Flags().String("kek-env", "", "Environment variable holding the base64 key-encrypting key")
			cmd.Flags().String("new-kek-env", "", "wrap, rewrap: environment variable holding the new key-encrypting key")
			cmd.Flags().String("private", "", "rsa-keygen, jwe-decrypt: the RSA private key file")
			cmd.Flags().String("public", "", "rsa-keygen, jwe-encrypt: the RSA public key file")
			cmd.Flags().String("kid", "", "jwe-encrypt: the key id to put in the JWE header")
			cmd.Flags().String("from", "", "migrate: the vault to copy from, bolt:<path> or postgres:<dsn>; verify-backup, restore: the backup file")
			cmd.Flags().String("to", "", "migrate: the vault to copy into, bolt:<path> or postgres:<dsn>; backup: the backup file to write")
			cmd.Flags().String("vault", "", "reseal, keys status, keys disable, purge (offline): the vault, bolt:<path> or postgres:<dsn>; restore: the bbolt vault file to write")
			cmd.Flags().String("address", "", "backup: the address of Caddy's admin endpoint (default localhost:2019)")
			cmd.Flags().Bool("verify-keys", false, "backup, verify-backup, restore: check that the keyset (--keyset or --keyset-env, --kek-env) opens every record")
			cmd.Flags().Bool("force", false, "restore: replace an existing vault file (kept beside it)")
			cmd.Flags().String("rules", "", "rules lint, rules explain: the rules file")
			cmd.Flags().String("set", "", "rules explain: the rule set to apply")
			cmd.Flags().String("content-type", "", "rules explain: the body's Content-Type (default application/json)")
			cmd.Flags().String("brand", "", "rules explain: the card's brand for an outbound set (default visa)")
			cmd.Flags().Bool("json", false, "rules explain: print the report as JSON")
			cmd.Flags().String("tenant", "", "purge: the tenant whose cards are erased (all of them, or with --customer or --tokens)")
			cmd.Flags().String("customer", "", "purge: the Juspay customer id whose saved cards are erased")
			cmd.Flags().String("tokens", "", "purge: the tokens to erase, a file (one a line) or a comma list")
			cmd.Flags().Bool("dry-run", false, "purge: count what would be erased, erase nothing")
			cmd.Flags().Int("rate", 0, "purge: the most cards erased per second (default 100)")
			addKEKFlags(cmd) // command_kek.go
			cmd.Flags().Bool("destroy", false, "keys disable: delete the key from the keyset instead of disabling it")
			cmd.Flags().String("keyset-env", "", "reseal, migrate, keys status, --verify-keys, --audit-file of purge --vault and restore: instead of --keyset, the environment variable holding the keyset JSON (as keyset_env)")
			addAuditFlags(cmd)
			addCLIAuditFlags(cmd) // command_cliaudit.go
			cmd.RunE = func(c *cobra.Command, args []string) error {
				return caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
					if fl.NArg() == 1 && fl.Arg(0) == "version" {
						return cmdVersion(c.OutOrStdout())
					}
					if fl.NArg() == 2 && fl.Arg(0) == "audit" {
						return cmdAudit(c.Context(), fl.Arg(1), auditArgsOf(fl), c.OutOrStdout())
					}
					if fl.NArg() == 1 && fl.Arg(0) == "migrate" {
						return cmdMigrate(c.Context(), fl.String("from"), fl.String("to"),
							keysetOptions(fl), cliAuditArgsOf(fl), c.OutOrStdout(), c.ErrOrStderr())
					}
					if fl.NArg() == 2 && fl.Arg(0) == "rules" {
						return cmdRules(fl.Arg(1), rulesArgs{path: fl.String("rules"), set: fl.String("set"), contentType: fl.String("content-type"),
							brand: fl.String("brand"), json: fl.Bool("json")}, c.InOrStdin(), c.OutOrStdout())
					}
					if fl.NArg() == 2 && fl.Arg(0) == "keys" && fl.Arg(1) == "status" {
						return cmdKeysStatus(c.Context(), fl.String("vault"),
							keysetOptions(fl), c.OutOrStdout())
					}
					if fl.NArg() == 3 && fl.Arg(0) == "keys" && (fl.Arg(1) == "disable" || fl.Arg(1) == "enable") {
						return cmdKeysDisable(c.Context(), fl.Arg(1), fl.Arg(2), keysetOptions(fl),
							fl.String("vault"), fl.Bool("destroy"), cliAuditArgsOf(fl), c.OutOrStdout())
					}
					if fl.NArg() == 1 && (fl.Arg(0) == "backup" || fl.Arg(0) == "verify-backup" || fl.Arg(0) == "restore") {
						args := backupArgs{address: fl.String("address"), to: fl.String("to"), from: fl.String("from"), vault: fl.String("vault"),
							force: fl.Bool("force"), verifyKeys: fl.Bool("verify-keys"),
							keyset: keysetOptions(fl), audit: cliAuditArgsOf(fl)}
						switch fl.Arg(0) {
						case "backup":
							return cmdBackup(args, c.OutOrStdout())
						case "verify-backup":
							return cmdVerifyBackup(args, c.OutOrStdout())
						}
						return cmdRestore(args, c.OutOrStdout())
					}
					if fl.NArg() == 1 && fl.Arg(0) == "purge" {
						return cmdPurge(c.Context(), purgeArgs{address: fl.String("address"), tenant: fl.String("tenant"), customer: fl.String("customer"),
							tokens: fl.String("tokens"), dryRun: fl.Bool("dry-run"), rate: fl.Int("rate"), vault: fl.String("vault"),
							audit: cliAuditArgsOf(fl), keyset: keysetOptions(fl)}, c.OutOrStdout(), c.ErrOrStderr())
					}
					if fl.NArg() == 1 && fl.Arg(0) == "reseal" {
						return cmdReseal(c.Context(), keysetOptions(fl),
							fl.String("vault"), cliAuditArgsOf(fl), c.OutOrStdout(), c.ErrOrStderr())
					}
					return cmdKeyset(fl)
				})(c, args)
			}
		},
	})
}

func cmdKeyset(fl caddycmd.Flags) (int, error) {
	if fl.NArg() == 1 {
		switch fl.Arg(0) {
		case "hash-key":
			return hashKey(os.Stdin)
		case "rsa-keygen", "jwe-encrypt", "jwe-decrypt":
			return jweCommand(fl.Arg(0), fl.String("private"), fl.String("public"), fl.String("kid"), os.Stdin, os.Stdout)
		}
	}
	path := fl.String("keyset")
	if fl.NArg() != 1 || path == "" {
		return exitFailure, errors.New("usage: caddy tokengate keygen|rotate|wrap|rewrap --keyset <file> [--kek-env <VARIABLE> | --kek-file <path> | --kek-uri aws-kms://...] [--new-kek-env | --new-kek-file | --new-kek-uri ...], or caddy tokengate hash-key")
	}
	switch fl.Arg(0) {
	case "keygen", "rotate", "wrap", "rewrap":
		// command_keyset_audit.go: recorded in the command-line audit trail.
		o := keysetOp{op: fl.Arg(0), path: path, audit: cliAuditArgsOf(fl)}
		var err error
		if o.kekSrc, err = kekSourceFlags(fl, ""); err != nil {
			return exitFailure, err
		}
		if o.kek, err = kekFlags(context.Background(), fl, ""); err != nil { // command_kek.go
			return exitFailure, err
		}
		if fl.Arg(0) == "wrap" || fl.Arg(0) == "rewrap" {
			if o.newSrc, err = kekSourceFlags(fl, "new-"); err != nil {
				return exitFailure, err
			}
			if o.newKEK, err = kekFlags(context.Background(), fl, "new-"); err != nil {
				return exitFailure, err
			}
		}
		return o.run(context.Background())
	}
	return exitFailure, fmt.Errorf("unknown subcommand %q (want keygen, rotate, wrap, rewrap, hash-key, rsa-keygen, jwe-encrypt, jwe-decrypt, migrate, backup, verify-backup, restore, reseal, keys status, purge, rules or version)", fl.Arg(0))
}

// cmdMigrate runs caddy tokengate migrate (see vault/migrate): the progress
// bar on errOut, the summary on out. An interrupt stops it between batches;
// running it again finishes the job.
//
// With --keyset (or --keyset-env), the keyset of the gateway that will serve
// the target, every key that sealed a record of either vault must be in it;
// without, the two vaults' keys are compared (see vault/migrate/keycheck.go).
func cmdMigrate(ctx context.Context, from, to string, keyset keys.Options, aargs cliAuditArgs, out, errOut io.Writer) (int, error) {
	var opts migrate.Options
	var ks *keys.Keys
	if keyset.File != "" || keyset.Env != "" {
		var err error
		if ks, _, err = keys.Load(keyset); err != nil { // no DevFile: never a new keyset
			return exitFailure, err
		}
		opts.Keyset = ks
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return auditedMigrate(ctx, from, to, ks, aargs, func() (migrate.Report, error) { // command_audited.go
		return migrate.Command(ctx, from, to, out, errOut, opts)
	})
}

// cmdReseal runs caddy tokengate reseal (see vault/reseal): the progress
// bar on errOut, the summary on out. An interrupt stops it between records;
// running it again finishes the job.
func cmdReseal(ctx context.Context, keyset keys.Options, where string, aargs cliAuditArgs, out, errOut io.Writer) (int, error) {
	if keyset.File == "" && keyset.Env == "" || where == "" {
		return exitFailure, errors.New("usage: caddy tokengate reseal --keyset <file> | --keyset-env <VARIABLE> [--kek-env <VARIABLE>] --vault bolt:<path>|postgres:<dsn>")
	}
	ks, _, err := keys.Load(keyset) // no DevFile: never a new keyset
	if err != nil {
		return exitFailure, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return auditedReseal(ctx, where, ks, aargs, func() (reseal.Report, error) { // command_audited.go
		return reseal.Command(ctx, where, ks, out, errOut, reseal.Options{})
	})
}

// kekFromEnv reads a key-encrypting key from the named variable; no name
// means none. An unset variable is said to be unset.
func kekFromEnv(name string) (tink.AEAD, error) {
	if name == "" {
		return nil, nil
	}
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return nil, fmt.Errorf("environment variable %s is not set (it should hold a base64 32-byte key-encrypting key)", name)
	}
	kek, err := keys.KEKFromBase64(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return kek, nil
}

// hashKey prints the SHA-256 of the API key read from in (one line).
func hashKey(in io.Reader) (int, error) {
	line, err := bufio.NewReader(in).ReadString('\n')
	key := strings.TrimRight(line, "\r\n")
	if key == "" {
		if err == nil || err == io.EOF {
			err = errors.New("no API key on standard input")
		}
		return exitFailure, err
	}
	fmt.Println(apiKeyHash(key))
	return caddy.ExitCodeSuccess, nil
}

// exitFailure is the exit status for a failed command, as Caddy's own commands use.
const (
	exitSuccess = caddy.ExitCodeSuccess
	exitFailure = caddy.ExitCodeFailedStartup
)

// writeKeyset replaces the file atomically, so a crash never leaves a
// half-written keyset (which would make every sealed card unreadable). A
// missing directory is made, readable by its owner only.
func writeKeyset(path string, data []byte) (int, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return exitFailure, err
	}
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

// jweCommand runs rsa-keygen, jwe-encrypt and jwe-decrypt.
func jweCommand(name, private, public, kid string, in io.Reader, out io.Writer) (int, error) {
	switch name {
	case "rsa-keygen":
		if private == "" || public == "" {
			return exitFailure, errors.New("usage: caddy tokengate rsa-keygen --private <file> --public <file>")
		}
		if err := jwe.GenerateKeyPair(private, public); err != nil {
			return exitFailure, err
		}
		fmt.Fprintf(out, "wrote %s (private, 0600) and %s (public)\n", private, public)
		return exitSuccess, nil
	case "jwe-encrypt":
		if public == "" {
			return exitFailure, errors.New("usage: caddy tokengate jwe-encrypt --public <file> [--kid <kid>] < plaintext")
		}
		key, err := jwe.LoadPublicKey(public)
		if err != nil {
			return exitFailure, err
		}
		plain, err := io.ReadAll(in)
		if err != nil {
			return exitFailure, err
		}
		compact, err := jwe.Encrypt(key, kid, bytes.TrimRight(plain, "\r\n"))
		if err != nil {
			return exitFailure, err
		}
		fmt.Fprintln(out, compact)
		return exitSuccess, nil
	}
	if private == "" {
		return exitFailure, errors.New("usage: caddy tokengate jwe-decrypt --private <file> < jwe")
	}
	key, err := jwe.LoadPrivateKey(private)
	if err != nil {
		return exitFailure, err
	}
	compact, err := io.ReadAll(in)
	if err != nil {
		return exitFailure, err
	}
	plain, err := jwe.Decrypt(key, strings.TrimSpace(string(compact)))
	if err != nil {
		return exitFailure, err
	}
	fmt.Fprintln(out, string(plain))
	return exitSuccess, nil
}
