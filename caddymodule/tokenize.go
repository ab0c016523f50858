package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/tokenize"
)

func init() {
	caddy.RegisterModule(Tokenize{})
}

// Tokenize is the inbound handler: it replaces card numbers and CVVs in
// request bodies with tokens before the request reaches the merchant.
type Tokenize struct {
	// RuleSets names the inbound rule sets this handler applies, tried in
	// order; the first whose match block matches the request is used. Empty
	// means every inbound rule set of the rules file, in file order.
	RuleSets []string `json:"rule_sets,omitempty"`

	// MaxBodySize lowers the app's body size limit for this handler, in bytes.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// Unmatched says what happens to a request none of the handler's rule
	// sets matches. "reject" (the default) reads it with the PAN guard: the
	// path, query string, headers, cookies, the body (up to the body size
	// limit; as JSON or a form when it is one, else as text) and the
	// trailers, and refuses it with 400 pan_detected when a card number is
	// anywhere in it, since such a request would reach the merchant raw
	// (a route the rules spell /checkout also answers to /checkout.json or
	// /checkout;jsessionid=1 in many frameworks). A body that cannot be read
	// whole (too large, an encoding or charset the guard cannot read) is
	// refused too. "log" reads it the same way, forwards it and logs where a
	// card number is. "pass" forwards it untouched and unread.
	Unmatched string `json:"unmatched,omitempty"`

	*binding[*rules.Inbound]
}

// CaddyModule returns the Caddy module information.
func (Tokenize) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokenize", New: func() caddy.Module { return new(Tokenize) }}
}

// Provision prepares the handler; the tokengate app binds it to itself and
// its rule sets once the routes are provisioned (see App.checkRoutes).
func (h *Tokenize) Provision(ctx caddy.Context) error {
	h.binding = newBinding(ctx, "tokenize", "inbound", h.RuleSets, func(f *rules.File) ([]*rules.Inbound, func(string) (*rules.Inbound, bool)) {
		return f.Inbound, f.InboundSet
	})
	return nil
}

// ServeHTTP tokenizes the body, then calls the next handler. Whenever a card
// cannot be tokenized the request is answered here (or by the server's
// handle_errors routes: see gatewayError.answer) and nothing is forwarded.
func (h *Tokenize) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return routed(w, r, h.logger, h.serve(w, r, next))
}

