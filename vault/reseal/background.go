package reseal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
)

// The background re-seal runs in the gateway after a keyset whose primary
// key did not seal every record is loaded (a reload after caddy tokengate
// rotate): it walks the records in the vault's order (tenant, then token)
// and re-seals, with Step, those not under the primary key, at a bounded
// rate, so that the old key can then be taken out of the keyset (caddy
// tokengate keys disable).
//
// It is resumable: a cursor (the primary key id, and the tenant and token
// of the last record done) is kept in the vault, saved at most once a
// second and when it stops, so a restart or a reload continues where it
// was. Records before the cursor that another pass already did are not
// walked again; at most a second's work is walked twice, and a record
// already under the primary is skipped without a write.
//
// It reads records as they are filed (Export pages), re-seals only those
// that are not current, and writes compare-and-set (Update), so a
// foreground write that lands meanwhile wins and the record is read again.

// CursorStore keeps the cursor: a key-value space of the vault
// (network.StateStore has these methods; bbolt's KV bucket, PostgreSQL's
// tokengate_kv).
type CursorStore interface {
	Load(ctx context.Context, id string) ([]byte, error)
	Save(ctx context.Context, id string, data []byte) error
}

// cursorID is the cursor's id in its store.
const cursorID = "cursor"

// Cursor is where a background pass is.
type Cursor struct {
	// Primary is the primary key id the pass re-seals to; a cursor of
	// another primary (a later rotate) is started afresh.
	Primary uint32 `json:"primary"`
	// Tenant and Token name the last record done ("" before the first).
	Tenant string `json:"tenant,omitempty"`
	Token  string `json:"token,omitempty"`
	// Done says every record was under Primary at the pass's end.
	Done bool `json:"done,omitempty"`
}

// DefaultRate is the default number of records re-sealed per second.
const DefaultRate = 200

// Background is one gateway's background re-seal.
type Background struct {
	// Vault is the backend itself (not the read cache: a stale cached
	// record would conflict on every write).
	Vault Backend
	Keys  *keys.Keys
	// Cursor keeps the cursor.
	Cursor CursorStore
	// Rate is records re-sealed per second (0: DefaultRate). Records
	// already current are walked at up to 50 times that, reads only.
	Rate float64
	// Batch is how many records a page of the walk holds (0: 100).
	Batch int
	// Invalidate drops a rewritten record from the read cache.
	Invalidate func(tenant, token string)
	// Observe is told every record's result; Remaining, the number of
	// records not yet under the primary key (counted at the start of a
	// pass, then counted down).
	Observe   func(Result)
	Remaining func(int64)
	// Audit records the start and the end of a pass (never nil: use
	// audit.Discard).
	Audit audit.Recorder
	// Lock, when set, takes a lock shared with other gateways (PostgreSQL's
	// advisory lock): ok false means another runs the pass.
	Lock func(ctx context.Context) (release func(), ok bool, err error)
	// Log reports what a pass did (msg and key-value pairs, never card
	// data).
	Log func(msg string, kv ...any)
	// SaveEvery is how often the cursor is saved while walking (0: 1 s).
	SaveEvery time.Duration
}

// Pass is what one pass did.
type Pass struct {
	Report
	// Skipped is set when there was nothing to do (every record was under
	// the primary key already) or another gateway runs the pass.
	Skipped string
	// ResumedAfter is true when the pass continued from a saved cursor.
	Resumed bool
}

// ErrLocked is Run's error when another gateway holds the lock.
var ErrLocked = errors.New("reseal: another gateway runs the background re-seal")

