package rules

import (
	"path"
	"slices"
	"strings"
)

// The reach checks reason about match blocks the way the handlers apply
// them: methods compared without case, and paths through Caddy's path
// matcher (caddyhttp.MatchPath), which lower-cases and cleans the request
// path and then reads each pattern as "*" (everything), a substring
// ("*x*", exactly two stars), a suffix ("*x") or prefix ("x*", exactly one
// star), or else a path.Match glob (exact when it has no glob characters).
//
// Precision: covers and overlapWitness only ever answer yes with a proof,
// so lint never warns about sets that cannot collide. covers answers yes
// when every pattern of the later set is covered by one pattern of the
// earlier set: an exact path the earlier pattern matches, or a literal
// start, end or run that every path the later pattern matches must have
// and that the earlier prefix, suffix or substring requires; a glob covers
// only itself and exact paths. A union of earlier patterns covering one
// later pattern together ("/a/*" and "/b/*" against "/[ab]/*") is not
// seen. overlapWitness answers yes only with a concrete cleaned path both
// sets match, built from the patterns' literals. Patterns holding "%"
// (compared escaped) or "//" (cleaned without merging slashes) or "\"
// (glob escapes) are cleaned or read differently by Caddy, so they are
// never used as proof.

// covers reports whether every request that later admits, earlier admits.
func covers(earlier, later Match) bool {
	if !coversMethods(earlier.Methods, later.Methods) {
		return false
	}
	ep, lp := patternsOf(earlier.Paths), patternsOf(later.Paths)
	for _, l := range lp {
		if !slices.ContainsFunc(ep, func(e string) bool { return coversPattern(e, l) }) {
			return false
		}
	}
	return true
}

// patternsOf is a set's path patterns; no paths means every path.
func patternsOf(paths []string) []string {
	if len(paths) == 0 {
		return []string{"*"}
	}
	return paths
}

// coversMethods reports whether earlier's methods include later's (no
// methods means every method).
func coversMethods(earlier, later []string) bool {
	if len(earlier) == 0 {
		return true
	}
	if len(later) == 0 {
		return false
	}
	for _, m := range later {
		if !slices.Contains(earlier, m) {
			return false
		}
	}
	return true
}

