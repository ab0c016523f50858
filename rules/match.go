package rules

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// match decodes a set's match block. Methods are upper-cased and paths
// lower-cased once here, as Caddy's matchers do at provisioning.
func (p *parser) match(n *yaml.Node, ctx string) (Match, error) {
	var m Match
	ctx += ": match"
	es, err := p.entries(n, ctx, []string{"methods", "paths"})
	if err != nil {
		return m, err
	}
	for _, e := range es {
		items, err := p.list(e.val, ctx, e.key.Value)
		if err != nil {
			return m, err
		}
		for _, it := range items {
			if e.key.Value == "methods" {
				if !isMethod(it.Value) {
					return m, p.errAt(it, ctx, "method %q: want an HTTP method such as POST", it.Value)
				}
				m.Methods = append(m.Methods, strings.ToUpper(it.Value))
				continue
			}
			if err := checkPathPattern(it.Value); err != nil {
				return m, p.errAt(it, ctx, "path %q: %v", it.Value, err)
			}
			m.Paths = append(m.Paths, strings.ToLower(it.Value))
		}
	}
	return m, nil
}

// isMethod reports whether s can be an HTTP method name, so that a stray
// path or comma in a methods list is caught.
func isMethod(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// checkPathPattern rejects path patterns that would never match, or that
// Caddy reads differently than Matches can: placeholders and escape
// sequences need the request itself, which Matches does not have.
func checkPathPattern(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty pattern")
	case s[0] != '/' && s[0] != '*':
		return fmt.Errorf("want a pattern starting with / or *")
	case strings.Contains(s, "{"):
		return fmt.Errorf("placeholders are not supported")
	case strings.Contains(s, "%"):
		return fmt.Errorf("escape sequences are not supported; write the decoded path")
	}
	if _, err := path.Match(s, ""); err != nil {
		return fmt.Errorf("bad glob: %v", err)
	}
	return nil
}

// Matches reports whether a request with this method and path is in the
// set. Paths are compared as Caddy's path matcher does: ignoring case, on
// the cleaned path (dot segments resolved, double slashes merged unless the
// pattern has some), so that "/CHECKOUT" or "//checkout" cannot slip card
// data past a rule that names "/checkout".
func (m Match) Matches(method, reqPath string) bool {
	if len(m.Methods) > 0 && !slices.ContainsFunc(m.Methods, func(x string) bool { return strings.EqualFold(x, method) }) {
		return false
	}
	if len(m.Paths) == 0 {
		return true
	}
	lower := strings.ToLower(reqPath)
	if lower == "" {
		lower = "/"
	}
	for _, pat := range m.Paths {
		if matchPath(strings.ToLower(pat), lower) {
			return true
		}
	}
	return false
}

// matchPath is one pattern of Caddy's MatchPath against a lower-cased path.
func matchPath(pat, p string) bool {
	if pat == "*" {
		return true
	}
	p = cleanPath(p, !strings.Contains(pat, "//"))
	stars := strings.Count(pat, "*")
	switch {
	case stars == 2 && len(pat) > 1 && pat[0] == '*' && pat[len(pat)-1] == '*':
		return strings.Contains(p, pat[1:len(pat)-1])
	case stars == 1 && pat[0] == '*':
		return strings.HasSuffix(p, pat[1:])
	case stars == 1 && pat[len(pat)-1] == '*':
		return strings.HasPrefix(p, pat[:len(pat)-1])
	}
	ok, _ := path.Match(pat, p)
	return ok
}

// cleanPath is path.Clean keeping a trailing slash; without mergeSlashes,
// empty segments ("//") survive, as in caddyhttp.CleanPath.
func cleanPath(p string, mergeSlashes bool) string {
	if !mergeSlashes {
		const tmp = "\xff"
		var b strings.Builder
		for i := 0; i < len(p); i++ {
			if p[i] == '/' && i > 0 && p[i-1] == '/' {
				b.WriteString(tmp)
			}
			b.WriteByte(p[i])
		}
		return strings.ReplaceAll(cleanPath(b.String(), true), tmp, "")
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c
}
