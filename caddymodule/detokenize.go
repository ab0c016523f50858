package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/http/httpguts"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/rules"
)

func init() {
	caddy.RegisterModule(Detokenize{})
}

// Defaults of the detokenize handler.
const (
	defaultAPIKeyHeader = "X-Tokengate-Api-Key"
	// InjectedHeader is the response header that reports, per token field,
	// what was injected (network_token, pan or none), never a value.
	InjectedHeader = "Tokengate-Injected"
)

// Detokenize is the outbound handler: it authenticates the merchant by API
// key and replaces token references with the network token, its expiry, a
// fresh cryptogram and the ECI (or the PAN, where the rules allow it) before
// the request goes on to a payment processor the rule set names.
type Detokenize struct {
	// RuleSets names the outbound rule sets this handler applies, tried in
	// order; the first whose match block matches the request is used. Empty
	// means every outbound rule set of the rules file, in file order.
	RuleSets []string `json:"rule_sets,omitempty"`

	// APIKeyHeader is the request header that carries the caller's API key.
	// It is removed before the request is forwarded. The default is
	// X-Tokengate-Api-Key.
	APIKeyHeader string `json:"api_key_header,omitempty"`

	// MaxBodySize lowers the app's body size limit for this handler, in bytes.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	*binding[*rules.Outbound]
}

// CaddyModule returns the Caddy module information.
func (Detokenize) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.detokenize", New: func() caddy.Module { return new(Detokenize) }}
}

// Provision sets defaults. The tokengate app binds the handler to itself
// and its rule sets once the routes are provisioned (see App.checkRoutes).
func (h *Detokenize) Provision(ctx caddy.Context) error {
	if h.APIKeyHeader == "" {
		h.APIKeyHeader = defaultAPIKeyHeader
	}
	h.binding = newBinding(ctx, "detokenize", "outbound", h.RuleSets, func(f *rules.File) ([]*rules.Outbound, func(string) (*rules.Outbound, bool)) {
		return f.Outbound, f.OutboundSet
	})
	return nil
}

// ServeHTTP prepares the detokenization, then calls the next handler. The
// body goes on with its tokens: the detokenized body is built and checked
// here but kept in the request's context, and only the tokengate transport
// of a reverse_proxy puts it in a request, for a destination the rule set
// names. The API key header never leaves the gateway.
func (h *Detokenize) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return routed(w, r, h.logger, h.serve(w, r, next))
}

