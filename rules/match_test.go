package rules

import "testing"

func TestMatches(t *testing.T) {
	tests := []struct {
		name         string
		m            Match
		method, path string
		want         bool
	}{
		{"empty matches all", Match{}, "DELETE", "/anything", true},
		{"method", Match{Methods: []string{"POST"}}, "POST", "/x", true},
		{"method ignores case", Match{Methods: []string{"POST"}}, "post", "/x", true},
		{"other method", Match{Methods: []string{"POST", "PUT"}}, "GET", "/x", false},
		{"exact", Match{Paths: []string{"/checkout"}}, "POST", "/checkout", true},
		{"exact is not prefix", Match{Paths: []string{"/checkout"}}, "POST", "/checkout/2", false},
		{"exact ignores case", Match{Paths: []string{"/checkout"}}, "POST", "/CheckOut", true},
		{"upper-case pattern", Match{Paths: []string{"/CheckOut"}}, "POST", "/checkout", true},
		{"doubled slashes are merged", Match{Paths: []string{"/checkout"}}, "POST", "//checkout", true},
		{"dot segments are resolved", Match{Paths: []string{"/checkout"}}, "POST", "/x/../checkout", true},
		{"trailing slash is kept", Match{Paths: []string{"/checkout"}}, "POST", "/checkout/", false},
		{"pattern with // keeps them", Match{Paths: []string{"/a//b"}}, "POST", "/a//b", true},
		{"pattern with // needs them", Match{Paths: []string{"/a//b"}}, "POST", "/a/b", false},
		{"prefix", Match{Paths: []string{"/api/*"}}, "POST", "/api/v1/cards", true},
		{"prefix needs its slash", Match{Paths: []string{"/api/*"}}, "POST", "/apix", false},
		{"suffix", Match{Paths: []string{"*.json"}}, "POST", "/a/b.json", true},
		{"suffix mismatch", Match{Paths: []string{"*.json"}}, "POST", "/a/b.xml", false},
		{"substring", Match{Paths: []string{"*/pay/*"}}, "POST", "/v1/pay/now", true},
		{"glob", Match{Paths: []string{"/v?/cards/*/tokens"}}, "POST", "/v1/cards/9/tokens", true},
		{"glob star stops at slash", Match{Paths: []string{"/v1/*/tokens"}}, "POST", "/v1/a/b/tokens", false},
		{"star matches all", Match{Paths: []string{"*"}}, "POST", "/", true},
		{"any path of several", Match{Paths: []string{"/a", "/b"}}, "POST", "/b", true},
		{"empty path is /", Match{Paths: []string{"/"}}, "POST", "", true},
		{"method and path both needed", Match{Methods: []string{"POST"}, Paths: []string{"/a"}}, "GET", "/a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Matches(tt.method, tt.path); got != tt.want {
				t.Errorf("%+v.Matches(%q, %q) = %v, want %v", tt.m, tt.method, tt.path, got, tt.want)
			}
		})
	}
}
