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
func startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	tracer := trace.SpanFromContext(ctx).TracerProvider().Tracer(tracerName)
	return tracer.Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan records the outcome; err's text never holds card data (every error
// in the tokengate packages is written to name fields, not values).
func endSpan(span trace.Span, outcome string, err error) {
	endSpanStatus(span, outcome, err != nil)
}

// endSpanStatus records the outcome, as an error status when failed.
func endSpanStatus(span trace.Span, outcome string, failed bool) {
	span.SetAttributes(attribute.String("tokengate.outcome", outcome))
	if failed {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}

func providerAttr(name string) attribute.KeyValue {
	return attribute.String("tokengate.provider", name)
}