// serve is ServeHTTP; a failure it answers is returned by routed.
func (h *Detokenize) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	key := apiKeyFrom(r, h.APIKeyHeader)
	if err := h.bound(); err != nil {
		return h.refuse(w, r, err)
	}
	dropTraceHeaders(h.logger, r)
	if ok, err := h.app.serving(w, r, "detokenize"); !ok {
		return err
	}
	set := h.choose(r)
	if set == nil {
		return next.ServeHTTP(w, r)
	}
	ctx, span := startSpan(r.Context(), "tokengate.detokenize", attribute.String("tokengate.rule_set", set.Name))
	who, ok := h.app.callerFor(key)
	tenant := who.tenant
	if !ok {
		id := errUnauthorized.answer(w, r)
		h.logger.Warn("detokenize refused: bad or missing API key", zap.String("rule_set", set.Name), requestLogID(r.Context(), id))
		h.recordRefusal(ctx, set, caller{keyID: audit.APIKeyID(key)}, id, "unauthorized", "")
		h.done(span, set, "unauthorized", errors.New("unauthorized"))
		return nil
	}
	if set.Sign != nil && tenant != set.Sign.Tenant {
		// The set signs with one merchant's key: another tenant's request
		// would go out as that merchant's payment. Refused before the body
		// is read, unsigned and unsent.
		id := errSignTenant.answer(w, r)
		h.logger.Warn("detokenize refused: this rule set signs for another tenant", zap.String("rule_set", set.Name), zap.String("tenant", tenant), requestLogID(r.Context(), id))
		h.recordRefusal(ctx, set, who, id, "sign_tenant_mismatch", "")
		h.done(span, set, "sign_tenant_mismatch", errors.New("sign tenant mismatch"))
		return nil
	}
	if set.Sign != nil && !canonicalPath(r.URL) {
		// The transport signs only a canonical path (delivery.send); one
		// refused there would have spent the cryptogram and taken the
		// held CVV. Refused here, before any card is read.
		id := errPathNotCanonical.answer(w, r)
		h.logger.Warn("detokenize refused: a signing rule set's path is not canonical", zap.String("rule_set", set.Name), requestLogID(r.Context(), id))
		h.done(span, set, "path_not_canonical", errors.New("path not canonical"))
		return nil
	}
	kind, doc, raw, ok := readDoc(w, r, limitFor(h.MaxBodySize, h.app.MaxBodySize), time.Duration(h.app.BodyReadTimeout), false, nil)
	if !ok {
		h.done(span, set, "bad_request", errors.New("bad body"))
		return nil
	}
	if doc == nil && raw == nil && set.PANGuard != rules.PANOff {
		// A body that is neither JSON nor a form is not detokenized, but
		// card numbers the merchant put in it would reach the processor
		// and come back in its echo: the guard reads it too.
		if raw, ok = readBody(w, r, limitFor(h.MaxBodySize, h.app.MaxBodySize), time.Duration(h.app.BodyReadTimeout), nil); !ok {
			h.done(span, set, "bad_request", errors.New("bad body"))
			return nil
		}
		replaceBody(r, raw)
	}
	if !h.outboundPANGuard(w, r, set, kind, doc, raw) {
		h.done(span, set, "pan_detected", errors.New("a card number outside the token fields"))
		return nil
	}
	if doc == nil {
		h.done(span, set, "passthrough", nil)
		return next.ServeHTTP(w, r)
	}
	res, err := h.app.stack.Load().Detokenizer.Apply(ctx, tenant, set, kind, doc)
	injections := res.Injections
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("tokengate.field_count", len(injections)))
	}
	var built []byte
	if err == nil {
		// Built and verified here, before the Tokengate-Injected header and
		// the audit line, so they report what the body holds and a token
		// that was not replaced never leaves; the transport sends these bytes.
		built, err = res.Body(kind, r.Header.Get("Content-Type"), doc)
	}
	// The parse state goes back to the pool, as the tokenize handler's
	// does: nothing below reads it (built, res and raw are not its
	// memory), its arena's copy of the network token and cryptogram is
	// cleared now, and the next body reuses its maps and added members
	// rather than allocating them.
	body.Release(doc)
	if err != nil {
		h.answerFailure(w, r, span, set, tenant, err)
		h.recordFailure(ctx, r, set, who, err)
		return nil
	}
	// The audit entry is written before anything leaves: a sink that
	// cannot write it stops the payment (PCI DSS 10.2.1.1).
	if err := h.recordDetokenized(ctx, r, set, who, &res); err != nil {
		id := errAuditUnavailable.because(err).answer(w, r)
		h.logger.Error("detokenize refused: the audit entry could not be written; nothing forwarded", zap.String("rule_set", set.Name), zap.String("tenant", tenant), zap.Error(err), requestLogID(r.Context(), id))
		h.done(span, set, "audit_unavailable", err)
		return nil
	}
	replaceBody(r, raw) // the tokens travel on; see Transport
	// The request id is added where a line is written: logger.With would
	// work it out (a UUID) and copy the encoder on every request.
	d := &delivery{set: set, body: built, log: h.logger}
	if set.ResponseGuard == rules.GuardRedact {
		// raw is the merchant's body as it came, before any edit.
		d.guard = newResponseGuard(set, res.Secrets, raw, built, r)
	}
	w.Header().Set(InjectedHeader, injectedHeader(injections))
	h.audit(zap.InfoLevel, "detokenized", r, set, tenant, injections)
	countFallbacks(set.Name, injections)
	h.done(span, set, "detokenized", nil)
	err = next.ServeHTTP(w, withDelivery(r, d))
	if !d.sent.Load() {
		h.audit(zap.WarnLevel, "detokenized request was not delivered: no reverse_proxy with the tokengate transport sent it (the tokens went on unchanged, if anywhere)", r, set, tenant, nil)
	}
	return err
}

