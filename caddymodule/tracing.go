package caddymodule

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/network"
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
	span.SetAttributes(attribute.String("tokengate.outcome", outcome))
	if err != nil {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}

// tracedNetwork wraps a network token service so every call is a span with
// the provider and outcome, and nothing else.
type tracedNetwork struct{ network.Service }

func (t tracedNetwork) call(ctx context.Context, op string, fn func(context.Context) error) error {
	ctx, span := startSpan(ctx, "tokengate.network."+op, attribute.String("tokengate.provider", t.Name()))
	err := fn(ctx)
	endSpan(span, networkOutcome(err), err)
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

func (t tracedNetwork) Provision(ctx context.Context, req network.ProvisionRequest) (tok network.Token, err error) {
	err = t.call(ctx, "provision", func(ctx context.Context) error {
		tok, err = t.Service.Provision(ctx, req)
		return err
	})
	return tok, err
}

func (t tracedNetwork) Get(ctx context.Context, id string) (tok network.Token, err error) {
	err = t.call(ctx, "get", func(ctx context.Context) error {
		tok, err = t.Service.Get(ctx, id)
		return err
	})
	return tok, err
}

func (t tracedNetwork) Cryptogram(ctx context.Context, id string) (c network.Cryptogram, err error) {
	err = t.call(ctx, "cryptogram", func(ctx context.Context) error {
		c, err = t.Service.Cryptogram(ctx, id)
		return err
	})
	return c, err
}

func (t tracedNetwork) SetStatus(ctx context.Context, id, status string) error {
	return t.call(ctx, "set_status", func(ctx context.Context) error {
		return t.Service.SetStatus(ctx, id, status)
	})
}
