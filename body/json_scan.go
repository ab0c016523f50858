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

// MinCardDigits is the fewest digits a text needs to hold a card number:
// card.MinLength, the 12 of a Maestro card, which the finder accepts.
const MinCardDigits = 12

// scanJSON reads valid JSON once. It returns the first member name an object
// repeats (compared unescaped, as every parser reads them), and the texts
// (strings, numbers, member names) with enough digits to hold a card
// number, with their paths: what Texts reports, found in the same pass.
// The texts are appended to texts (a pooled Doc's spare room).
func scanJSON(s string, texts []Text) (*DuplicateKeyError, []Text) {
	var stackBuf [16]dupFrame
	var namesBuf [64]string
	stack, names := stackBuf[:0], namesBuf[:0] // names: of the open objects, innermost last
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '{':
			stack = append(stack, dupFrame{obj: true, wantKey: true, first: len(names)})
		case c == '[':
			stack = append(stack, dupFrame{})
		case c == '}' || c == ']':
			if top := stack[len(stack)-1]; top.obj {
				names = names[:top.first]
			}
			stack = stack[:len(stack)-1]
		case c == ',':
			if top := &stack[len(stack)-1]; top.obj {
				top.wantKey = true
			} else {
				top.idx++
			}
		case c == ':':
			stack[len(stack)-1].wantKey = false
		case c == '"':
			end, esc := stringEnd(s, i)
			text := s[i+1 : end-1]
			if esc {
				text = gjson.Parse(s[i:end]).Str
			}
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				top := &stack[n-1]
				top.key = text
				if seen(top, names[top.first:], text) {
					return &DuplicateKeyError{Path: SafePath(dupPath(stack))}, nil
				}
				names = append(names, text)
				if HasDigits(text, MinCardDigits) {
					texts = append(texts, Text{Path: dupPath(stack), Text: text, Name: true})
				}
			} else if HasDigits(text, MinCardDigits) {
				texts = append(texts, Text{Path: dupPath(stack), Text: text})
			}
			i = end - 1
		case c == '-' || c-'0' <= 9:
			j := i + 1
			for j < len(s) && isNumberByte(s[j]) {
				j++
			}
			// A number with an exponent holds a card number in fewer
			// digits (4.2e15 is 4200000000000000 to a float64 parser).
			if text := s[i:j]; HasDigits(text, MinCardDigits) || strings.ContainsAny(text, "eE") {
				texts = append(texts, Text{Path: dupPath(stack), Text: text})
			}
			i = j - 1
		}
	}
	return nil, texts
}

func isNumberByte(c byte) bool {
	return c-'0' <= 9 || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E'
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

// shortString is how many bytes of a string stringEnd reads one by one.
const shortString = 24

// stringEnd returns the index just past the string literal starting at s[i]
// (a quote), and whether it has escapes. It jumps from quote to quote.
func stringEnd(s string, i int) (int, bool) {
	esc := false
	j := i + 1
	// Most member names and values are short: a byte loop finds their end
	// sooner than IndexByte's calls, which pay off on long strings.
	for end := min(len(s), j+shortString); j < end; j++ {
		switch s[j] {
		case '"':
			return j + 1, esc
		case '\\':
			esc = true
			j++ // the escaped byte, a quote perhaps (the body is valid JSON)
		}
	}
	for j < len(s) {
		k := strings.IndexByte(s[j:], '"')
		if k < 0 {
			break
		}
		q := j + k
		if strings.IndexByte(s[j:q], '\\') >= 0 {
			esc = true
			if backslashesBefore(s, q)%2 == 1 {
				j = q + 1 // an escaped quote
				continue
			}
		}
		return q + 1, esc
	}
	return len(s), esc
}

// dupPath renders the stack as a gjson path, the last member name of each
// object or the index of each array. It is built in a stack buffer so that
// the path costs one allocation, the string itself: a 1,000-card body
// renders a thousand of them.
func dupPath(stack []dupFrame) string {
	var buf [96]byte
	b := buf[:0]
	for i, f := range stack {
		if i > 0 {
			b = append(b, '.')
		}
		if f.obj {
			b = appendPathKey(b, f.key)
		} else {
			b = strconv.AppendInt(b, int64(f.idx), 10)
		}
	}
	return string(b)
}

// appendPathKey appends the member name k as a path segment, escaping what
// gjson paths give a meaning to.
func appendPathKey(b []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if strings.IndexByte(pathSpecials, k[i]) >= 0 {
			b = append(b, '\\')
		}
		b = append(b, k[i])
	}
	return b
}

// pathSpecials are the bytes gjson paths give a meaning to.
const pathSpecials = `.*?|#@!\`