func (h *Tokenize) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if err := h.bound(); err != nil {
		return h.refuse(w, r, err)
	}
	if ok, err := h.app.serving(w, r, "tokenize"); !ok {
		return err
	}
	r.Header.Del(CVVNotHeldHeader) // only the gateway says so, on any request
	dropTraceHeaders(h.logger, r)
	set := h.choose(r)
	if set == nil {
		return h.serveUnmatched(w, r, next)
	}
	ctx, span := startSpan(r.Context(), "tokengate.tokenize", attribute.String("tokengate.rule_set", set.Name))
	if !h.guardOutside(w, r, set) {
		h.done(span, set, "refused", nil)
		return nil
	}
	if err := checkCharset(r.Header.Get("Content-Type")); err != nil && r.Body != nil && r.Body != http.NoBody {
		unsupportedCharset(err).answer(w, r)
		h.done(span, set, "bad_request", errors.New("unsupported charset"))
		return nil
	}
	query, ok := h.tokenizeQuery(ctx, w, r, set)
	if !ok {
		h.done(span, set, "bad_request", errors.New("query refused"))
		return nil
	}
	rb := getRawBody()
	kind, doc, raw, ok := readDoc(w, r, limitFor(h.MaxBodySize, h.app.MaxBodySize), time.Duration(h.app.BodyReadTimeout), true, rb.b)
	if !rb.holds(raw) {
		// Nothing was parsed over the buffer (a failed read; an empty, gzip
		// or big body read elsewhere): zeroed and given back now.
		rb.release()
		rb = nil
	}
	if !ok {
		// rb, if still held, stays with this request: the answer may quote
		// the parser's error, a string over it. The collector takes it, as
		// it took every body before buffers were recycled.
		h.done(span, set, "bad_request", errors.New("bad body"))
		return nil
	}
	if kind != body.Multipart && hasNUL(raw) { // file parts may be binary: their texts are read without NULs instead
		badBody(http.StatusBadRequest, "nul_in_body", "The request body holds a NUL byte, which JSON and form bodies never do; it may be text in an encoding the gateway cannot check for card data. Send UTF-8.").answer(w, r)
		h.done(span, set, "bad_request", errors.New("NUL byte in the body"))
		return nil
	}
	if !h.guardTrailers(w, r, set) {
		h.done(span, set, "refused", nil)
		return nil
	}
	var res tokenize.Result
	sent := raw // what the request forwards
	if doc != nil {
		res, ok = h.apply(ctx, w, r, set, kind, doc, "")
		var err error
		if ok {
			sent, err = writeBack(r, doc, raw, res.Fields > 0)
		}
		// The parse state goes back to the pool before the proxy runs:
		// nothing below reads it, and a big body's is let go.
		body.Release(doc)
		if !ok {
			h.done(span, set, "refused", nil)
			return nil
		}
		if err != nil {
			id := errUnavailable.because(err).answer(w, r)
			h.logger.Error("re-encoding body failed; request not forwarded", zap.String("rule_set", set.Name), zap.Error(err), requestLogID(r.Context(), id))
			h.done(span, set, "error", err)
			return nil
		}
	}
	if dropped := append(query.CVVsNotHeld, res.CVVsNotHeld...); len(dropped) > 0 {
		paths := body.SafePath(strings.Join(slices.Compact(dropped), ", "))
		// Cloned: the header outlives the body's buffer (rb), and a path
		// must never be read from it once it is reused.
		r.Header.Set(CVVNotHeldHeader, strings.Clone(paths))
		cvvsNotHeld.WithLabelValues(set.Name).Add(float64(len(dropped)))
		h.logger.Warn("the CVV store failed or is full; CVVs dropped and the request forwarded without them (cvv_store_down: drop)",
			zap.String("rule_set", set.Name), zap.String("paths", paths), requestLog(r))
	}
	// Checked first: the attributes and fields would otherwise be built
	// (on the heap) for every request, for a span that records nothing
	// and a debug line that is off.
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("tokengate.field_count", res.Fields+query.Fields), attribute.Int("tokengate.card_count", res.Cards+query.Cards))
	}
	if ce := h.logger.Check(zap.DebugLevel, "tokenized"); ce != nil {
		ce.Write(zap.String("rule_set", set.Name), zap.String("tenant", set.Tenant),
			zap.Int("cards", res.Cards+query.Cards), zap.Int("new_cards", res.Created+query.Created), zap.Int("network_tokens", res.NetworkTokens+query.NetworkTokens), requestLog(r))
	}
	c := inboundCounterSets.of(set.Name)
	c.newCards.Add(float64(res.Created + query.Created))
	c.repeatCards.Add(float64(res.Cards + query.Cards - res.Created - query.Created))
	c.tokenized.Inc()
	endSpan(span, "tokenized", nil)
	if rb != nil && !rb.holds(sent) {
		// The body forwarded is a copy (the edited body), the doc is
		// released, and nothing below reads a string made over the read
		// body (rawbody_test.go and rawbody_paths_test.go poison each
		// buffer as it is released to show it): the buffer is zeroed and
		// recycled before the proxy runs. An untouched body is forwarded
		// from the buffer itself, which then stays with the request: the
		// transport may read it after the proxy returns.
		rb.release()
	}
	return next.ServeHTTP(w, r)
}

// inboundCounters are a rule set's counters of a tokenized request,
// resolved once: WithLabelValues hashes its labels and takes a lock on
// every call, three times a request.
type inboundCounters struct {
	newCards, repeatCards, tokenized prometheus.Counter
}

// inboundCounterSets holds an *inboundCounters per rule set name.
var inboundCounterSets = labelHandles[string, *inboundCounters]{make: func(ruleSet string) *inboundCounters {
	return &inboundCounters{
		newCards:    cardsTokenized.WithLabelValues(ruleSet, "new"),
		repeatCards: cardsTokenized.WithLabelValues(ruleSet, "repeat"),
		tokenized:   tokenizeRequests.WithLabelValues(ruleSet, "tokenized"),
	}
}}

// CVVNotHeldHeader tells the merchant, on a forwarded request, which CVV
// fields were dropped because the CVV store failed (cvv_store_down drop).
const CVVNotHeldHeader = "Tokengate-Cvv-Not-Held"

// done ends the request's span and counts its outcome.
func (h *Tokenize) done(span trace.Span, set *rules.Inbound, outcome string, err error) {
	tokenizeRequests.WithLabelValues(set.Name, outcome).Inc()
	endSpan(span, outcome, err)
}

