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

// checkPathPattern rejects path patterns that would never match, and
// placeholders, which a rules file does not expand. Patterns are read as
// Caddy's path matcher reads them, escape sequences included.
func checkPathPattern(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty pattern")
	case s[0] != '/' && s[0] != '*':
		return fmt.Errorf("want a pattern starting with / or *")
	case strings.Contains(s, "{"):
		return fmt.Errorf("placeholders are not supported")
	}
	if _, err := path.Match(s, ""); err != nil {
		return fmt.Errorf("bad glob: %w", err)
	}
	return nil
}

// MatchesMethod reports whether the set's methods admit method (any method
// when none is listed). Paths are matched by Caddy's own path matcher, in
// the handlers, on the request itself.
func (m Match) MatchesMethod(method string) bool {
	return len(m.Methods) == 0 || slices.ContainsFunc(m.Methods, func(x string) bool { return strings.EqualFold(x, method) })
}
