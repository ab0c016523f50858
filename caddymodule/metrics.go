package caddymodule

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
)

// Prometheus metrics, on the admin endpoint's /metrics when Caddy's metrics
// global option is on. Labels are rule set names, outcomes, reasons,
// providers and operations: never card data, a token or a tenant's secret.
// The collectors are package-level and registered in every Provision,
// because each config load brings a new registry (as caddy-ratelimit does).
const metricsNamespace = "tokengate"

var (
	tokenizeRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "tokenize_requests_total",
		Help: "Requests a tokenize rule set handled, by rule set and outcome (tokenized, refused, bad_request, error).",
	}, []string{"rule_set", "outcome"})
	detokenizeRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "detokenize_requests_total",
		Help: "Requests a detokenize rule set handled, by rule set and outcome (detokenized, unauthorized, an error code, unavailable).",
	}, []string{"rule_set", "outcome"})
	cardsTokenized = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "cards_tokenized_total",
		Help: "Cards tokenized, by rule set and whether the vault already held the card (new, repeat).",
	}, []string{"rule_set", "card"})
	fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "fallbacks_total",
		Help: "Outbound cards sent without a network token (the PAN fallback), by rule set and reason.",
	}, []string{"rule_set", "reason"})
	networkCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "network_calls_total",
		Help: "Calls to network token services, by provider, operation and outcome (ok, a refusal code, suspended, deleted, timeout, error).",
	}, []string{"provider", "operation", "outcome"})
	networkCallSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "network_call_duration_seconds",
		Help:    "Latency of calls to network token services, by provider and operation.",
		Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"provider", "operation"})
	tokenStatusChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "network_token_status_changes_total",
		Help: "Network token state changes recorded in the vault, by provider and new status.",
	}, []string{"provider", "status"})
	panGuardHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "pan_guard_hits_total",
		Help: "Card numbers the PAN guard found outside the card number fields, by rule set and pan_guard policy.",
	}, []string{"rule_set", "policy"})
	unmatchedRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "unmatched_requests_total",
		Help: "Requests a tokenize handler saw that none of its rule sets matched, by outcome (clean, rejected, logged, passed, bad_request, unexamined).",
	}, []string{"outcome"})
	cvvsNotHeld = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "cvvs_not_held_total",
		Help: "CVVs dropped because the CVV store failed or was full, under cvv_store_down drop, by rule set.",
	}, []string{"rule_set"})
	responseRedactions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "response_guard_redactions_total",
		Help: "Values the response guard replaced in processors' answers, by rule set.",
	}, []string{"rule_set"})
	apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "api_requests_total",
		Help: "Calls to the served token APIs, by API, endpoint (a route pattern, never an id) and HTTP status.",
	}, []string{"api", "endpoint", "status"})
	webhookEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "webhook_events_total",
		Help: "Lifecycle events received from network token providers, by provider and outcome (updated, unchanged, stale, unknown_token, unauthorized, malformed, unavailable).",
	}, []string{"provider", "outcome"})
	// The two gauges below are series only where they mean something: a
	// change feed's state on a vault that has one (a bbolt gateway showing
	// "listening 0" reads as an alert), and a count of held CVVs from a
	// store that can count them (see watchCVVs).
	changeFeedListening = &optionalGauge{
		desc: prometheus.NewDesc(metricsNamespace+"_vault_change_feed_listening",
			"1 while this gateway hears other gateways' vault changes (PostgreSQL notifications) and caches records; 0 while it does not, and reads every record from the database. Absent for a vault without a change feed (bbolt).", nil, nil),
		value: func() (float64, bool) {
			f := watchedFeed.Load()
			if f == nil {
				return 0, false
			}
			return map[bool]float64{false: 0, true: 1}[(*f).Listening()], true
		},
	}
	cvvsHeld = &optionalGauge{
		desc: prometheus.NewDesc(metricsNamespace+"_cvvs_held",
			"CVVs held in this gateway's memory now, waiting for their one use or their expiry. Absent with the Redis CVV store, which counts its own keys (see the README's metrics section).", nil, nil),
		value: func() (float64, bool) {
			s := heldCVVs.Load()
			if s == nil {
				return 0, false
			}
			c, ok := (*s).(cvvCounter)
			if !ok {
				return 0, false
			}
			return float64(c.Len()), true
		},
	}
	cvvStoreCapacity = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "cvv_store_capacity",
		Help: "How many CVVs the memory CVV store holds at most (its max_held); 0 for a store without such a bound.",
	}, func() float64 { return watchedCVVs(func(c cvvBounded) float64 { return float64(c.Cap()) }) })
	cvvStoreRefusals = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "cvv_store_refusals_total",
		Help: "CVVs the memory CVV store refused because it held its max_held already, or the tenant its max_held_per_tenant, since the process started.",
	}, func() float64 { return watchedCVVs(func(c cvvBounded) float64 { return float64(c.Refused()) }) })
	shortLivedHeld = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "short_lived_cards_held",
		Help: "Short-lived cards held now (cards kept without consent, Juspay ctkn_ card tokens), counted by this process.",
	}, func() float64 {
		return watchedShortLived(func(s *vault.ShortLived) float64 { return float64(s.Held()) })
	})
	shortLivedCapacity = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "short_lived_cards_capacity",
		Help: "How many short-lived cards this process holds at most (vault.MaxShortLived).",
	}, func() float64 {
		return watchedShortLived(func(s *vault.ShortLived) float64 { return float64(s.Max()) })
	})
	shortLivedRefusals = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "short_lived_cards_refusals_total",
		Help: "Short-lived cards refused because the store was full or a pool (a Juspay merchant) held its quota, since the config loaded.",
	}, func() float64 {
		return watchedShortLived(func(s *vault.ShortLived) float64 { return float64(s.Refused()) })
	})
)

