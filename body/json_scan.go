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

// scanJSON reads the body once: it checks that it is valid JSON (exactly
// as gjson.Valid, which it replaces: FuzzScanJSON compares the two), and
// returns the first member name an object repeats (compared unescaped, as
// every parser reads them), and the texts (strings, numbers, member names)
// with enough digits to hold a card number, with their paths: what Texts
// reports, found in the same pass; and, in members when set, where the
// top-level object's members are. The texts are appended to texts (a
// pooled Doc's spare room); after a repeated name they are not complete.
// Invalid JSON is reported as such even when a name repeats before the
// fault: ok is false, dup nil.
func scanJSON(s string, texts []Text, members *[]member) (dup *DuplicateKeyError, out []Text, ok bool) {
	var stackBuf [16]dupFrame
	topStart := 0 // where the top-level object's current member's value starts
	var namesBuf [64]string
	stack, names := stackBuf[:0], namesBuf[:0] // names: of the open objects, innermost last
	state := wantValue
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		switch state {
		case wantEnd:
			return nil, texts, false
		case wantColon:
			if c != ':' {
				return nil, texts, false
			}
			stack[len(stack)-1].wantKey = false
			state = wantValue
			continue
		case wantCommaOrClose:
			top := &stack[len(stack)-1]
			switch {
			case c == ',' && top.obj:
				top.wantKey = true
				state = wantKey
			case c == ',':
				top.idx++
				state = wantValue
			case c == '}' && top.obj || c == ']' && !top.obj:
				if top.obj {
					names = names[:top.first]
				}
				stack = stack[:len(stack)-1]
				state = afterValue(len(stack))
				topMember(members, stack, topStart, i+1, gjson.JSON)
			default:
				return nil, texts, false
			}
			continue
		case wantKeyOrClose, wantKey:
			top := &stack[len(stack)-1]
			if c == '}' && state == wantKeyOrClose {
				names = names[:top.first]
				stack = stack[:len(stack)-1]
				state = afterValue(len(stack))
				topMember(members, stack, topStart, i+1, gjson.JSON)
				continue
			}
			if c != '"' {
				return nil, texts, false
			}
			end, esc, valid := scanString(s, i)
			if !valid {
				return nil, texts, false
			}
			text := s[i+1 : end-1]
			if esc {
				text = gjson.Parse(s[i:end]).Str
			}
			top.key = text
			if dup == nil {
				if seen(top, names[top.first:], text) {
					// The first one is reported, once the rest of the
					// body has been found valid.
					dup = &DuplicateKeyError{Path: SafePath(dupPath(stack))}
				}
				names = append(names, text)
				if HasDigits(text, MinCardDigits) {
					texts = append(texts, Text{Path: dupPath(stack), Text: text, Name: true})
				}
			}
			i = end - 1
			state = wantColon
			continue
		case wantValueOrClose:
			if c == ']' {
				stack = stack[:len(stack)-1]
				state = afterValue(len(stack))
				topMember(members, stack, topStart, i+1, gjson.JSON)
				continue
			}
		}
		// A value.
		start := i
		if len(stack) == 1 {
			topStart = i
		}
		switch {
		case c == '{':
			stack = append(stack, dupFrame{obj: true, wantKey: true, first: len(names)})
			state = wantKeyOrClose
			continue
		case c == '[':
			stack = append(stack, dupFrame{})
			state = wantValueOrClose
			continue
		case c == '"':
			end, esc, valid := scanString(s, i)
			if !valid {
				return nil, texts, false
			}
			if dup == nil {
				text := s[i+1 : end-1]
				if esc {
					text = gjson.Parse(s[i:end]).Str
				}
				if HasDigits(text, MinCardDigits) {
					texts = append(texts, Text{Path: dupPath(stack), Text: text})
				}
			}
			i = end - 1
		case c == '-' || c-'0' <= 9:
			j := i + 1
			for j < len(s) && isNumberByte(s[j]) {
				j++
			}
			// The run of number bytes must be one number: what follows a
			// valid number is never a number byte.
			text := s[i:j]
			if !validNumber(text) {
				return nil, texts, false
			}
			// A number with an exponent holds a card number in fewer
			// digits (4.2e15 is 4200000000000000 to a float64 parser).
			if dup == nil && (HasDigits(text, MinCardDigits) || strings.ContainsAny(text, "eE")) {
				texts = append(texts, Text{Path: dupPath(stack), Text: text})
			}
			i = j - 1
		case c == 't' && strings.HasPrefix(s[i:], "true"), c == 'n' && strings.HasPrefix(s[i:], "null"):
			i += 3
		case c == 'f' && strings.HasPrefix(s[i:], "false"):
			i += 4
		default:
			return nil, texts, false
		}
		state = afterValue(len(stack))
		topMember(members, stack, start, i+1, scalarType(s[start]))
	}
	if state != wantEnd {
		return nil, texts, false
	}
	return dup, texts, true
}

