package caddymodule

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/rules"
)

// appBinding ties a handler to the tokengate app of its config, once. Every
// tokengate handler (tokenize, detokenize, the served APIs, the webhooks)
// holds one. Handlers do not look the app up when they are provisioned:
// the app is provisioned after them, and binds the tokenize and detokenize
// handlers its walk over the HTTP routes finds (see checkRoutes), so that
// it can check the whole route tree, in `caddy validate` too. A handler
// nothing bound binds itself on its first request, or fails closed.
type appBinding struct {
	ctx  caddy.Context
	what string // the handler, for errors: "tokenize", "juspay API"
	once sync.Once
	app  *App // set once bound without error
	err  error
}

// bindTo binds the handler to app and runs setup with it; only the first
// call (bindTo or bindOnUse) has an effect.
func (b *appBinding) bindTo(app *App, setup func(*App) error) error {
	b.once.Do(func() { b.setup(app, setup) })
	return b.err
}

// bindOnUse returns nil once the handler is bound, binding it to its
// config's app (and running setup) if nothing has yet. An error means the
// handler must answer 500 and forward nothing.
func (b *appBinding) bindOnUse(setup func(*App) error) error {
	b.once.Do(func() {
		app, err := b.ctx.AppIfConfigured("tokengate")
		if err != nil {
			b.err = caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("%s: the tokengate app is not configured: %w", b.what, err))
			return
		}
		if b.setup(app.(*App), setup); b.err != nil {
			b.err = caddyhttp.Error(http.StatusInternalServerError, b.err)
		}
	})
	return b.err
}

// refuse answers a request the handler could not bind for (bindOnUse's
// error): 500, written here and not returned to handle_errors. Without the
// app no route check ran (it is the app's), so the server's handle_errors
// routes may proxy, and the request still holds all its card data.
func (b *appBinding) refuse(w http.ResponseWriter, r *http.Request, err error) error {
	id := requestID(r)
	b.ctx.Logger().Error("request refused: the handler is not bound to the tokengate app; nothing was forwarded", zap.Error(err), requestLogID(r.Context(), id))
	w.Header().Set("Connection", "close") // the body is unread
	gatewayError{status: http.StatusInternalServerError, code: "gateway_misconfigured", category: "SERVER_ERROR", infoCode: "INTERNAL_ERROR",
		message: "The gateway is misconfigured; nothing was forwarded."}.write(w, id)
	return nil
}

func (b *appBinding) setup(app *App, setup func(*App) error) {
	if b.err = setup(app); b.err == nil {
		b.app = app
	}
}

// binding is the appBinding of a handler that applies rule sets (tokenize,
// detokenize): binding it resolves the sets the handler names in the app's
// rules file.
type binding[S ruleSet] struct {
	appBinding
	sets     []S
	matchers []setMatcher // one per set
	logger   *zap.Logger

	direction string // inbound or outbound
	names     []string
	pick      func(*rules.File) ([]S, func(string) (S, bool))
}

func newBinding[S ruleSet](ctx caddy.Context, directive, direction string, names []string, pick func(*rules.File) ([]S, func(string) (S, bool))) *binding[S] {
	return &binding[S]{appBinding: appBinding{ctx: ctx, what: directive}, logger: ctx.Logger(), direction: direction, names: names, pick: pick}
}

// bind binds the handler to app, resolving its rule sets in app's rules
// file; only the first call (bind or bound) has an effect.
func (b *binding[S]) bind(app *App) error { return b.bindTo(app, b.resolve) }

// bound returns nil once the handler is bound, binding it on its first
// request (see appBinding.bindOnUse).
func (b *binding[S]) bound() error { return b.bindOnUse(b.resolve) }

func (b *binding[S]) resolve(app *App) error {
	all, find := b.pick(app.rules)
	sets, err := resolveSets(b.names, all, find, b.direction, app.rules.Path)
	if err != nil {
		return fmt.Errorf("%s: %w", b.what, err)
	}
	b.sets = sets
	b.matchers = make([]setMatcher, len(sets))
	for i, set := range sets {
		b.matchers[i] = newSetMatcher(set.MatchBlock())
	}
	return nil
}

// choose returns the first of the handler's sets whose match block fits the
// request, or nil.
func (b *binding[S]) choose(r *http.Request) S {
	for i, m := range b.matchers {
		if m.matches(r) {
			return b.sets[i]
		}
	}
	return nil
}
