package body

import (
	"strings"

	"github.com/tidwall/gjson"
)

// oldScanJSON is scanJSON as it was before it validated the JSON itself
// (it ran after gjson.ValidBytes): FuzzScanJSON compares the two.
// It reads valid JSON once. It returns the first member name an object
// repeats (compared unescaped, as every parser reads them), and the texts
// (strings, numbers, member names) with enough digits to hold a card
// number, with their paths: what Texts reports, found in the same pass.
// The texts are appended to texts (a pooled Doc's spare room).
func oldScanJSON(s string, texts []Text) (*DuplicateKeyError, []Text) {
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
