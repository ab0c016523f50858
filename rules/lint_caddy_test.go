package rules

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// caddyMatches asks Caddy's own path matcher, as the handlers do.
func caddyMatches(t *testing.T, pattern, path string) bool {
	t.Helper()
	m := caddyhttp.MatchPath{pattern}
	if err := m.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "http://x"+path, nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	ok, err := m.MatchWithError(r)
	return ok && err == nil
}

// TestLintAgreesWithCaddy checks the reach checks' proofs against Caddy's
// matcher: whenever coversPattern says e covers l, every sample path Caddy
// matches with l it matches with e; and every overlap witness is matched by
// both patterns.
func TestLintAgreesWithCaddy(t *testing.T) {
	patterns := []string{"*", "/a", "/a/", "/a/*", "/a/b", "/a/b/*", "/a/*/c", "*.json", "/a/*.json",
		"*pay*", "/v1/pay/*", "*/pay/*", "/[ab]/*", "/[ab]/*/c", "/a?c", "*/b", "/x/*"}
	paths := []string{"/", "/a", "/a/", "/a/b", "/a/b/", "/a/b/c", "/a/x/c", "/b/x/c", "/a/b.json", "/a.json",
		"/v1/pay/x", "/pay/", "/x/pay/y", "/abc", "/a/c", "/[ab]/x", "/x/b", "/A/B", "/a/./b", "/a/../a/b", "/a//b"}
	for _, e := range patterns {
		for _, l := range patterns {
			if !coversPattern(e, l) {
				continue
			}
			for _, p := range paths {
				if caddyMatches(t, l, p) && !caddyMatches(t, e, p) {
					t.Errorf("coversPattern(%q, %q) but Caddy matches %q with the second only", e, l, p)
				}
			}
		}
		for _, l := range patterns {
			w, ok := overlapWitness(Match{Paths: []string{e}}, Match{Paths: []string{l}})
			if !ok {
				continue
			}
			p := w[len("any method "):]
			if !caddyMatches(t, e, p) || !caddyMatches(t, l, p) {
				t.Errorf("overlap witness %q of %q and %q: Caddy matches %v, %v", p, e, l, caddyMatches(t, e, p), caddyMatches(t, l, p))
			}
		}
	}
}
