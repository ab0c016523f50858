package caddymodule

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// requestLog is the request's ids as log fields: request_id, Caddy's
// {http.request.uuid} (see requestID), and, when the request is traced
// (Caddy's tracing directive), trace_id and span_id from its span, so that
// a tokengate line joins the access log (which has uuid, and traceID when
// traced) and the trace in the tracing backend. Every request-scoped line
// carries it. The ids are worked out only when the line is written.
func requestLog(r *http.Request) zap.Field { return requestLogOf(r.Context()) }

// requestLogOf is requestLog for a request's context.
func requestLogOf(ctx context.Context) zap.Field { return requestLogID(ctx, "") }

// requestLogID is requestLog with the request id already known (as an
// answer's body gave it: outside a Caddy server each requestID is new).
func requestLogID(ctx context.Context, id string) zap.Field {
	return zap.Inline(requestIDs{ctx: ctx, id: id})
}

type requestIDs struct {
	ctx context.Context
	id  string
}

// MarshalLogObject implements zapcore.ObjectMarshaler.
func (f requestIDs) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	id := f.id
	if id == "" {
		id = requestIDOf(f.ctx)
	}
	enc.AddString("request_id", id)
	if sc := trace.SpanContextFromContext(f.ctx); sc.IsValid() {
		enc.AddString("trace_id", sc.TraceID().String())
		enc.AddString("span_id", sc.SpanID().String())
	}
	return nil
}