// Run makes one pass: nothing if the cursor says this primary is done or
// no record needs it; else from the cursor to the end. It returns when the
// pass ends, ctx ends (the cursor saved), or a storage error.
func (b *Background) Run(ctx context.Context) (pass Pass, err error) {
	start := time.Now()
	defer func() { pass.Elapsed = time.Since(start) }()
	if b.Lock != nil {
		release, ok, err := b.Lock(ctx)
		if err != nil {
			return pass, err
		}
		if !ok {
			return pass, ErrLocked
		}
		defer release()
	}
	primary := b.Keys.PrimaryKeyID()
	cur, err := b.load(ctx)
	if err != nil {
		return pass, err
	}
	if cur.Primary == primary && cur.Done {
		b.remaining(0)
		pass.Skipped = "done"
		return pass, nil
	}
	if cur.Primary != primary {
		cur = Cursor{Primary: primary}
	}
	counts, err := vault.CountSealingKeys(ctx, b.Vault)
	if err != nil {
		return pass, err
	}
	remaining, old := b.toReseal(counts)
	pass.Total = counts.Total()
	b.remaining(remaining)
	if remaining == 0 {
		cur = Cursor{Primary: primary, Done: true}
		pass.Skipped = "current"
		return pass, b.save(ctx, cur)
	}
	pass.Resumed = cur.Tenant != "" || cur.Token != ""
	if err := b.record(ctx, "start", audit.OutcomeOK, map[string]string{
		"primary_key": strconv.FormatUint(uint64(primary), 10), "old_keys": vault.KeyIDList(old),
		"remaining": strconv.FormatInt(remaining, 10), "resumed": strconv.FormatBool(pass.Resumed),
	}); err != nil {
		return pass, err
	}
	b.log("background re-seal started", "primary_key", primary, "old_keys", vault.KeyIDList(old), "remaining", remaining, "resumed", pass.Resumed)

	err = b.walk(ctx, &cur, &pass.Report, &remaining)
	if err != nil {
		// Stopped (a reload, a stop) or a storage error: keep what is done.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if serr := b.save(sctx, cur); serr != nil {
			err = errors.Join(err, serr)
		}
		event, outcome := "failed", audit.OutcomeFailed
		if ctx.Err() != nil {
			event, outcome = "stopped", audit.OutcomeOK // the next start or reload continues
		}
		_ = b.record(sctx, event, outcome, b.detail(primary, pass.Report, remaining))
		return pass, err
	}
	// The walk is through. Count again: records written meanwhile by a
	// gateway still on the old keyset are found, and the next pass (the
	// next start or reload) walks again.
	if counts, err = vault.CountSealingKeys(ctx, b.Vault); err != nil {
		return pass, err
	}
	remaining, _ = b.toReseal(counts)
	b.remaining(remaining)
	cur = Cursor{Primary: primary, Done: remaining == 0}
	if err := b.save(ctx, cur); err != nil {
		return pass, err
	}
	if err := b.record(ctx, "end", audit.OutcomeOK, b.detail(primary, pass.Report, remaining)); err != nil {
		return pass, err
	}
	b.log("background re-seal pass ended", "resealed", pass.Resealed, "current", pass.Current, "gone", pass.Gone,
		"unreadable", pass.Unreadable, "remaining", remaining, "seconds", time.Since(start).Seconds())
	return pass, nil
}

// toReseal counts the records sealed by keys of the keyset other than the
// primary: those a pass re-seals (a key the keyset lacks opens nothing and
// is not counted; the gateway's start refuses such a vault anyway).
func (b *Background) toReseal(c vault.KeyCounts) (n int64, old []uint32) {
	for _, id := range c.IDs() {
		if id != b.Keys.PrimaryKeyID() && b.Keys.HasKeyID(id) {
			n += c.ByKey[id]
			old = append(old, id)
		}
	}
	return n, old
}

