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

// binding ties a handler to the tokengate app of its config and to its rule
// sets. Handlers do not look the app up when they are provisioned: the app
// binds every handler its walk over the HTTP routes finds (see checkRoutes),
// so that it can check the whole route tree, in `caddy validate` too, after
// every route is provisioned. A handler the walk did not reach binds itself
// on its first request, or fails closed.
type binding[S ruleSet] struct {
	app      *App
	sets     []S
	matchers []setMatcher // one per set
	logger   *zap.Logger

	ctx       caddy.Context
	directive string // tokenize or detokenize, for errors
	direction string // inbound or outbound
	names     []string
	pick      func(*rules.File) ([]S, func(string) (S, bool))
	once      sync.Once
	err       error
}

func newBinding[S ruleSet](ctx caddy.Context, directive, direction string, names []string, pick func(*rules.File) ([]S, func(string) (S, bool))) *binding[S] {
	return &binding[S]{ctx: ctx, logger: ctx.Logger(), directive: directive, direction: direction, names: names, pick: pick}
}

// bind resolves the handler's rule sets in app's rules file; only the first
// call (bind or bound) has an effect.
func (b *binding[S]) bind(app *App) error {
	b.once.Do(func() { b.resolve(app) })
	return b.err
}

// bound returns nil once the handler is bound, binding it to its config's
// app if that has not happened yet. An error means the handler must answer
// 500 and forward nothing.
func (b *binding[S]) bound() error {
	b.once.Do(func() {
		app, err := b.ctx.AppIfConfigured("tokengate")
		if err != nil {
			b.err = caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("%s: the tokengate app is not configured: %w", b.directive, err))
			return
		}
		b.resolve(app.(*App))
		if b.err != nil {
			b.err = caddyhttp.Error(http.StatusInternalServerError, b.err)
		}
	})
	return b.err
}

func (b *binding[S]) resolve(app *App) {
	all, find := b.pick(app.rules)
	sets, err := resolveSets(b.names, all, find, b.direction, app.rules.Path)
	if err != nil {
		b.err = fmt.Errorf("%s: %w", b.directive, err)
		return
	}
	b.app, b.sets = app, sets
	b.matchers = make([]setMatcher, len(sets))
	for i, set := range sets {
		b.matchers[i] = newSetMatcher(set.MatchBlock())
	}
}
