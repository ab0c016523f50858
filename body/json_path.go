package body

import "strings"

// isWS reports JSON whitespace.
func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(s string, i int) int {
	for i < len(s) && isWS(s[i]) {
		i++
	}
	return i
}

func skipWSBack(s string, i int) int {
	for i >= 0 && isWS(s[i]) {
		i--
	}
	return i
}

func backslashesBefore(s string, i int) int {
	n := 0
	for i--; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n
}

// joinPath joins two gjson path fragments with a dot.
func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}

// cutHash splits a selector around its first segment that is exactly "#":
// "a.#.b.#.c" gives "a", "b.#.c". Dots inside parentheses (gjson queries)
// do not separate segments.
func cutHash(sel string) (before, after string, ok bool) {
	depth, segStart := 0, 0
	for i := 0; i <= len(sel); i++ {
		if i < len(sel) {
			switch sel[i] {
			case '\\':
				i++
				continue
			case '(':
				depth++
				continue
			case ')':
				depth--
				continue
			case '.':
				if depth != 0 {
					continue
				}
			default:
				continue
			}
		}
		if sel[segStart:i] == "#" {
			before = sel[:max(segStart-1, 0)]
			if i < len(sel) {
				after = sel[i+1:]
			}
			return before, after, true
		}
		segStart = i + 1
	}
	return sel, "", false
}

// notPlain marks the bytes that give a path segment a meaning beyond a
// key or an index (a table: isPlainPath runs on every lookup).
var notPlain = func() (t [256]bool) {
	for _, c := range []byte("|*?#(){}[]\"=<>~%,") {
		t[c] = true
	}
	return t
}()

// isPlainPath reports whether a path is made of plain segments (keys and
// indexes, dot separated, backslash escapes allowed) that can be resolved
// one at a time. Wildcards, queries, pipes, modifiers and "#" are not plain.
func isPlainPath(path string) bool {
	segStart := true
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '\\':
			i++
			if i == len(path) {
				return false
			}
		case c == '.':
			if segStart {
				return false
			}
			segStart = true
			continue
		case segStart && (c == '@' || c == '!'):
			return false
		case notPlain[c]:
			return false
		}
		segStart = false
	}
	return !segStart || path == ""
}

// lastDot is the index of the last unescaped dot in a plain path, or -1.
func lastDot(path string) int {
	last := -1
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '\\':
			i++
		case '.':
			last = i
		}
	}
	return last
}

// SplitPath splits a gjson-style path at its unescaped dots. Escapes are
// kept as written ("a\\.b" stays one segment), so segments compare the way
// the paths were written. The rules file and the editors share it so that
// both read a path the same way.
func SplitPath(path string) []string { return appendSplitPath(nil, path) }

// appendSplitPath appends SplitPath(path) to keys.
func appendSplitPath(keys []string, path string) []string {
	start := 0
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '\\':
			i++
		case '.':
			keys = append(keys, path[start:i])
			start = i + 1
		}
	}
	return append(keys, path[start:])
}

// ExpandPath puts a card's group (the `#` indexes of a Value, "2" or "0.1")
// into a selector's `#` segments, so a token found at cards.2.token points its
// injections at cards.2.cryptogram.
func ExpandPath(selector, group string) string {
	if group == "" || !strings.Contains(selector, "#") {
		return selector
	}
	idx := strings.Split(group, ".")
	segs := SplitPath(selector)
	n := 0
	for i, seg := range segs {
		if seg == "#" && n < len(idx) {
			segs[i] = idx[n]
			n++
		}
	}
	return strings.Join(segs, ".")
}

// isObjectKey reports whether a path segment names an object member for
// sure. All-digit names ("0", "-1") are array indexes to sjson, which would
// create arrays for them, so they are left to sjson.
func isObjectKey(seg string) bool {
	digits := strings.TrimPrefix(seg, "-")
	if digits == "" {
		return seg != ""
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return true
		}
	}
	return false
}

// unescapeKey removes gjson path escapes: `a\.b` names the key "a.b".
func unescapeKey(seg string) string {
	if strings.IndexByte(seg, '\\') < 0 {
		return seg
	}
	b := make([]byte, 0, len(seg))
	for i := 0; i < len(seg); i++ {
		if seg[i] == '\\' && i+1 < len(seg) {
			i++
		}
		b = append(b, seg[i])
	}
	return string(b)
}