// plain reports whether Caddy reads pattern p on the lower-cased path with
// slashes merged and no escapes, as matchPattern does.
func plain(p string) bool {
	return !strings.ContainsAny(p, `%\`) && !strings.Contains(p, "//")
}

// patternKind is how Caddy reads a pattern; lit is the literal of a
// substring, suffix or prefix pattern.
func patternKind(p string) (kind, lit string) {
	switch n := strings.Count(p, "*"); {
	case p == "*":
		return "all", ""
	case n == 2 && strings.HasPrefix(p, "*") && strings.HasSuffix(p, "*"):
		return "substring", p[1 : len(p)-1]
	case n == 1 && strings.HasPrefix(p, "*"):
		return "suffix", p[1:]
	case n == 1 && strings.HasSuffix(p, "*"):
		return "prefix", p[:len(p)-1]
	case !strings.ContainsAny(p, "*?["):
		return "exact", p
	}
	return "glob", ""
}

// matchPattern is Caddy's path matcher for one plain pattern on a path
// already lower-cased and cleaned.
func matchPattern(p, s string) bool {
	kind, lit := patternKind(p)
	switch kind {
	case "all":
		return true
	case "substring":
		return strings.Contains(s, lit)
	case "suffix":
		return strings.HasSuffix(s, lit)
	case "prefix":
		return strings.HasPrefix(s, lit)
	}
	ok, _ := path.Match(p, s)
	return ok
}

// coversPattern reports whether every path pattern l matches, pattern e
// matches too.
func coversPattern(e, l string) bool {
	if e == "*" {
		return true
	}
	if !plain(e) || !plain(l) {
		return false
	}
	if e == l {
		return true
	}
	ek, elit := patternKind(e)
	lk, llit := patternKind(l)
	switch {
	case lk == "exact":
		return matchPattern(e, llit)
	case lk == "all":
		return false
	case ek == "prefix":
		return strings.HasPrefix(literalStart(l), elit)
	case ek == "suffix":
		return strings.HasSuffix(literalEnd(l), elit)
	case ek == "substring":
		return slices.ContainsFunc(literalRuns(l), func(r string) bool { return strings.Contains(r, elit) })
	}
	return false
}

// literalStart is what every path pattern p matches starts with.
func literalStart(p string) string {
	switch kind, lit := patternKind(p); kind {
	case "prefix", "exact":
		return lit
	case "glob":
		return p[:strings.IndexAny(p, "*?[")]
	}
	return ""
}

// literalEnd is what every path pattern p matches ends with.
func literalEnd(p string) string {
	switch kind, lit := patternKind(p); kind {
	case "suffix", "exact":
		return lit
	case "glob":
		if strings.Contains(p, "[") {
			return "" // a class's brackets are not worth parsing for a warning
		}
		return p[strings.LastIndexAny(p, "*?")+1:]
	}
	return ""
}

// literalRuns are strings every path pattern p matches contains.
func literalRuns(p string) []string {
	kind, lit := patternKind(p)
	if kind != "glob" {
		return []string{lit}
	}
	if i := strings.IndexByte(p, '['); i >= 0 {
		p = p[:i] // as in literalEnd: what follows a class is not read
	}
	return strings.FieldsFunc(p, func(r rune) bool { return r == '*' || r == '?' })
}

// overlapWitness returns a request ("POST /checkout/x", or "any method
// /x") that both match blocks admit, if one built from their patterns'
// literals does; see the precision note above.
func overlapWitness(a, b Match) (string, bool) {
	method, ok := commonMethod(a.Methods, b.Methods)
	if !ok {
		return "", false
	}
	pa, pb := patternsOf(a.Paths), patternsOf(b.Paths)
	var pieces []string
	for _, p := range append(slices.Clone(pa), pb...) {
		pieces = append(pieces, examples(p)...)
	}
	// Shortest joins first, so the example reads like a request.
	cands := slices.Clone(pieces)
	for _, sep := range []string{"", "x", "/"} {
		for _, x := range pieces {
			for _, y := range pieces {
				cands = append(cands, x+sep+y)
			}
		}
	}
	for _, w := range cands {
		if !cleaned(w) {
			continue
		}
		in := func(p string) bool { return plain(p) && matchPattern(p, w) }
		if slices.ContainsFunc(pa, in) && slices.ContainsFunc(pb, in) {
			return method + " " + w, true
		}
	}
	return "", false
}

// commonMethod is a method both lists admit, or "any method".
func commonMethod(a, b []string) (string, bool) {
	switch {
	case len(a) == 0 && len(b) == 0:
		return "any method", true
	case len(a) == 0:
		return b[0], true
	case len(b) == 0:
		return a[0], true
	}
	for _, m := range a {
		if slices.Contains(b, m) {
			return m, true
		}
	}
	return "", false
}

// examples are strings pattern p matches, or pieces of them, to build
// candidate paths from.
func examples(p string) []string {
	kind, lit := patternKind(p)
	switch kind {
	case "all":
		return []string{"/x"}
	case "exact":
		return []string{lit}
	case "prefix":
		return []string{lit, lit + "x"}
	case "suffix":
		return []string{"/x" + lit, "x" + lit, lit}
	case "substring":
		return []string{lit, "/" + lit, "/x" + lit + "x"}
	}
	if strings.Contains(p, "[") {
		return nil
	}
	return []string{strings.NewReplacer("*", "x", "?", "x").Replace(p)}
}

// cleaned reports whether s is a path Caddy's cleaning leaves as it is
// (absolute, no "//", "." or ".." segments; a trailing slash is kept), so
// that a request for s is matched as s.
func cleaned(s string) bool {
	if !strings.HasPrefix(s, "/") {
		return false
	}
	c := path.Clean(s)
	if strings.HasSuffix(s, "/") && c != "/" {
		c += "/"
	}
	return c == s
}
