package body

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Text is one piece of text a body carries, as a parser behind the gateway
// would read it: a JSON string, number or member name, or a form or
// multipart field's name or value, decoded.
type Text struct {
	// Path is the concrete path of the value (as Value.Path), or of the
	// member or field whose name this is.
	Path string
	// Text is the decoded text.
	Text string
	// Name reports a member or field name rather than a value.
	Name bool
}

// HasDigits reports whether s has at least n ASCII digits: a cheap test
// that lets texts that cannot hold a card number (13 digits) be skipped.
func HasDigits(s string, n int) bool {
	for i := 0; i < len(s) && n > 0; i++ {
		if s[i]-'0' <= 9 {
			n--
		}
	}
	return n <= 0
}

// Texts implements Doc for JSON: one pass over the body as parsed.
func (d *jsonDoc) Texts(minDigits int, visit func(Text)) {
	s := d.s
	type frame struct {
		obj     bool
		wantKey bool
		key     string // the current member's name, as a path segment
		idx     int
	}
	var stackBuf [16]frame
	stack := stackBuf[:0]
	path := func(extra ...string) string {
		segs := make([]string, 0, len(stack)+1)
		for _, f := range stack {
			if f.obj {
				segs = append(segs, f.key)
			} else {
				segs = append(segs, strconv.Itoa(f.idx))
			}
		}
		return strings.Join(append(segs, extra...), ".")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '{':
			stack = append(stack, frame{obj: true, wantKey: true})
		case c == '[':
			stack = append(stack, frame{})
		case c == '}' || c == ']':
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
				stack[n-1].key = escapePathKey(text)
				if HasDigits(text, minDigits) {
					visit(Text{Path: path(), Text: text, Name: true})
				}
			} else if HasDigits(text, minDigits) {
				visit(Text{Path: path(), Text: text})
			}
			i = end - 1
		case c == '-' || c-'0' <= 9:
			j := i + 1
			for j < len(s) && strings.IndexByte("0123456789+-.eE", s[j]) >= 0 {
				j++
			}
			if text := s[i:j]; HasDigits(text, minDigits) {
				visit(Text{Path: path(), Text: text})
			}
			i = j - 1
		}
	}
}

// namedTexts is Texts for the form kinds: every field's name and value.
func namedTexts(n int, nameAt, valueAt func(int) string, minDigits int, visit func(Text)) {
	for i := 0; i < n; i++ {
		name, value := nameAt(i), ""
		nameHit := HasDigits(name, minDigits)
		if !nameHit {
			if value = valueAt(i); !HasDigits(value, minDigits) {
				continue
			}
		}
		k := 0 // this field's occurrence of its name
		for j := 0; j < i; j++ {
			if nameAt(j) == name {
				k++
			}
		}
		path := occurrencePath(name, k)
		if nameHit {
			visit(Text{Path: path, Text: name, Name: true})
			if value = valueAt(i); !HasDigits(value, minDigits) {
				continue
			}
		}
		visit(Text{Path: path, Text: value})
	}
}

// Texts implements Doc for urlencoded forms.
func (d *formDoc) Texts(minDigits int, visit func(Text)) {
	namedTexts(len(d.pairs), func(i int) string { return d.pairs[i].name },
		func(i int) string { return formUnescape(d.s[d.pairs[i].vs:d.pairs[i].ve]) }, minDigits, visit)
}

// Texts implements Doc for multipart forms: file parts included, since they
// are in memory and a merchant may read them.
func (d *multipartDoc) Texts(minDigits int, visit func(Text)) {
	namedTexts(len(d.parts), func(i int) string { return d.parts[i].name },
		func(i int) string { return d.content(&d.parts[i]) }, minDigits, visit)
}