func (b *Background) walk(ctx context.Context, cur *Cursor, rep *Report, remaining *int64) error {
	r := b.Rate
	if r <= 0 {
		r = DefaultRate
	}
	batch := b.Batch
	if batch <= 0 {
		batch = 100
	}
	every := b.SaveEvery
	if every <= 0 {
		every = time.Second
	}
	writes := rate.NewLimiter(rate.Limit(r), max(1, int(r)/10)) // a tenth of a second's worth at once: even, small steps
	reads := rate.NewLimiter(rate.Limit(r*50), batch)
	saved := time.Now()
	for {
		recs, err := b.Vault.Export(ctx, vault.RecordKey{Tenant: cur.Tenant, Token: cur.Token}, batch)
		if err != nil {
			return fmt.Errorf("reseal: reading records: %w", err)
		}
		if len(recs) == 0 {
			return nil
		}
		if err := reads.WaitN(ctx, len(recs)); err != nil {
			return err
		}
		for _, rec := range recs {
			res := Current
			if !b.Keys.Current(rec.Sealed) {
				if err := writes.Wait(ctx); err != nil {
					return err
				}
				// A record under way is finished even if ctx ends meanwhile:
				// a write cut short may still commit (PostgreSQL), and the
				// cursor must then be past it, not before.
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				var retries int
				res, retries, err = Step(sctx, b.Vault, b.Keys, rec.Tenant, rec.Token)
				cancel()
				rep.Retries += int64(retries)
				if err != nil {
					return err
				}
				if res == Resealed && b.Invalidate != nil {
					b.Invalidate(rec.Tenant, rec.Token)
				}
				if id, ok := vault.SealingKeyID(rec.Sealed); (res == Resealed || res == Gone) && ok && b.Keys.HasKeyID(id) && id != b.Keys.PrimaryKeyID() {
					*remaining = max(0, *remaining-1)
					b.remaining(*remaining)
				}
			}
			rep.count(res, rec.Tenant, rec.Token)
			if b.Observe != nil {
				b.Observe(res)
			}
			cur.Tenant, cur.Token = rec.Tenant, rec.Token
		}
		if time.Since(saved) >= every {
			if err := b.save(ctx, *cur); err != nil {
				return err
			}
			saved = time.Now()
		}
	}
}

func (b *Background) detail(primary uint32, rep Report, remaining int64) map[string]string {
	return map[string]string{
		"primary_key": strconv.FormatUint(uint64(primary), 10),
		"resealed":    strconv.FormatInt(rep.Resealed, 10), "current": strconv.FormatInt(rep.Current, 10),
		"gone": strconv.FormatInt(rep.Gone, 10), "unreadable": strconv.FormatInt(rep.Unreadable, 10),
		"remaining": strconv.FormatInt(remaining, 10),
	}
}

func (b *Background) record(ctx context.Context, event, outcome string, detail map[string]string) error {
	if b.Audit == nil {
		return nil
	}
	detail["event"] = event
	return b.Audit.Record(ctx, audit.Entry{Time: time.Now().UTC(), Action: audit.ActionReseal, Outcome: outcome, Detail: detail})
}

func (b *Background) load(ctx context.Context) (Cursor, error) {
	var cur Cursor
	data, err := b.Cursor.Load(ctx, cursorID)
	if err != nil || data == nil {
		return cur, err
	}
	if err := json.Unmarshal(data, &cur); err != nil {
		return Cursor{}, nil // a cursor that does not decode: start afresh (idempotent)
	}
	return cur, nil
}

func (b *Background) save(ctx context.Context, cur Cursor) error {
	data, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	if err := b.Cursor.Save(ctx, cursorID, data); err != nil {
		return fmt.Errorf("reseal: saving the cursor: %w", err)
	}
	return nil
}

func (b *Background) remaining(n int64) {
	if b.Remaining != nil {
		b.Remaining(n)
	}
}

func (b *Background) log(msg string, kv ...any) {
	if b.Log != nil {
		b.Log(msg, kv...)
	}
}

// LoadCursor returns the cursor kept in store, for a status report.
func LoadCursor(ctx context.Context, store CursorStore) (Cursor, error) {
	return (&Background{Cursor: store}).load(ctx)
}
