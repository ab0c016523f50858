package purge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/tokengate/tokengate/vault"
)

// Policy is how long each tenant's cards are kept unused.
type Policy struct {
	// Default applies to every tenant not in Tenants; 0 keeps cards
	// forever.
	Default time.Duration
	// Tenants overrides Default per tenant (0: kept forever).
	Tenants map[string]time.Duration
}

// For returns tenant's period (0: kept forever).
func (p Policy) For(tenant string) time.Duration {
	if d, ok := p.Tenants[tenant]; ok {
		return d
	}
	return p.Default
}

// Expired reports whether rec was last used longer than its tenant's
// period before now.
func (p Policy) Expired(rec vault.Record, now time.Time) bool {
	d := p.For(rec.Tenant)
	return d > 0 && !vault.IsShortLived(rec) && vault.LastUsed(rec).Before(now.Add(-d))
}

// Sweeper is the retention sweep.
type Sweeper struct {
	Eraser *Eraser
	// Records walks every tenant's records (the opened backend).
	Records vault.Exporter
	Policy  Policy
	// Rate bounds the erasures per second (0: 100), so a first sweep over
	// years of cards does not flood the network token services.
	Rate int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Report counts a sweep or a purge.
type Report struct {
	// Walked records were looked at (a purge: selected).
	Walked int64 `json:"walked"`
	// Erased records were deleted (a dry run: would be).
	Erased int64 `json:"erased"`
	// Kept records were due but kept: their network token could not be
	// deleted at its service; the next sweep or purge tries again.
	Kept int64 `json:"kept"`
	// Forgotten records (a customer purge) lost the customer's mark but
	// stay saved for another customer.
	Forgotten int64 `json:"forgotten,omitempty"`
}

// Sweep walks every record once and erases those expired. It stops at a
// storage error, an audit failure, or when ctx ends.
func (s *Sweeper) Sweep(ctx context.Context) (Report, error) {
	var rep Report
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	pace := pacer(s.Rate)
	defer pace.Stop()
	after := vault.RecordKey{}
	for {
		recs, err := s.Records.Export(ctx, after, 500)
		if err != nil {
			return rep, fmt.Errorf("retention: reading records: %w", err)
		}
		if len(recs) == 0 {
			return rep, nil
		}
		t := now()
		for _, rec := range recs {
			rep.Walked++
			if _, ok := rec.Metadata[vault.LastUsedKey]; !ok && !vault.IsShortLived(rec) {
				// Stored before uses were recorded: when it was last used
				// is unknown, and counting from its creation would erase
				// cards still in use the first time retention is turned
				// on. Its period starts now (a conflict: next sweep).
				next := rec
				next.Metadata = maps.Clone(rec.Metadata)
				if next.Metadata == nil {
					next.Metadata = map[string]string{}
				}
				next.Metadata[vault.LastUsedKey] = t.UTC().Format(time.DateOnly)
				_, _ = s.Eraser.Vault.Update(vault.WithoutTouch(ctx), next)
				continue
			}
			if !s.Policy.Expired(rec, t) {
				continue
			}
			select {
			case <-ctx.Done():
				return rep, ctx.Err()
			case <-pace.C:
			}
			erased, err := s.Eraser.EraseIf(ctx, rec.Tenant, rec.Token, ReasonRetention, func(r vault.Record) bool { return s.Policy.Expired(r, now()) })
			switch {
			case errors.Is(err, ErrNetworkToken):
				rep.Kept++
			case err != nil:
				return rep, err
			case erased:
				rep.Erased++
			}
		}
		last := recs[len(recs)-1]
		after = vault.RecordKey{Tenant: last.Tenant, Token: last.Token}
	}
}

// pacer ticks rate times a second (0: 100).
func pacer(rate int) *time.Ticker {
	if rate <= 0 {
		rate = 100
	}
	return time.NewTicker(max(time.Second/time.Duration(rate), time.Microsecond)) // a huge rate must not make it 0 (a panic)
}