// optionalGauge is a gauge that is a series only while value says so: a
// collector may describe a metric and collect nothing for it
// (prometheus.Collector's contract), so /metrics leaves it out rather than
// showing a 0 that means "not applicable".
type optionalGauge struct {
	desc  *prometheus.Desc
	value func() (float64, bool)
}

func (g *optionalGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *optionalGauge) Collect(ch chan<- prometheus.Metric) {
	if v, ok := g.value(); ok {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v)
	}
}

// heldCVVs is the CVV store the CVV store metrics read (cvvs_held only
// when it can count);
// watchedFeed is the running vault's change feed, when it has one. Both are
// the config running now: set when it starts.
var (
	heldCVVs    atomic.Pointer[cvv.Store]
	watchedFeed atomic.Pointer[ChangeFeed]
)

// shortLived is the short-lived layer of the running config's stack, for
// the short_lived_cards metrics.
var shortLived atomic.Pointer[vault.ShortLived]

func watchedShortLived(read func(*vault.ShortLived) float64) float64 {
	if s := shortLived.Load(); s != nil {
		return read(s)
	}
	return 0
}

type cvvCounter interface{ Len() int }

// cvvBounded is a CVV store with a bound on what it holds (cvvmem.Store).
type cvvBounded interface {
	Cap() int
	Refused() uint64
}

// watchedCVVs is read applied to the watched store, or 0 when there is
// none or it cannot tell.
func watchedCVVs[T any](read func(T) float64) float64 {
	if p := heldCVVs.Load(); p != nil {
		if c, ok := (*p).(T); ok {
			return read(c)
		}
	}
	return 0
}

// registerMetrics registers the collectors with this config's registry.
func registerMetrics(ctx caddy.Context) {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return
	}
	for _, c := range append([]prometheus.Collector{tokenizeRequests, detokenizeRequests, cardsTokenized, fallbacks,
		networkCalls, networkCallSeconds, tokenStatusChanges, panGuardHits, unmatchedRequests, cvvsNotHeld, responseRedactions, apiRequests, webhookEvents, cvvsHeld, cvvStoreCapacity, cvvStoreRefusals,
		shortLivedHeld, shortLivedCapacity, shortLivedRefusals, changeFeedListening, readyGauge, componentsReady, recordsUnreadable, kekUnwraps, auditWriteFailures, auditUnrecorded}, slices.Concat(memoryCollectors, resealCollectors, retentionCollectors)...) {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				ctx.Logger().Warn("registering a metric failed", zap.Error(err))
			}
		}
	}
}

// observeStatus counts a recorded network token state change.
func observeStatus(provider, status string) {
	tokenStatusChanges.WithLabelValues(provider, status).Inc()
}

// countFallbacks counts the cards of a detokenization that went as PANs.
func countFallbacks(ruleSet string, injections []detokenize.Injection) {
	for _, inj := range injections {
		if inj.What == detokenize.InjectedPAN {
			fallbacks.WithLabelValues(ruleSet, fallbackReason(inj.Reason)).Inc()
		}
	}
}

// fallbackReasons are the reasons a fallback's label may carry besides the
// network package's documented codes.
var fallbackReasons = map[string]bool{
	lifecycle.ReasonNoTokenService: true, lifecycle.ReasonNoExpiry: true, lifecycle.ReasonTimeout: true,
	lifecycle.ReasonProviderError: true, lifecycle.ReasonProviderUnavailable: true,
	lifecycle.ReasonSuspended: true, lifecycle.ReasonDeleted: true, lifecycle.ReasonNoNetworkToken: true,
	detokenize.ReasonBrandNotSupported: true, detokenize.ReasonProcessorNoNetworkToken: true,
}

