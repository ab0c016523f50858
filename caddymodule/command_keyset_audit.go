package caddymodule

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
)

// keysetOp is one of keygen, rotate, wrap, rewrap on the keyset file path:
// kek (from kekSrc) opens it (nil: cleartext), newKEK (from newSrc) wraps
// it for wrap and rewrap.
type keysetOp struct {
	op, path       string
	kekSrc, newSrc keys.KEKSource
	kek, newKEK    tink.AEAD
	audit          cliAuditArgs
}

// run computes the new keyset, records the operation in the command-line
// audit trail (if one is named) before the file is written, and writes it.
// An audit trail that cannot be opened or written leaves the file as it
// was; a write that fails after its entry adds a failed entry.
func (o keysetOp) run(ctx context.Context) (int, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var before, after *keys.Keys
	var data []byte
	var err error
	switch o.op {
	case "keygen":
		if _, err := os.Stat(o.path); err == nil {
			return exitFailure, fmt.Errorf("%s exists; keygen never overwrites a keyset (use rotate)", o.path)
		}
		if data, err = keys.GenerateKeyset(o.kek); err != nil {
			return exitFailure, err
		}
		if after, err = keys.Parse(data, o.kek); err != nil {
			return exitFailure, err
		}
	case "rotate", "wrap", "rewrap":
		if o.op != "rotate" && o.newKEK == nil {
			return exitFailure, fmt.Errorf("%s %w", o.op, errNoNewKEK)
		}
		old, err := os.ReadFile(o.path)
		if err != nil {
			return exitFailure, err
		}
		if before, err = keys.Parse(old, o.kek); err != nil {
			return exitFailure, fmt.Errorf("%s: %w", o.path, err)
		}
		openWith := o.kek
		if o.op == "rotate" {
			data, err = keys.RotateKeyset(old, o.kek)
		} else {
			data, err = keys.RewrapKeyset(old, o.kek, o.newKEK)
			openWith = o.newKEK
		}
		if err == nil {
			after, err = keys.Parse(data, openWith)
		}
		if err != nil {
			return exitFailure, fmt.Errorf("%s: %w", o.path, err)
		}
	default:
		return exitFailure, fmt.Errorf("unknown keyset operation %q", o.op)
	}
	// The checkpoint key is derived from the fingerprint key, which these
	// operations keep: before and after give the same one (keygen: the new
	// keyset's).
	ks := before
	if ks == nil {
		ks = after
	}
	a, err := openCLIAudit(ctx, o.audit, o.op, ks)
	if err != nil {
		return exitFailure, err
	}
	e := audit.Entry{Time: time.Now().UTC(), Action: audit.ActionKeys, Detail: keysDetail(o.op, o.path, o.kekSrc, before, after)}
	if o.op == "wrap" || o.op == "rewrap" {
		e.Detail["new_kek"] = kekLabel(o.newSrc)
	}
	if err := a.begin(ctx, e); err != nil {
		return closeAudit(a, exitFailure, err)
	}
	begun := a.seq()
	code, err := writeKeyset(o.path, data)
	if err != nil {
		err = a.failed(ctx, e, begun, audit.OutcomeFailed, fmt.Errorf("writing %s: %w", o.path, err))
	}
	return closeAudit(a, code, err)
}

// formatID writes a key id as a decimal.
func formatID(id uint32) string { return strconv.FormatUint(uint64(id), 10) }
