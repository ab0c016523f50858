package rules

import (
	"errors"
	"fmt"

	"github.com/tokengate/tokengate/body"
)

// wildcards counts the "#" segments of a JSON path: the depth of arrays a
// field's values are spread over.
func wildcards(p string) int {
	if p == "" {
		return 0
	}
	n := 0
	for _, s := range body.SplitPath(p) {
		if s == "#" {
			n++
		}
	}
	return n
}

// HasWildcard reports whether the field's JSON path has a "#" segment, that
// is, whether it names a value in every element of an array rather than one
// value, so the caller must expand it before reading or writing.
func (f Field) HasWildcard() bool {
	return wildcards(f.JSON) > 0
}

// checkJSONPath accepts only the part of gjson's path syntax that sjson can
// write back to: dot-separated keys, numeric indexes, "\" escapes, and "#"
// as a whole segment. Queries ("#(...)"), wildcards, pipes, modifiers,
// multipaths and literals select values that have no single place to write
// a token to, so a path using them would read a PAN and leave it in place.
func checkJSONPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if trailingEscape(p) {
		return errors.New(`ends with a lone \`)
	}
	segs := body.SplitPath(p)
	for i, s := range segs {
		if err := checkSegment(s); err != nil {
			return fmt.Errorf("segment %d %q: %w", i+1, s, err)
		}
	}
	if segs[len(segs)-1] == "#" {
		return errors.New(`ends with "#", which counts the elements; name the key inside them (e.g. cards.#.number)`)
	}
	return nil
}

// trailingEscape reports whether p ends with a backslash escaping nothing.
func trailingEscape(p string) bool {
	n := 0
	for i := len(p) - 1; i >= 0 && p[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// checkSegment checks one segment of a JSON path, as split by segments.
func checkSegment(s string) error {
	if s == "" {
		return errors.New("empty key (two dots in a row, or a dot at an end)")
	}
	if s == "#" {
		return nil
	}
	switch s[0] {
	case '@':
		return errors.New(`gjson modifiers (@...) cannot be written back; escape a key starting with @ as \@`)
	case '[', '{':
		return errors.New("gjson multipaths cannot be written back")
	case '!':
		return errors.New(`gjson literals (!...) cannot be written back; escape a key starting with ! as \!`)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '#':
			return errors.New(`"#" must be a whole segment; gjson queries like #(...) cannot be written back`)
		case c == '*' || c == '?':
			return fmt.Errorf(`gjson wildcards (%c) cannot be written back; escape a literal %c as \%c`, c, c, c)
		case c == '|':
			return errors.New("gjson pipes (|) cannot be written back")
		case c < 0x20:
			return errors.New("control characters are not allowed")
		}
	}
	return nil
}

// overlaps reports whether one path is the other or inside it ("card" and
// "card.number"): rewriting one would clobber the other.
func overlaps(a, b string) bool {
	sa, sb := body.SplitPath(a), body.SplitPath(b)
	if len(sa) > len(sb) {
		sa, sb = sb, sa
	}
	for i := range sa {
		if sa[i] != sb[i] {
			return false
		}
	}
	return true
}
