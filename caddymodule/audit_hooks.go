package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/rules"
)

// testRecorder, set by a test before it loads a config, replaces the app's
// audit recorder, so that tests of what is recorded need no sink.
var testRecorder audit.Recorder

// recorder is the app's audit recorder: the configured sink's, or
// audit.Discard.
func (a *App) recorder() audit.Recorder {
	switch {
	case testRecorder != nil:
		return testRecorder
	case a.audit != nil:
		return a.audit
	}
	return audit.Discard
}

// errAuditUnavailable answers an access to card data whose audit entry
// could not be written: nothing was forwarded or returned (PCI DSS 10.2:
// no access without its record).
var errAuditUnavailable = gatewayError{status: http.StatusServiceUnavailable, code: "audit_unavailable", category: "SERVER_ERROR", infoCode: "SERVICE_UNAVAILABLE",
	message: "The audit trail could not record this access to card data; nothing was forwarded. Retry later."}

// auditUnrecorded counts the entries a recorder failed to write where the
// event had happened already or was refused anyway (a webhook's state
// change, a refused detokenization), by action: those are logged and
// counted; an access that had not happened yet is refused instead (503
// audit_unavailable, counted with its handler's requests).
var auditUnrecorded = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: metricsNamespace, Name: "audit_unrecorded_total",
	Help: "Events (a webhook's token state change, a refused detokenization) whose audit entry could not be written, by action.",
}, []string{"action"})

// auditWriteFailed logs and counts an entry that could not be written.
func auditWriteFailed(logger *zap.Logger, ctx context.Context, action string, err error) {
	logger.Error("an audit entry could not be written", zap.String("action", action), zap.Error(err), requestLogOf(ctx))
	auditUnrecorded.WithLabelValues(action).Inc()
}

// auditFailed logs and counts an entry the lifecycle could not write for a
// token state change the network had made (it stands).
func (a *App) auditFailed(ctx context.Context, action string, err error) {
	auditWriteFailed(a.logger, ctx, action, err)
}

// origin is the request's ids as an audit entry holds them: Caddy's
// request id (the one its answer and log lines carry) and the W3C trace id.
func origin(ctx context.Context, id string) audit.Origin {
	if id == "" {
		id = requestIDOf(ctx)
	}
	o := audit.Origin{RequestID: id}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		o.TraceID = sc.TraceID().String()
	}
	return o
}

// destination is where a rule set's requests may go: its one destination,
// or the list the transport will pick from (it refuses any other).
func destination(set *rules.Outbound) string {
	if len(set.Destinations) == 1 {
		return set.Destinations[0]
	}
	return strings.Join(set.Destinations, ",")
}

// auditText keeps what an entry says of a field path or a reason short and
// free of card numbers (a reason may be a provider's text kept with the
// card).
func auditText(s string) string {
	// Masked before it is cut: a card number across the cut would lose its
	// tail, fail the Luhn check and pass unmasked.
	s = body.SafePath(s)
	if len(s) > 128 {
		s = strings.ToValidUTF8(s[:128], "")
	}
	return s
}

// recordDetokenized records a detokenization that found tokens, before the
// request goes on: one entry, each token with what it became. A request
// that carried no token (every token field absent) is not recorded: it
// touched no card.
func (h *Detokenize) recordDetokenized(ctx context.Context, r *http.Request, set *rules.Outbound, who caller, res *detokenize.Result) error {
	rec := h.app.stack.Load().Audit
	if rec == audit.Discard {
		return nil // no audit trail configured: nothing to build
	}
	n := 0
	for _, tok := range res.Tokens {
		if tok != "" {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	tokens := make([]audit.TokenUse, 0, n)
	for i, tok := range res.Tokens {
		if tok == "" {
			continue
		}
		inj := res.Injections[i]
		tokens = append(tokens, audit.TokenUse{Token: tok, Field: auditText(inj.Field), Became: inj.What, Reason: auditText(inj.Reason)})
	}
	o := origin(ctx, requestID(r))
	return rec.Record(ctx, audit.Entry{
		Time: time.Now().UTC(), Action: audit.ActionDetokenize, Outcome: audit.OutcomeOK,
		Tenant: who.tenant, APIKey: who.keyID, RuleSet: set.Name, Destination: destination(set),
		RequestID: o.RequestID, TraceID: o.TraceID, Tokens: tokens,
	})
}

// recordRefusal records a detokenization refused (nothing was read or
// forwarded): best effort, as the request has failed already; a recorder
// that fails is logged and counted.
func (h *Detokenize) recordRefusal(ctx context.Context, set *rules.Outbound, who caller, id, code, field string) {
	st := h.app.stack.Load()
	if st == nil || st.Audit == audit.Discard {
		return
	}
	o := origin(ctx, id)
	e := audit.Entry{
		Time: time.Now().UTC(), Action: audit.ActionDetokenize, Outcome: audit.OutcomeRefused,
		Tenant: who.tenant, APIKey: who.keyID, RuleSet: set.Name, Destination: destination(set),
		RequestID: o.RequestID, TraceID: o.TraceID, Detail: map[string]string{"code": code},
	}
	if field != "" {
		e.Tokens = []audit.TokenUse{{Field: auditText(field), Became: detokenize.InjectedNone, Reason: code}}
	}
	if err := st.Audit.Record(ctx, e); err != nil {
		auditWriteFailed(h.logger, ctx, audit.ActionDetokenize, err)
	}
}

// recordFailure records a detokenization that Apply or the body's build
// refused or failed (an unknown token, a network token unavailable, a
// record that does not open...), naming the field and the code; a client
// that went away is not recorded.
func (h *Detokenize) recordFailure(ctx context.Context, r *http.Request, set *rules.Outbound, who caller, err error) {
	var fe *body.FieldError
	var nr *detokenize.NotReplacedError
	var ur *detokenize.UnreadableError
	switch {
	case errors.As(err, &ur):
		h.recordRefusal(ctx, set, who, requestID(r), "record_unreadable", ur.Field)
	case errors.As(err, &nr):
		h.recordRefusal(ctx, set, who, requestID(r), "token_not_replaced", nr.Field)
	case errors.As(err, &fe):
		h.recordRefusal(ctx, set, who, requestID(r), fe.Code, fe.Field)
	case clientGone(r, err):
	default:
		h.recordRefusal(ctx, set, who, requestID(r), "unavailable", "")
	}
}
