package caddymodule

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/network"
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
		Help: "CVVs dropped because the CVV store failed, under cvv_store_down drop, by rule set.",
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
	changeFeedListening = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "vault_change_feed_listening",
		Help: "1 while this gateway hears other gateways' vault changes (PostgreSQL notifications) and caches records; 0 while it does not, and reads every record from the database.",
	})
	cvvsHeld = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "cvvs_held",
		Help: "CVVs held in memory now, waiting for their one use or their expiry.",
	}, func() float64 {
		if s := heldCVVs.Load(); s != nil {
			return float64((*s).Len())
		}
		return 0
	})
)

// heldCVVs is the CVV store cvvs_held reports, when it can count.
var heldCVVs atomic.Pointer[cvvCounter]

type cvvCounter interface{ Len() int }

// registerMetrics registers the collectors with this config's registry.
func registerMetrics(ctx caddy.Context) {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{tokenizeRequests, detokenizeRequests, cardsTokenized, fallbacks,
		networkCalls, networkCallSeconds, tokenStatusChanges, panGuardHits, unmatchedRequests, cvvsNotHeld, responseRedactions, apiRequests, webhookEvents, cvvsHeld, changeFeedListening, recordsUnreadable} {
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
			fallbacks.WithLabelValues(ruleSet, inj.Reason).Inc()
		}
	}
}

// watchCVVs makes the CVV store the one cvvs_held counts, if it can count.
func watchCVVs(s cvv.Store) cvv.Store {
	if c, ok := s.(cvvCounter); ok {
		heldCVVs.Store(&c)
	}
	return s
}

// observedNetwork wraps a network token service so every call is a span and
// is counted and timed, with the provider, operation and outcome only.
type observedNetwork struct{ network.Service }

func (t observedNetwork) call(ctx context.Context, op string, fn func(context.Context) error) error {
	start := time.Now()
	ctx, span := startSpan(ctx, "tokengate.network."+op, providerAttr(t.Name()))
	err := fn(ctx)
	outcome := networkOutcome(err)
	// A card's documented refusal (not eligible, suspended...) is the
	// service working as it should: the span is an error only for failures.
	failed := outcome == "timeout" || outcome == "error"
	endSpanStatus(span, outcome, failed)
	networkCalls.WithLabelValues(t.Name(), op, outcome).Inc()
	networkCallSeconds.WithLabelValues(t.Name(), op).Observe(time.Since(start).Seconds())
	return err
}

func networkOutcome(err error) string {
	var nerr *network.Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &nerr):
		return nerr.Code
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
