package caddymodule

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/stack"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// nopRecorder takes entries and writes nothing: the hook's own cost.
type nopRecorder struct{}

func (nopRecorder) Record(context.Context, audit.Entry) error { return nil }

// BenchmarkRecordDetokenized is the detokenize hook's cost of building
// its entry (one token, a trace id), without the sink's. Without a Caddy
// server's replacer the request id is a new UUID (2 of its 4 allocations);
// under Caddy it is the request's own.
func BenchmarkRecordDetokenized(b *testing.B) {
	a := &App{stack: new(atomic.Pointer[stack.Stack])}
	a.stack.Store(stack.New(stack.Config{Keys: vaulttest.Keys(b), Audit: nopRecorder{}}))
	h := &Detokenize{binding: &binding[*rules.Outbound]{}}
	h.app = a
	set := &rules.Outbound{Name: "stripe_charges", Destinations: []string{"api.stripe.com"}}
	who := caller{tenant: "acme", keyID: "3f2a9c1be07d"}
	res := &detokenize.Result{Tokens: []string{"tok_4cU7XyZb9QmP2kLw8RtN"},
		Injections: []detokenize.Injection{{Field: "card.number", What: detokenize.InjectedNetworkToken}}}
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	r := httptest.NewRequest("POST", "/v1/charges", nil).WithContext(ctx)
	b.ReportAllocs()
	for b.Loop() {
		if err := h.recordDetokenized(ctx, r, set, who, res); err != nil {
			b.Fatal(err)
		}
	}
}
