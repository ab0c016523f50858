package body

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// DuplicateKeyError is a JSON body with an object that names a member twice.
// Parsers disagree on which one wins (gjson reads the first; Go, Python and
// JavaScript the last), so the gateway cannot know which value the merchant
// will read and refuses the body: RFC 7493 (I-JSON) requires unique names.
type DuplicateKeyError struct {
	// Path is where the second occurrence is, as a gjson path.
	Path string
}

func (e *DuplicateKeyError) Error() string {
	return "the JSON object at " + strconv.Quote(e.Path) + " names a member twice"
}

// dupFrame is an object or array being scanned.
type dupFrame struct {
	obj     bool
	wantKey bool                // an object expecting a member name next
	first   int                 // where an object's names start in the shared list
	key     string              // an object's last member name
	set     map[string]struct{} // an object's names, once it has many
	idx     int                 // an array's current element
}

// smallObject is how many names an object may have before they go in a map:
// below it a scan of the list is cheaper; above it the scan would make a
// body with one huge object quadratic.
const smallObject = 16

// findDuplicateKey scans valid JSON once and returns the first member name
// an object repeats (compared unescaped, as every parser reads them), or nil.
func findDuplicateKey(s string) *DuplicateKeyError {
	var stackBuf [16]dupFrame
	var namesBuf [64]string
	stack, names := stackBuf[:0], namesBuf[:0] // names: of the open objects, innermost last
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			stack = append(stack, dupFrame{obj: true, wantKey: true, first: len(names)})
		case '[':
			stack = append(stack, dupFrame{})
		case '}', ']':
			if top := stack[len(stack)-1]; top.obj {
				names = names[:top.first]
			}
			stack = stack[:len(stack)-1]
		case ',':
			if top := &stack[len(stack)-1]; top.obj {
				top.wantKey = true
			} else {
				top.idx++
			}
		case ':':
			stack[len(stack)-1].wantKey = false
		case '"':
			end, esc := stringEnd(s, i)
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				key := s[i+1 : end-1]
				if esc {
					key = gjson.Parse(s[i:end]).Str
				}
				top := &stack[n-1]
				top.key = key
				if seen(top, names[top.first:], key) {
					return &DuplicateKeyError{Path: dupPath(stack)}
				}
				names = append(names, key)
			}
			i = end - 1
		}
	}
	return nil
}

// seen reports whether key is among an object's names so far, and notes it.
func seen(f *dupFrame, names []string, key string) bool {
	if f.set == nil && len(names) < smallObject {
		for _, k := range names {
			if k == key {
				return true
			}
		}
		return false
	}
	if f.set == nil {
		f.set = make(map[string]struct{}, 2*len(names))
		for _, k := range names {
			f.set[k] = struct{}{}
		}
	}
	if _, ok := f.set[key]; ok {
		return true
	}
	f.set[key] = struct{}{}
	return false
}

// stringEnd returns the index just past the string literal starting at s[i]
// (a quote), and whether it has escapes.
func stringEnd(s string, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return len(s), esc
}

// dupPath renders the stack as a gjson path, the last member name of each
// object or the index of each array.
func dupPath(stack []dupFrame) string {
	segs := make([]string, 0, len(stack))
	for _, f := range stack {
		if f.obj {
			segs = append(segs, escapePathKey(f.key))
		} else {
			segs = append(segs, strconv.Itoa(f.idx))
		}
	}
	return strings.Join(segs, ".")
}

// escapePathKey escapes what gjson paths give a meaning to.
func escapePathKey(k string) string {
	if !strings.ContainsAny(k, `.*?|#@!\`) {
		return k
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if strings.IndexByte(`.*?|#@!\`, k[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(k[i])
	}
	return b.String()
}