// tokenizeQuery applies the rule set to the query string, read as a form:
// its form fields and its PAN guard. ok=false means an answer was written.
// A query without 12 digits (a Maestro card's) cannot hold a card number and is left alone
// without being parsed.
func (h *Tokenize) tokenizeQuery(ctx context.Context, w http.ResponseWriter, r *http.Request, set *rules.Inbound) (tokenize.Result, bool) {
	q := r.URL.RawQuery
	if !body.HasDigits(q, body.MinCardDigits) {
		return tokenize.Result{}, true
	}
	doc, err := body.Parse(body.Form, "", []byte(q))
	if err != nil {
		badBody(http.StatusBadRequest, "malformed_query", "The query string is malformed: "+err.Error()+".").answer(w, r)
		return tokenize.Result{}, false
	}
	res, ok := h.apply(ctx, w, r, set, body.Form, doc, "query:")
	if ok && res.Fields > 0 {
		out, err := doc.Bytes()
		if err != nil {
			id := errUnavailable.because(err).answer(w, r)
			h.logger.Error("re-encoding the query string failed; request not forwarded", zap.String("rule_set", set.Name), zap.Error(err), requestLogID(r.Context(), id))
			return res, false
		}
		r.URL.RawQuery = string(out)
		r.RequestURI = r.URL.RequestURI()
	}
	return res, ok
}

// apply tokenizes one document (the body, or the query string with prefix
// "query:" in the paths it reports). ok=false means the request was answered
// here and must not be forwarded.
func (h *Tokenize) apply(ctx context.Context, w http.ResponseWriter, r *http.Request, set *rules.Inbound, kind body.Kind, doc body.Doc, prefix string) (tokenize.Result, bool) {
	res, err := h.app.stack.Load().Tokenizer.Apply(ctx, set, kind, doc)
	if err == nil {
		return h.applied(r, set, res, prefix), true
	}
	// errors.AsType, not errors.As: As's target escapes, one allocation
	// for every request, failed or not.
	fe, isField := errors.AsType[*body.FieldError](err)
	switch {
	case isField:
		fe.Field = prefix + fe.Field
		id := fieldFailure(fe).answer(w, r)
		h.logger.Info("card rejected", zap.String("rule_set", set.Name), zap.String("field", fe.Field), zap.String("code", fe.Code), requestLogID(r.Context(), id))
		return res, false
	case clientGone(r, err):
		h.logger.Debug("client went away during tokenization; nothing forwarded", zap.String("rule_set", set.Name), requestLog(r))
		return res, false
	default: // errdefs.ErrUnavailable, or a failure nobody foresaw: fail closed alike
		if full, ok := h.app.storeFull(err); ok {
			id := full.answer(w, r)
			h.logger.Warn("a bounded store is full; request not forwarded", zap.String("rule_set", set.Name), zap.String("code", full.code), zap.Error(err), requestLogID(r.Context(), id))
			return res, false
		}
		id := errUnavailable.because(err).answer(w, r)
		h.logger.Error("tokenization failed; request not forwarded", zap.String("rule_set", set.Name), zap.Error(err), requestLogID(r.Context(), id))
		return res, false
	}
}

// applied finishes a document Apply tokenized: the paths it reports get
// prefix, and stray card numbers are counted and logged.
func (h *Tokenize) applied(r *http.Request, set *rules.Inbound, res tokenize.Result, prefix string) tokenize.Result {
	for i, path := range res.CVVsNotHeld {
		res.CVVsNotHeld[i] = prefix + path
	}
	if res.Strays != "" {
		level := zap.WarnLevel
		if set.PANGuard == rules.PANTokenize {
			level = zap.InfoLevel
		}
		paths := body.SafePath(prefix + strings.ReplaceAll(res.Strays, ", ", ", "+prefix))
		panGuardHits.WithLabelValues(set.Name, string(set.PANGuard)).Add(float64(strings.Count(paths, ",") + 1))
		h.logger.Log(level, "card numbers found outside the card number fields (pan_guard: "+string(set.PANGuard)+")",
			zap.String("rule_set", set.Name), zap.String("paths", paths), zap.Int("count", strings.Count(paths, ",")+1), requestLog(r))
	}
	return res
}

// Validate checks the handler's own settings, for JSON configs too.
func (h *Tokenize) Validate() error {
	if h.MaxBodySize < 0 {
		return fmt.Errorf("tokenize: max_body_size %d: want a positive size", h.MaxBodySize)
	}
	switch h.Unmatched {
	case "", UnmatchedReject, UnmatchedLog, UnmatchedPass:
	default:
		return fmt.Errorf("tokenize: unmatched %q: want reject, log or pass", h.Unmatched)
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Validator             = (*Tokenize)(nil)
	_ caddy.Provisioner           = (*Tokenize)(nil)
	_ caddyhttp.MiddlewareHandler = (*Tokenize)(nil)
)
