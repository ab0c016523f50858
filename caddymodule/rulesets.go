package caddymodule

import (
	"context"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

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
