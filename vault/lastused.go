package vault

import (
	"context"
	"maps"
	"sync/atomic"
	"time"
)

// LastUsedKey is the Metadata key holding the day (UTC, "2006-01-02") a
// card was last used: read by token (detokenize, a served API's reveal or
// cryptogram) or tokenized again. Retention deletes cards not used for
// longer than their tenant's period (package purge).
const LastUsedKey = "tokengate.last_used"

const lastUsedLayout = "2006-01-02"

// LastUsed returns when rec was last used, at the latest: the end of the
// day LastUsedKey holds (the use was some time that day; its start would
// make a card used a moment ago look hours old, and a retention period
// shorter than a day erase it at once), else when it was created (the
// retention sweep gives a record stored before uses were recorded its
// first day, so this is a card stored by a path that records none). UpdatedAt is not used: a re-seal or a network token's
// status change writes the record without anybody using the card.
func LastUsed(rec Record) time.Time {
	if d, err := time.Parse(lastUsedLayout, rec.Metadata[LastUsedKey]); err == nil {
		return d.Add(24 * time.Hour)
	}
	return rec.CreatedAt
}

// Touching is a vault that records, in the record, the day a card is used:
// Get by token, and GetByFingerprint or Put of a card the tenant already
// holds (tokenized again).
// It writes at most once per card per day: only when the stored day is not
// today, with the vault's compare-and-set Update; a write that fails (a
// conflict, an outage) is skipped and the record returned as read, since the
// day is a hint for retention, never a reason to refuse a payment. It sits
// over the read cache, so a returning card costs a cached read and a string
// comparison.
type Touching struct {
	Vault
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	day atomic.Pointer[touchDay] // today's day, formatted once a day
}

type touchDay struct {
	unix int64 // days since the epoch
	s    string
	meta map[string]string // {LastUsedKey: s}, shared by the new records stamped today (see dayMaps)
}

func (t *Touching) today() string { return t.todays().s }

func (t *Touching) todays() *touchDay {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	n := now().UTC()
	d := n.Unix() / 86400
	if c := t.day.Load(); c != nil && c.unix == d {
		return c
	}
	s := n.Format(lastUsedLayout)
	c := &touchDay{unix: d, s: s, meta: map[string]string{LastUsedKey: s}}
	t.day.Store(c)
	return c
}

type noTouchKey struct{}

// WithoutTouch marks ctx so that reads through a Touching vault do not count
// as uses (the retention sweep and a purge read the records they erase).
func WithoutTouch(ctx context.Context) context.Context {
	return context.WithValue(ctx, noTouchKey{}, true)
}

// touch writes today's day into rec if it holds another.
func (t *Touching) touch(ctx context.Context, rec Record) Record {
	day := t.today()
	if rec.Metadata[LastUsedKey] == day || IsShortLived(rec) || ctx.Value(noTouchKey{}) != nil {
		return rec
	}
	next := rec
	next.Metadata = maps.Clone(rec.Metadata)
	if next.Metadata == nil {
		next.Metadata = map[string]string{}
	}
	next.Metadata[LastUsedKey] = day
	stored, err := t.Vault.Update(context.WithoutCancel(ctx), next)
	if err != nil {
		return rec
	}
	return stored
}

// Get implements Vault.
func (t *Touching) Get(ctx context.Context, tenant, token string) (Record, error) {
	rec, err := t.Vault.Get(ctx, tenant, token)
	if err != nil {
		return rec, err
	}
	return t.touch(ctx, rec), nil
}

// GetByFingerprint implements Vault: the tokenizer finds a card presented
// again by its fingerprint.
func (t *Touching) GetByFingerprint(ctx context.Context, tenant, fingerprint string) (Record, error) {
	rec, err := t.Vault.GetByFingerprint(ctx, tenant, fingerprint)
	if err != nil {
		return rec, err
	}
	return t.touch(ctx, rec), nil
}

// stamp gives a new record today's day, so that its uses the same day
// write nothing. A record with no other Metadata gets the day's shared map.
func (t *Touching) stamp(rec Record) Record {
	if _, ok := rec.Metadata[LastUsedKey]; ok || IsShortLived(rec) {
		return rec
	}
	if len(rec.Metadata) == 0 {
		rec.Metadata = t.todays().meta
		return rec
	}
	rec.Metadata = maps.Clone(rec.Metadata) // not empty: the clone is a map
	rec.Metadata[LastUsedKey] = t.today()
	return rec
}

// Put implements Vault: a new record starts with today's day.
func (t *Touching) Put(ctx context.Context, rec Record) (Record, bool, error) {
	stored, created, err := t.Vault.Put(ctx, t.stamp(rec))
	if err != nil || created {
		return stored, created, err
	}
	return t.touch(ctx, stored), false, nil
}

// PutInUnit implements UnitWriter.
func (t *Touching) PutInUnit(ctx context.Context, unit *Unit, rec Record) (Record, bool, error) {
	stored, created, err := Put(ctx, t.Vault, unit, t.stamp(rec))
	if err != nil || created {
		return stored, created, err
	}
	return t.touch(ctx, stored), false, nil
}

// UpdateInUnit implements UnitWriter.
func (t *Touching) UpdateInUnit(ctx context.Context, unit *Unit, rec Record) (Record, error) {
	return Update(ctx, t.Vault, unit, rec)
}

// Invalidate implements Invalidator.
func (t *Touching) Invalidate(tenant, token string) { Invalidate(t.Vault, tenant, token) }

// Interface guards.
var (
	_ Vault       = (*Touching)(nil)
	_ Invalidator = (*Touching)(nil)
	_ UnitWriter  = (*Touching)(nil)
)
