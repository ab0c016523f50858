package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault/boltvault"
)

// keysSeen is the keyset the last config of this process opened with
// (its key ids and primary), so that a reload whose keyset differs (after
// `caddy tokengate rotate`, a key disabled) is recorded (ActionKeys). The
// first load of a process is the config_load entry's to record.
var keysSeen struct {
	mu      sync.Mutex
	set     bool
	ids     []uint32
	primary uint32
}

// recordKeys records the app's keyset when its key ids or primary differ
// from the last config's, with both. A recorder that fails is logged and
// counted, and the change is tried again at the next load: the keyset is
// in use either way (refusing to start would not undo the rotation).
func (a *App) recordKeys(ctx context.Context, rec audit.Recorder, ks *keys.Keys) {
	if ks == nil {
		return
	}
	ids, primary := ks.KeyIDs(), ks.PrimaryKeyID()
	keysSeen.mu.Lock()
	defer keysSeen.mu.Unlock()
	if !keysSeen.set {
		keysSeen.set, keysSeen.ids, keysSeen.primary = true, ids, primary
		return
	}
	if primary == keysSeen.primary && slices.Equal(ids, keysSeen.ids) {
		return
	}
	e := audit.Entry{Time: time.Now().UTC(), Action: audit.ActionKeys, Outcome: audit.OutcomeOK, Detail: map[string]string{
		"key_ids": joinIDs(ids), "primary": strconv.FormatUint(uint64(primary), 10),
		"previous_key_ids": joinIDs(keysSeen.ids), "previous_primary": strconv.FormatUint(uint64(keysSeen.primary), 10),
	}}
	if err := rec.Record(ctx, e); err != nil {
		auditWriteFailed(a.logger, ctx, audit.ActionKeys, err)
		return
	}
	keysSeen.ids, keysSeen.primary = ids, primary
}

// joinIDs writes key ids as decimals separated by commas.
func joinIDs(ids []uint32) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(id), 10))
	}
	return b.String()
}

// recordBackup records a backup through the admin endpoint before any of
// it is streamed: the records and state entries it holds, the keyset's key
// ids and primary (which a restore needs). One the recorder cannot write
// is refused (503): the copy holds every sealed card.
func (a *App) recordBackup(ctx context.Context, s boltvault.Snapshot) error {
	st := a.stack.Load()
	e := audit.Entry{Time: time.Now().UTC(), Action: audit.ActionBackup, Outcome: audit.OutcomeOK, Detail: map[string]string{
		"via": "admin_endpoint", "records": strconv.FormatInt(s.Records, 10), "state_entries": strconv.FormatInt(s.StateEntries, 10),
		"bytes": strconv.FormatInt(s.Size, 10),
	}}
	if a.keys != nil {
		e.Detail["key_ids"], e.Detail["primary"] = joinIDs(a.keys.KeyIDs()), strconv.FormatUint(uint64(a.keys.PrimaryKeyID()), 10)
	}
	if err := st.Audit.Record(ctx, e); err != nil {
		a.logger.Error("backup refused: its audit entry could not be written", zap.Error(err))
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("the audit trail could not record the backup; nothing was copied (retry later)")}
	}
	return nil
}
