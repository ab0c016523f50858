package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/rules"
)

// ruleSet is what the handlers need of an inbound or outbound rule set.
type ruleSet interface {
	*rules.Inbound | *rules.Outbound
	MatchBlock() rules.Match
}

// resolveSets turns a handler's rule set names into the sets: all of them, in
// file order, when no name is given; an unknown name fails the config load.
func resolveSets[S ruleSet](names []string, all []S, find func(string) (S, bool), direction, file string) ([]S, error) {
	if len(names) == 0 {
		return all, nil
	}
	sets := make([]S, 0, len(names))
	for _, name := range names {
		set, ok := find(name)
		if !ok {
			return nil, fmt.Errorf("no %s rule set %q in %s", direction, name, file)
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// setMatcher is a rule set's match block as Caddy matchers: its methods,
// and its paths through Caddy's own path matcher (case-insensitive, on the
// cleaned path, escape sequences compared escaped), so "/CHECKOUT" or
// "//checkout" cannot slip card data past a rule that names "/checkout".
type setMatcher struct {
	match rules.Match
	paths caddyhttp.MatchPath // nil: every path
}

func newSetMatcher(m rules.Match) setMatcher {
	sm := setMatcher{match: m}
	if len(m.Paths) > 0 {
		sm.paths = append(caddyhttp.MatchPath(nil), m.Paths...)
		_ = sm.paths.Provision(caddy.Context{}) // lower-cases; never fails
	}
	return sm
}

func (sm setMatcher) matches(r *http.Request) bool {
	if !sm.match.MatchesMethod(r.Method) {
		return false
	}
	if sm.paths == nil {
		return true
	}
	if r.Context().Value(caddy.ReplacerCtxKey) == nil {
		// Caddy puts a replacer on every request; the path matcher needs one.
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	}
	ok, err := sm.paths.MatchWithError(r)
	return ok && err == nil
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
