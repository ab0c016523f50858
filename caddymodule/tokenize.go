package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
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
// cannot be tokenized the request is answered here and nothing is forwarded.
func (h *Tokenize) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if err := h.bound(); err != nil {
		return err
	}
	set := pickSet(h.sets, r)
	if set == nil {
		return next.ServeHTTP(w, r)
	}
	ctx, span := startSpan(r.Context(), "tokengate.tokenize", attribute.String("tokengate.rule_set", set.Name))
	kind, doc, raw, ok := readDoc(w, r, limitFor(h.MaxBodySize, h.app.MaxBodySize), true)
	if !ok {
		endSpan(span, "bad_request", errors.New("bad body"))
		return nil
	}
	if doc == nil {
		endSpan(span, "passthrough", nil)
		return next.ServeHTTP(w, r)
	}
	res, err := h.app.tokenizer.Apply(ctx, set, kind, doc)
	span.SetAttributes(attribute.Int("tokengate.field_count", res.Fields), attribute.Int("tokengate.card_count", res.Cards))
	var fe *body.FieldError
	switch {
	case errors.As(err, &fe):
		id := fieldFailure(fe).write(w)
		h.logger.Info("card rejected", zap.String("rule_set", set.Name), zap.String("field", fe.Field), zap.String("code", fe.Code), zap.String("request_id", id))
		endSpan(span, fe.Code, err)
		return nil
	case clientGone(r, err):
		h.logger.Debug("client went away during tokenization; nothing forwarded", zap.String("rule_set", set.Name))
		endSpan(span, "client_gone", err)
		return nil
	case err != nil:
		id := errUnavailable.write(w)
		h.logger.Error("tokenization failed; request not forwarded", zap.String("rule_set", set.Name), zap.Error(err), zap.String("request_id", id))
		endSpan(span, "unavailable", err)
		return nil
	}
	if err := writeBack(r, doc, raw, res.Fields > 0); err != nil {
		id := errUnavailable.write(w)
		h.logger.Error("re-encoding body failed; request not forwarded", zap.String("rule_set", set.Name), zap.Error(err), zap.String("request_id", id))
		endSpan(span, "error", err)
		return nil
	}
	h.logger.Debug("tokenized", zap.String("rule_set", set.Name), zap.String("tenant", set.Tenant),
		zap.Int("cards", res.Cards), zap.Int("new_cards", res.Created), zap.Int("network_tokens", res.NetworkTokens))
	endSpan(span, "tokenized", nil)
	return next.ServeHTTP(w, r)
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Tokenize)(nil)
	_ caddyhttp.MiddlewareHandler = (*Tokenize)(nil)
)