// answerFailure answers a detokenization that failed (Apply or building the
// body): nothing is forwarded, and the audit line says why.
func (h *Detokenize) answerFailure(w http.ResponseWriter, r *http.Request, span trace.Span, set *rules.Outbound, tenant string, err error) {
	var fe *body.FieldError
	var nr *detokenize.NotReplacedError
	var ur *detokenize.UnreadableError
	switch {
	case errors.As(err, &ur):
		h.answerUnreadable(w, r, set, tenant, ur)
		h.done(span, set, "record_unreadable", err)
	case errors.As(err, &nr):
		errNotReplaced(nr).because(err).answer(w, r)
		h.audit(zap.ErrorLevel, "a token would have gone on in place of its card number; request not forwarded (fix the rule set)", r, set, tenant, nil,
			zap.String("field", body.SafePath(nr.Field)), zap.String("reason", nr.Reason))
		h.done(span, set, "token_not_replaced", err)
	case errors.As(err, &fe):
		fieldFailure(fe).answer(w, r)
		h.audit(zap.WarnLevel, "detokenize refused", r, set, tenant, nil, zap.String("field", fe.Field), zap.String("code", fe.Code))
		h.done(span, set, fe.Code, err)
	case clientGone(r, err):
		h.audit(zap.DebugLevel, "client went away during detokenization; nothing forwarded", r, set, tenant, nil)
		h.done(span, set, "client_gone", err)
	default: // errdefs.ErrUnavailable, or a failure nobody foresaw: fail closed alike
		errVaultUnavailableOutbound.because(err).answer(w, r)
		h.audit(zap.ErrorLevel, "detokenize failed; request not forwarded", r, set, tenant, nil, zap.Error(err))
		h.done(span, set, "unavailable", err)
	}
}

// errNotReplaced answers a token found and not replaced: 500, because the
// rules (or the gateway) are at fault, not the request, and retrying the
// same request cannot help.
func errNotReplaced(nr *detokenize.NotReplacedError) gatewayError {
	return gatewayError{status: http.StatusInternalServerError, code: "token_not_replaced", category: "SERVER_ERROR", infoCode: "INTERNAL_ERROR",
		message: "A token was found that the gateway's outbound rule set " + nr.Set + " does not replace with its card number; nothing was forwarded. The rule set needs fixing.",
		field:   &body.FieldError{Status: http.StatusInternalServerError, Field: body.SafePath(nr.Field), Code: "token_not_replaced", Reason: "this token was not replaced by its card number"}}
}

// done ends the request's span and counts its outcome.
func (h *Detokenize) done(span trace.Span, set *rules.Outbound, outcome string, err error) {
	detokenizeOutcomes.of([2]string{set.Name, outcome}).Inc()
	endSpan(span, outcome, err)
}

// audit logs every detokenization, as PCI DSS asks: who (tenant), which rule
// set, and what each field became, never a value or a token.
func (h *Detokenize) audit(level zapcore.Level, msg string, r *http.Request, set *rules.Outbound, tenant string, injections []detokenize.Injection, extra ...zap.Field) {
	ce := h.logger.Check(level, msg)
	if ce == nil {
		return
	}
	fields := append([]zap.Field{zap.String("rule_set", set.Name), zap.String("tenant", tenant)}, extra...)
	fields = append(fields, requestLog(r))
	if injections != nil {
		fields = append(fields, zap.String("injected", injectedHeader(injections)))
	}
	ce.Write(fields...)
}

