package caddymodule

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/stack"
	"github.com/tokengate/tokengate/vault"
)

// Retention deletes cards nobody used for a while (PCI DSS v4.0 3.2.1:
// account data kept no longer than the business needs, then deleted). A
// card is "used" when it is read by token (detokenize, a served API's
// reveal or cryptogram) or tokenized again; the vault records the day of
// the last use in the record, at most one write per card per day. A card
// whose last use (or, never used, its creation) is older than its tenant's
// period is erased by a background sweep: its network token deleted at the
// issuing service first (a service that fails keeps the card, counted, and
// the next sweep tries again), then the record, the cached and short-lived
// copies and any held CVV.
type Retention struct {
	// Default is how long any tenant's unused cards are kept, in Caddy's
	// duration syntax ("730d"); 0 or absent keeps them forever.
	Default caddy.Duration `json:"default,omitempty"`
	// Tenants overrides Default per tenant (0 keeps that tenant's cards
	// forever).
	Tenants map[string]caddy.Duration `json:"tenants,omitempty"`
	// SweepInterval is how often the sweep walks the vault. The default is
	// 1h.
	SweepInterval caddy.Duration `json:"sweep_interval,omitempty"`
	// Rate bounds the cards erased per second (and so the calls to the
	// network token services). The default is 100.
	Rate int `json:"rate,omitempty"`
}

const defaultSweepInterval = time.Hour

// check validates r, naming the field.
func (r *Retention) check() error {
	switch {
	case r.Default < 0:
		return fmt.Errorf("tokengate: retention default: want a positive duration")
	case r.SweepInterval < 0:
		return fmt.Errorf("tokengate: retention sweep_interval: want a positive duration")
	case r.Rate < 0 || r.Rate > 100_000:
		return fmt.Errorf("tokengate: retention rate %d: want between 1 and 100000 per second", r.Rate)
	}
	for t, d := range r.Tenants {
		if d < 0 {
			return fmt.Errorf("tokengate: retention tenant %s: want a positive duration", t)
		}
	}
	return nil
}

func (r *Retention) policy() purge.Policy {
	p := purge.Policy{Default: time.Duration(r.Default), Tenants: map[string]time.Duration{}}
	for t, d := range r.Tenants {
		p.Tenants[t] = time.Duration(d)
	}
	return p
}

// parseRetention reads
//
//	retention {
//		default        <duration>
//		tenant         <tenant> <duration>
//		sweep_interval <duration>
//		rate           <per second>
//	}
func parseRetention(d *caddyfile.Dispenser) (*Retention, error) {
	r := &Retention{}
	if d.NextArg() {
		return nil, d.Errf("retention takes a block")
	}
	dur := func(opt, v string) (caddy.Duration, error) {
		x, err := caddy.ParseDuration(v)
		if err != nil || x <= 0 {
			return 0, d.Errf("retention %s: want a positive duration such as 365d or 12h", opt)
		}
		return caddy.Duration(x), nil
	}
	for n := d.Nesting(); d.NextBlock(n); {
		opt := d.Val()
		var err error
		switch opt {
		case "default", "sweep_interval":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return nil, d.ArgErr()
			}
			target := map[string]*caddy.Duration{"default": &r.Default, "sweep_interval": &r.SweepInterval}[opt]
			if *target, err = dur(opt, v); err != nil {
				return nil, err
			}
		case "tenant":
			var t, v string
			if !d.Args(&t, &v) || d.NextArg() {
				return nil, d.Errf("retention tenant wants <tenant> <duration>")
			}
			if r.Tenants == nil {
				r.Tenants = map[string]caddy.Duration{}
			}
			if _, dup := r.Tenants[t]; dup {
				return nil, d.Errf("retention tenant %s is set twice", t)
			}
			if v == "0" { // this tenant's cards are kept, as in JSON
				r.Tenants[t] = 0
			} else if r.Tenants[t], err = dur("tenant", v); err != nil {
				return nil, err
			}
		case "rate":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return nil, d.ArgErr()
			}
			if r.Rate, err = strconv.Atoi(v); err != nil || r.Rate <= 0 || r.Rate > 100_000 {
				return nil, d.Errf("retention rate: want a number of cards per second between 1 and 100000")
			}
		default:
			return nil, d.Errf("unrecognized retention option %q", opt)
		}
	}
	return r, nil
}

// Metrics.
var (
	purgedRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "purged_records_total",
		Help: "Cards erased (network token deleted, record deleted, copies and held CVV dropped), by reason (retention, purge, api).",
	}, []string{"reason"})
	purgeKept = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "purge_kept_total",
		Help: "Cards due for erasure but kept because their network token could not be deleted at its service (tried again next time), by reason.",
	}, []string{"reason"})
	retentionSweeps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "retention_sweeps_total",
		Help: "Retention sweeps run, by outcome (ok, error).",
	}, []string{"outcome"})
)

var retentionCollectors = []prometheus.Collector{purgedRecords, purgeKept, retentionSweeps}

// observePurge is the stack's ObservePurge.
func observePurge(reason string, ok bool) {
	if ok {
		purgedRecords.WithLabelValues(reason).Inc()
	} else {
		purgeKept.WithLabelValues(reason).Inc()
	}
}

// retentionRunner is the running sweep of one config.
type retentionRunner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startRetention starts the sweep once the stack is built (once per
// config). Several gateways sharing a PostgreSQL vault each sweep: an
// erasure is idempotent (a network token already deleted and a record
// already gone are not errors), so the double work is harmless, and each
// gateway keeps to its own rate.
func (a *App) startRetention(st *stack.Stack) {
	if a.Retention == nil || a.retention != nil {
		return
	}
	pol := a.Retention.policy()
	if pol.Default == 0 && !slices.ContainsFunc(slices.Collect(maps.Values(pol.Tenants)), func(d time.Duration) bool { return d > 0 }) {
		return
	}
	exp, ok := a.opened.vault.(vault.Exporter)
	if !ok {
		a.logger.Error("retention is configured but the vault cannot be walked; no card is erased", zap.String("vault", a.vault.Describe()))
		return
	}
	interval := time.Duration(a.Retention.SweepInterval)
	if interval <= 0 {
		interval = defaultSweepInterval
	}
	ctx, cancel := context.WithCancel(a.ctx)
	r := &retentionRunner{cancel: cancel, done: make(chan struct{})}
	a.retention = r
	sw := &purge.Sweeper{Eraser: st.Eraser, Records: exp, Policy: pol, Rate: a.Retention.Rate}
	go func() {
		defer close(r.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			rep, err := sw.Sweep(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				retentionSweeps.WithLabelValues("error").Inc()
				a.logger.Error("retention sweep stopped early; it runs again at the next interval", zap.Error(err),
					zap.Int64("erased", rep.Erased), zap.Int64("kept", rep.Kept))
			default:
				retentionSweeps.WithLabelValues("ok").Inc()
				if rep.Erased > 0 || rep.Kept > 0 {
					a.logger.Info("retention sweep", zap.Int64("walked", rep.Walked), zap.Int64("erased", rep.Erased), zap.Int64("kept", rep.Kept))
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// stopRetention stops the sweep and waits for it.
func (a *App) stopRetention() {
	if a.retention != nil {
		a.retention.cancel()
		<-a.retention.done
	}
}