// member is a member of the top-level object: its name, unescaped, and
// where its value is.
type member struct {
	key string
	loc
}

// topMember records, in members (when set), the value at s[start:end] when
// it is a member of the top-level object (stack is that object alone).
func topMember(members *[]member, stack []dupFrame, start, end int, typ gjson.Type) {
	if members != nil && len(stack) == 1 && stack[0].obj {
		*members = append(*members, member{key: stack[0].key, loc: loc{start: start, end: end, typ: typ}})
	}
}

// scalarType is gjson's type of the scalar value that starts with c.
func scalarType(c byte) gjson.Type {
	switch c {
	case '"':
		return gjson.String
	case 't':
		return gjson.True
	case 'f':
		return gjson.False
	case 'n':
		return gjson.Null
	}
	return gjson.Number
}

// What scanJSON may read next, whitespace aside.
const (
	wantValue        = iota // the top-level value, a member's (after ':') or an array's next (after ',')
	wantValueOrClose        // an array's first element, or ']'
	wantKeyOrClose          // an object's first member name, or '}'
	wantKey                 // an object's next member name (after ',')
	wantColon               // the ':' after a member name
	wantCommaOrClose        // ',' or the close of the innermost array or object, after a value
	wantEnd                 // nothing: the top-level value is complete
)

// afterValue is what comes after a value, at a depth of open arrays and
// objects.
func afterValue(depth int) int {
	if depth == 0 {
		return wantEnd
	}
	return wantCommaOrClose
}

// scanString returns the index just past the string literal starting at
// s[i] (a quote), whether it has escapes, and whether it is valid as
// gjson.Valid reads one: no byte below 0x20, each escape one of \" \\ \/
// \b \f \n \r \t or \u and four hex digits, and a closing quote.
func scanString(s string, i int) (end int, esc, ok bool) {
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return j + 1, esc, true
		case c < ' ':
			return j, esc, false
		case c == '\\':
			esc = true
			if j++; j == len(s) {
				return j, esc, false
			}
			switch s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s) || !IsHex(s[j+1]) || !IsHex(s[j+2]) || !IsHex(s[j+3]) || !IsHex(s[j+4]) {
					return j, esc, false
				}
				j += 4
			default:
				return j, esc, false
			}
		}
	}
	return len(s), esc, false
}

// validNumber reports whether s is one JSON number: -?(0|[1-9][0-9]*),
// then optionally .[0-9]+, then optionally [eE][+-]?[0-9]+.
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i]-'1' <= 8:
		for i < len(s) && s[i]-'0' <= 9 {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || s[i]-'0' > 9 {
			return false
		}
		for i < len(s) && s[i]-'0' <= 9 {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || s[i]-'0' > 9 {
			return false
		}
		for i < len(s) && s[i]-'0' <= 9 {
			i++
		}
	}
	return i == len(s)
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
