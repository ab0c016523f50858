package caddymodule

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

const tracerName = "github.com/tokengate/tokengate"

// startSpan starts a child of whatever span the request carries. Caddy never
// sets the global provider: the tracing directive's span carries its own, so
// taking the provider from the parent span makes ours nest under it (and be
// no-ops when tracing is off).
//
// A context without a span (tracing off, the usual case) gets the no-op
// span the no-op tracer would start, without its context, options and
// attribute copies on every request.
// One attribute, not a variadic list: a list's array escapes into
// WithAttributes and would be allocated on the untraced path too.
func startSpan(ctx context.Context, name string, attr attribute.KeyValue) (context.Context, trace.Span) {
	if !traced(ctx) {
		return ctx, noSpan
	}
	tracer := trace.SpanFromContext(ctx).TracerProvider().Tracer(tracerName)
	return tracer.Start(ctx, name, trace.WithAttributes(attr))
}

// traced reports whether ctx carries a span, a tracer's own or the no-op
// span of a disabled provider: startSpan then starts one.
func traced(ctx context.Context) bool { return trace.SpanFromContext(ctx) != noSpan }

// noSpan is what trace.SpanFromContext returns for a context without a
// span: the trace package's no-op span, whose tracer starts only itself.
var noSpan = trace.SpanFromContext(context.Background())

// endSpan records the outcome; err's text never holds card data (every error
// in the tokengate packages is written to name fields, not values).
func endSpan(span trace.Span, outcome string, err error) {
	endSpanStatus(span, outcome, err != nil)
}

// endSpanStatus records the outcome, as an error status when failed.
func endSpanStatus(span trace.Span, outcome string, failed bool) {
	if !span.IsRecording() {
		// Attributes and a status on a span that records nothing are
		// dropped: not built.
		span.End()
		return
	}
	span.SetAttributes(attribute.String("tokengate.outcome", outcome))
	if failed {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}

func providerAttr(name string) attribute.KeyValue {
	return attribute.String("tokengate.provider", name)
}
