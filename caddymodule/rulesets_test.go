package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokengate/tokengate/rules"
)

// TestSetMatcher: a rule set's match block, read by Caddy's own path
// matcher, fits exactly the requests Caddy's `path` would.
func TestSetMatcher(t *testing.T) {
	tests := []struct {
		name         string
		m            rules.Match
		method, path string
		want         bool
	}{
		{"empty matches all", rules.Match{}, "DELETE", "/anything", true},
		{"method", rules.Match{Methods: []string{"POST"}}, "POST", "/x", true},
		{"method ignores case", rules.Match{Methods: []string{"POST"}}, "post", "/x", true},
		{"other method", rules.Match{Methods: []string{"POST", "PUT"}}, "GET", "/x", false},
		{"exact", rules.Match{Paths: []string{"/checkout"}}, "POST", "/checkout", true},
		{"exact is not prefix", rules.Match{Paths: []string{"/checkout"}}, "POST", "/checkout/2", false},
		{"exact ignores case", rules.Match{Paths: []string{"/checkout"}}, "POST", "/CheckOut", true},
		{"upper-case pattern", rules.Match{Paths: []string{"/CheckOut"}}, "POST", "/checkout", true},
		{"doubled slashes are merged", rules.Match{Paths: []string{"/checkout"}}, "POST", "//checkout", true},
		{"dot segments are resolved", rules.Match{Paths: []string{"/checkout"}}, "POST", "/x/../checkout", true},
		{"trailing slash is kept", rules.Match{Paths: []string{"/checkout"}}, "POST", "/checkout/", false},
		{"pattern with // keeps them", rules.Match{Paths: []string{"/a//b"}}, "POST", "/a//b", true},
		{"pattern with // needs them", rules.Match{Paths: []string{"/a//b"}}, "POST", "/a/b", false},
		{"prefix", rules.Match{Paths: []string{"/api/*"}}, "POST", "/api/v1/cards", true},
		{"prefix needs its slash", rules.Match{Paths: []string{"/api/*"}}, "POST", "/apix", false},
		{"suffix", rules.Match{Paths: []string{"*.json"}}, "POST", "/a/b.json", true},
		{"suffix mismatch", rules.Match{Paths: []string{"*.json"}}, "POST", "/a/b.xml", false},
		{"substring", rules.Match{Paths: []string{"*/pay/*"}}, "POST", "/v1/pay/now", true},
		{"glob", rules.Match{Paths: []string{"/v?/cards/*/tokens"}}, "POST", "/v1/cards/9/tokens", true},
		{"glob star stops at slash", rules.Match{Paths: []string{"/v1/*/tokens"}}, "POST", "/v1/a/b/tokens", false},
		{"star matches all", rules.Match{Paths: []string{"*"}}, "POST", "/", true},
		{"any path of several", rules.Match{Paths: []string{"/a", "/b"}}, "POST", "/b", true},
		{"an escaped slash is not a slash", rules.Match{Paths: []string{"/a/b"}}, "POST", "/a%2Fb", true},
		{"escape in the pattern compares escaped", rules.Match{Paths: []string{"/a%2Fb"}}, "POST", "/a%2Fb", true},
		{"escape in the pattern is not the slash", rules.Match{Paths: []string{"/a%2Fb"}}, "POST", "/a/b", false},
		{"method and path both needed", rules.Match{Methods: []string{"POST"}, Paths: []string{"/a"}}, "GET", "/a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://shop.example"+tt.path, nil)
			r.Method = tt.method
			if got := newSetMatcher(tt.m).matches(r); got != tt.want {
				t.Errorf("%+v on %s %s = %v, want %v", tt.m, tt.method, tt.path, got, tt.want)
			}
		})
	}
}