// injectedHeader renders "field=what[;reason], ..." for the response header
// and the audit line. Fields are rule paths with array indexes, and reasons
// tokengate's own codes, but a reason may be a network token service's
// error title kept with the card, so both are reduced to what a code or a
// path is made of and card numbers are masked: the header never carries a
// value, whatever a provider answered.
func injectedHeader(injections []detokenize.Injection) string {
	var b strings.Builder
	n := 0
	for _, inj := range injections {
		n += min(len(inj.Field), 128) + len(inj.What) + min(len(inj.Reason), 128) + len(", ;reason=")
	}
	b.Grow(n) // one array, not the builder's doublings
	for i, inj := range injections {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(headerSafe(inj.Field))
		b.WriteByte('=')
		b.WriteString(inj.What)
		if inj.Reason != "" {
			b.WriteString(";reason=")
			b.WriteString(headerSafe(inj.Reason))
		}
	}
	return b.String()
}

// headerSafe keeps at most 128 bytes of s, turns every byte that is not
// printable ASCII, or is one of the header's own separators (, ; =), into
// _, and masks card numbers and long digit runs.
func headerSafe(s string) string {
	if len(s) > 128 {
		s = s[:128]
	}
	for i := range len(s) {
		if headerUnsafe(s[i]) {
			b := []byte(s) // copied only when a byte is to be replaced
			for j := i; j < len(b); j++ {
				if headerUnsafe(b[j]) {
					b[j] = '_'
				}
			}
			return body.SafePath(string(b))
		}
	}
	return body.SafePath(s)
}

// headerUnsafe reports whether headerSafe replaces c.
func headerUnsafe(c byte) bool {
	return c < 0x20 || c > 0x7e || c == ',' || c == ';' || c == '='
}

// Validate checks the handler's own settings, for JSON configs too: the
// API key header must be a header name a client can send, and not one that
// proxies or Caddy's logs treat specially.
func (h *Detokenize) Validate() error {
	switch {
	case h.MaxBodySize < 0:
		return fmt.Errorf("detokenize: max_body_size %d: want a positive size", h.MaxBodySize)
	case !httpguts.ValidHeaderFieldName(h.APIKeyHeader):
		return fmt.Errorf("detokenize: api_key_header %q is not a valid header name", h.APIKeyHeader)
	case strings.EqualFold(h.APIKeyHeader, "Host"), strings.EqualFold(h.APIKeyHeader, "Content-Length"),
		strings.EqualFold(h.APIKeyHeader, "Content-Type"), strings.EqualFold(h.APIKeyHeader, "Transfer-Encoding"):
		return fmt.Errorf("detokenize: api_key_header %q is a header the request needs for itself", h.APIKeyHeader)
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Validator             = (*Detokenize)(nil)
	_ caddy.Provisioner           = (*Detokenize)(nil)
	_ caddyhttp.MiddlewareHandler = (*Detokenize)(nil)
)

// errSignTenant answers a tenant other than the one a signing rule set's
// key belongs to.
var errSignTenant = gatewayError{status: http.StatusForbidden, code: "sign_tenant_mismatch", category: "USER_ERROR", infoCode: "FORBIDDEN",
	message: "This rule set signs requests with another merchant's key; nothing was sent. Use the rule set configured for your API key."}

// errPathNotCanonical answers a request to a signing rule set whose path is
// not written as it is read (//, . or .. segments, escapes of characters
// that need none): tokengate signs the path as it leaves, and the set was
// chosen by the path cleaned.
var errPathNotCanonical = gatewayError{status: http.StatusBadRequest, code: "path_not_canonical", category: "USER_ERROR", infoCode: "INVALID_INPUT",
	message: "This rule set signs the request, over its path as sent: write the path without empty, . or .. segments and without needless escapes (//pts/v2/payments is /pts/v2/payments)."}
