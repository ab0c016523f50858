package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/stack"
	"github.com/tokengate/tokengate/vault/reseal"
)

// ResealConfig is the background re-seal (vault/reseal.Background): after
// a keyset whose primary key did not seal every record is loaded (a reload
// after `caddy tokengate rotate`), the gateway re-seals the records under
// the primary key, at a bounded rate, resuming from a cursor kept in the
// vault. PCI DSS 3.6.4 and 3.7.4: a key at the end of its cryptoperiod
// stops protecting data, and can then be retired (`caddy tokengate keys
// disable`).
type ResealConfig struct {
	// Rate is how many records are re-sealed per second at most. The
	// default is 200: a vault of a million cards moves to a new key in
	// under an hour and a half, at a cost to foreground requests of one
	// read and one compare-and-set write every 5 ms.
	Rate float64 `json:"rate,omitempty"`
	// Off turns the background re-seal off (`caddy tokengate reseal` does
	// it offline).
	Off bool `json:"off,omitempty"`
}

// maxResealRate bounds rate: beyond it, a typo rather than a choice.
const maxResealRate = 100_000

// validate checks the config (nil is the default).
func (c *ResealConfig) validate() error {
	if c != nil && c.Rate != 0 && !(c.Rate >= 1 && c.Rate <= maxResealRate) { // !(>=) refuses NaN too
		return fmt.Errorf("tokengate: reseal rate %v: want records per second between 1 and %d", c.Rate, maxResealRate)
	}
	return nil
}

// unmarshalReseal parses, in the tokengate option:
//
//	reseal off
//	reseal {
//		rate <records per second>
//	}
func (a *App) unmarshalReseal(d *caddyfile.Dispenser) error {
	c := &ResealConfig{}
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() || d.NextBlock(1) {
			return d.Errf("reseal takes `off` or a block { rate <records per second> }")
		}
		c.Off = true
		a.Reseal = c
		return nil
	}
	for d.NextBlock(1) {
		switch d.Val() {
		case "rate":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return d.ArgErr()
			}
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || !(r >= 1 && r <= maxResealRate) {
				return d.Errf("reseal rate %q: want records per second between 1 and %d", v, maxResealRate)
			}
			c.Rate = r
		default:
			return d.Errf("unrecognized reseal option %q", d.Val())
		}
	}
	a.Reseal = c
	return nil
}

// Metrics of the background re-seal.
var (
	resealRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "reseal_records_total",
		Help: "Records the background re-seal went through, by result: resealed (sealed again under the primary key), current (already under it), gone (deleted meanwhile), unreadable (does not open where it is filed).",
	}, []string{"result"})
	resealRemaining = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "reseal_remaining",
		Help: "Records not yet sealed under the primary key, as the background re-seal counted them at the start of its pass and counts down; 0 once every record is under the primary key, and the old key can be disabled.",
	})
	resealCollectors = []prometheus.Collector{resealRecords, resealRemaining}
)

// resealSlot lets one background re-seal run in the process at a time: a
// reload starts the new config before it stops the old one, and the new
// worker must continue from the cursor the old one saves when it stops.
var resealSlot = make(chan struct{}, 1)

// How long a worker waits before trying again when another gateway holds
// the lock, or after a storage error.
var (
	resealLockedRetry = 30 * time.Second
	resealErrorRetry  = time.Minute
)

// resealRun is a running background re-seal.
type resealRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startReseal starts the background re-seal over st, once the stack is
// built (open), unless it is off or the vault cannot be walked.
func (a *App) startReseal(st *stack.Stack) {
	if a.Reseal != nil && a.Reseal.Off {
		return
	}
	be, ok := a.opened.vault.(reseal.Backend)
	ss, ok2 := a.vault.(StateStorer)
	if !ok || !ok2 {
		return
	}
	store, err := ss.StateStore("reseal")
	if err != nil {
		a.logger.Warn("the background re-seal cannot keep its cursor; it does not run", zap.Error(err))
		return
	}
	bg := &reseal.Background{
		Vault: be, Keys: a.keys, Cursor: store, Invalidate: st.Cache.Invalidate, Audit: st.Audit,
		Observe:   func(r reseal.Result) { resealRecords.WithLabelValues(r.String()).Inc() },
		Remaining: func(n int64) { resealRemaining.Set(float64(n)) },
		Log: func(msg string, kv ...any) {
			fields := make([]zap.Field, 0, len(kv)/2)
			for i := 0; i+1 < len(kv); i += 2 {
				fields = append(fields, zap.Any(fmt.Sprint(kv[i]), kv[i+1]))
			}
			a.logger.Info(msg, fields...)
		},
	}
	if a.Reseal != nil {
		bg.Rate = a.Reseal.Rate
	}
	if l, ok := a.opened.vault.(interface {
		TryAdvisoryLock(ctx context.Context, name string) (func(), bool, error)
	}); ok {
		bg.Lock = func(ctx context.Context) (func(), bool, error) { return l.TryAdvisoryLock(ctx, "tokengate reseal") }
	}
	ctx, cancel := context.WithCancel(a.ctx)
	run := &resealRun{cancel: cancel, done: make(chan struct{})}
	a.reseal = run
	go func() {
		defer close(run.done)
		a.runReseal(ctx, bg)
	}()
}

// runReseal makes passes until one ends or the config stops.
func (a *App) runReseal(ctx context.Context, bg *reseal.Background) {
	select {
	case resealSlot <- struct{}{}:
		defer func() { <-resealSlot }()
	case <-ctx.Done():
		return
	}
	for {
		pass, err := bg.Run(ctx)
		wait := resealErrorRetry
		switch {
		case err == nil:
			if pass.Skipped == "" {
				a.logger.Info("background re-seal: the pass is through", zap.Int64("resealed", pass.Resealed), zap.Int64("unreadable", pass.Unreadable))
			}
			return
		case ctx.Err() != nil:
			return // the config stopped; the next one continues from the cursor
		case errors.Is(err, reseal.ErrLocked):
			wait = resealLockedRetry
			a.logger.Debug("background re-seal: another gateway runs it; trying again later")
		default:
			a.logger.Warn("background re-seal stopped on an error; it continues from its cursor later", zap.Error(err), zap.Duration("retry_in", wait))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stopReseal stops the background re-seal and waits for it (it saves its
// cursor as it stops).
func (a *App) stopReseal() {
	if r := a.reseal; r != nil {
		r.cancel()
		<-r.done
	}
}
