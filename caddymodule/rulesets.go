package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/tokengate/tokengate/rules"
)

// ruleSet is what the handlers need of an inbound or outbound rule set.
type ruleSet interface {
	*rules.Inbound | *rules.Outbound
	Matches(method, path string) bool
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

// pickSet returns the first set whose match block fits the request, or nil.
func pickSet[S ruleSet](sets []S, r *http.Request) S {
	for _, s := range sets {
		if s.Matches(r.Method, r.URL.Path) {
			return s
		}
	}
	return nil
}