// fallbackReason is reason as a bounded label: a record keeps the refusal
// code its token service gave (a remote's own, say "issuer_timeout"), which
// counts as "refused" so that a provider cannot grow the series.
func fallbackReason(reason string) string {
	if fallbackReasons[reason] || network.KnownCode(reason) {
		return reason
	}
	return network.CodeRefused
}

// watchCVVs makes the CVV store the one the CVV store metrics read.
// cvvs_held counts only a store that can count (the memory store). Redis
// cannot count cheaply what a store holds: its keys expire unseen, so the
// store's own puts and takes drift from the truth, and a SCAN of the prefix
// walks the whole keyspace on every scrape; with Redis the gauge is absent,
// and Redis's own INFO keyspace (or redis_exporter's key counts by
// pattern) is the number to watch.
func watchCVVs(s cvv.Store) cvv.Store {
	heldCVVs.Store(&s)
	return s
}

// watchFeed makes vault's change feed the one vault_change_feed_listening
// reports, or none when it has none.
func watchFeed(vault VaultBackend) {
	if f, ok := vault.(ChangeFeed); ok {
		watchedFeed.Store(&f)
		return
	}
	watchedFeed.Store(nil)
}

// observedNetwork wraps a network token service so every call is a span and
// is counted and timed, with the provider, operation and outcome only.
type observedNetwork struct {
	network.Service
}

// networkSeries are a call's series: its count by provider, operation and
// outcome, and its duration by provider and operation.
type networkSeries struct {
	calls   prometheus.Counter
	seconds prometheus.Observer
}

// networkCallSeries resolves a call's series once per provider, operation
// and outcome: every detokenization asks for a cryptogram.
var networkCallSeries = labelHandles[[3]string, networkSeries]{make: func(k [3]string) networkSeries {
	return networkSeries{
		calls:   networkCalls.WithLabelValues(k[0], k[1], k[2]),
		seconds: networkCallSeconds.WithLabelValues(k[0], k[1]),
	}
}}

// detokenizeOutcomes are detokenizeRequests' series by rule set and
// outcome, resolved once each.
var detokenizeOutcomes = labelHandles[[2]string, prometheus.Counter]{make: func(k [2]string) prometheus.Counter {
	return detokenizeRequests.WithLabelValues(k[0], k[1])
}}

// observe wraps svc.
func observe(svc network.Service) observedNetwork {
	return observedNetwork{Service: svc}
}

func (t observedNetwork) call(ctx context.Context, op string, fn func(context.Context) error) error {
	start := time.Now()
	span := noSpan
	if traced(ctx) { // else without the name's concatenation
		ctx, span = startSpan(ctx, "tokengate.network."+op, providerAttr(t.Name()))
	}
	err := fn(ctx)
	outcome := networkOutcome(err)
	// A card's documented refusal (not eligible, suspended...) is the
	// service working as it should: the span is an error only for failures.
	failed := outcome == "timeout" || outcome == "error"
	endSpanStatus(span, outcome, failed)
	s := networkCallSeries.of([3]string{t.Name(), op, outcome})
	s.calls.Inc()
	s.seconds.Observe(time.Since(start).Seconds())
	return err
}

func networkOutcome(err error) string {
	var nerr *network.Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &nerr):
		if network.KnownCode(nerr.Code) {
			return nerr.Code
		}
		return network.CodeRefused // a remote's own code: not a bounded label
	case errors.Is(err, network.ErrSuspended):
		return "suspended"
	case errors.Is(err, network.ErrDeleted):
		return "deleted"
	case errors.Is(err, network.ErrNotFound):
		return "not_found"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}

func (t observedNetwork) Provision(ctx context.Context, req network.ProvisionRequest) (tok network.Token, err error) {
	err = t.call(ctx, "provision", func(ctx context.Context) error {
		tok, err = t.Service.Provision(ctx, req)
		return err
	})
	return tok, err
}

func (t observedNetwork) Get(ctx context.Context, id string) (tok network.Token, err error) {
	err = t.call(ctx, "get", func(ctx context.Context) error {
		tok, err = t.Service.Get(ctx, id)
		return err
	})
	return tok, err
}

func (t observedNetwork) Cryptogram(ctx context.Context, req network.CryptogramRequest) (c network.Cryptogram, err error) {
	err = t.call(ctx, "cryptogram", func(ctx context.Context) error {
		c, err = t.Service.Cryptogram(ctx, req)
		return err
	})
	return c, err
}

// SupportsBrand passes network.BrandSupporter through the wrapper.
func (t observedNetwork) SupportsBrand(brand string) bool {
	if bs, ok := t.Service.(network.BrandSupporter); ok {
		return bs.SupportsBrand(brand)
	}
	return true
}

func (t observedNetwork) SetStatus(ctx context.Context, id, status string) error {
	return t.call(ctx, "set_status", func(ctx context.Context) error {
		return t.Service.SetStatus(ctx, id, status)
	})
}
