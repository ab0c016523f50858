package body

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"unsafe"
)

var errFormEscape = errors.New("form body has an invalid percent escape")

// formPair is one name=value pair of an urlencoded body, by byte offsets.
type formPair struct {
	ks, ke int    // the encoded name
	vs, ve int    // the encoded value; vs == ve == ke when there is no '='
	eq     bool   // the pair has an '='
	name   string // the decoded name
}

// end is where the pair ends (its '&' or the end of the body).
func (p *formPair) end() int {
	if p.eq {
		return p.ve
	}
	return p.ke
}

// fieldOp is a recorded Set or Delete on an existing form or multipart field.
type fieldOp struct {
	set, del bool
	val      string
}

// newField is a field Set on a form or multipart body that did not have it.
// path is how it was addressed ("card_eci#1" for a second card's), name what
// it is called in the body ("card_eci"): repeated fields pair up by
// occurrence, so the second card's new field is the name's next occurrence.
type newField struct{ path, name, val string }

// formDoc edits an application/x-www-form-urlencoded body. Untouched pairs
// keep their order and their original encoding; edited values are written
// as url.QueryEscape writes them (appendQueryEscape).
type formDoc struct {
	data  []byte
	s     string
	pairs []formPair
	ops   fieldOps // empty until the first edit
	added []newField
	sp    splicer // Bytes' splices and the texts they write
	texts []Text  // TextList's
}

// parseForm splits the body at '&' like url.ParseQuery, but keeps offsets.
// A malformed percent escape is an error rather than being skipped, because
// a field the gateway cannot decode is a field it cannot check for a card.
// The doc comes from formDocs: Release hands it back.
func parseForm(data []byte) (*formDoc, error) {
	s := unsafe.String(unsafe.SliceData(data), len(data))
	for i := strings.IndexByte(s, '%'); i >= 0; {
		if i+2 >= len(s) || !IsHex(s[i+1]) || !IsHex(s[i+2]) {
			return nil, errFormEscape
		}
		j := strings.IndexByte(s[i+3:], '%')
		if j < 0 {
			break
		}
		i += 3 + j
	}
	d := formDocs.Get().(*formDoc)
	d.data, d.s = data, s
	d.pairs = slices.Grow(d.pairs[:0], strings.Count(s, "&")+1)
	escaped := 0 // the decoded size of the names with escapes
	for start := 0; start <= len(s); {
		end := strings.IndexByte(s[start:], '&')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		if end > start {
			p := formPair{ks: start, ke: end, vs: end, ve: end}
			if eq := strings.IndexByte(s[start:end], '='); eq >= 0 {
				p.ke, p.vs, p.eq = start+eq, start+eq+1, true
			}
			if name := s[p.ks:p.ke]; !formEscaped(name) {
				p.name = name // shares the body's memory
			} else {
				escaped += len(name) - 2*strings.Count(name, "%")
			}
			d.pairs = append(d.pairs, p)
		}
		start = end + 1
	}
	if escaped > 0 {
		// The escaped names (items%5B0%5D%5Bsku%5D), decoded into one
		// array rather than a string each: it is never appended past its
		// capacity, so the strings that view it stay valid. It is not
		// pooled: the names are the Values' paths, which callers keep
		// after Release (the audit line's field, an error's), so the
		// array must never be another body's.
		arena := make([]byte, 0, escaped)
		for i := range d.pairs {
			p := &d.pairs[i]
			if name := s[p.ks:p.ke]; p.name == "" && name != "" { // decoding never makes a name empty
				at := len(arena)
				arena = AppendFormUnescape(arena, name)
				p.name = unsafe.String(&arena[at], len(arena)-at)
			}
		}
	}
	return d, nil
}

// formEscaped reports whether s has an escape ('%' or '+') to decode.
func formEscaped(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0
}

// AppendFormUnescape appends s decoded as url.QueryUnescape decodes it:
// '+' is a space, %XX a byte. s's escapes must have been checked (as
// parseForm does): each '%' is followed by two hex digits.
func AppendFormUnescape[T ~string | ~[]byte](b []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			b = append(b, Unhex(s[i+1])<<4|Unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return b
}

// Unhex is the value of the hex digit c (one IsHex accepts).
func Unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// IsHex reports whether c is a hex digit.
func IsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// formUnescape decodes a name or value; text without escapes is returned
// as is, sharing the body's memory.
func formUnescape(s string) string {
	if !formEscaped(s) {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s // cannot happen: escapes were checked by parseForm
	}
	return u
}

// Find implements Doc: every occurrence of the exact (decoded) name.
func (d *formDoc) Find(name string) []Value { return d.appendFind(nil, name) }

func (d *formDoc) appendFind(dst []Value, name string) []Value {
	return findNamed(dst, len(d.pairs), func(i int) string { return d.pairs[i].name },
		func(i int) string { return formUnescape(d.s[d.pairs[i].vs:d.pairs[i].ve]) }, name)
}

func (d *formDoc) index(path string) int {
	return resolveOccurrence(len(d.pairs), func(i int) string { return d.pairs[i].name }, path)
}

// Set implements Doc.
func (d *formDoc) Set(path, value string) {
	d.ops, d.added = setField(d.ops, d.added, d.index(path), path, value)
}

// SetRaw implements Doc: a form value is text whatever its JSON type.
func (d *formDoc) SetRaw(path, raw string) { d.Set(path, raw) }

// Delete implements Doc.
func (d *formDoc) Delete(path string) {
	d.ops, d.added = deleteField(d.ops, d.added, d.index(path), path)
}

// setField records a Set on field i, or on a new field when i < 0.
func setField(ops fieldOps, added []newField, i int, name, value string) (fieldOps, []newField) {
	if i >= 0 {
		return append(ops.room(), indexedOp{i, fieldOp{set: true, val: value}}), added
	}
	for j := range added {
		if added[j].path == name {
			added[j].val = value
			return ops, added
		}
	}
	return ops, append(added, newField{path: name, name: occurrenceName(name), val: value})
}

// deleteField records a Delete on field i, or forgets a new field.
func deleteField(ops fieldOps, added []newField, i int, name string) (fieldOps, []newField) {
	if i >= 0 {
		return append(ops.room(), indexedOp{i, fieldOp{del: true}}), added
	}
	for j := range added {
		if added[j].path == name {
			return ops, append(added[:j], added[j+1:]...)
		}
	}
	return ops, added
}

// formScratch is room for the splices and texts of a card's edits (its
// number, its CVV, a stray number or two). More edits grow them as before.
type formScratch struct {
	sp    [4]splice
	arena [96]byte
}

// escapedEditsSize bounds the size of the texts Bytes writes for d's edits.
func (d *formDoc) escapedEditsSize() int {
	n := 0
	for _, op := range d.ops {
		n += 1 + 3*len(op.val)
	}
	for _, f := range d.added {
		n += 2 + 3*(len(f.name)+len(f.val))
	}
	return n
}

// Bytes implements Doc. A deleted pair goes with the '&' before it, or the
// one after it when no pair before it survives, so no stray separators are
// left; new fields are appended at the end.
func (d *formDoc) Bytes() ([]byte, error) {
	if len(d.ops) == 0 && len(d.added) == 0 {
		return d.data, nil
	}
	// The doc's splicer, emptied: a second call (verifyNoStrays builds the
	// body before Result.Body does) writes over the first's texts, which
	// apply copied out.
	sp := &d.sp
	sp.sp, sp.arena = sp.sp[:0], sp.arena[:0]
	if cap(sp.sp) == 0 {
		// A doc's first Bytes: room for a card's usual edits in one
		// allocation, where growing the splices and texts took four.
		scratch := new(formScratch)
		sp.sp, sp.arena = scratch.sp[:0], scratch.arena[:0]
	}
	// The arena is sized once for the texts below, at their longest
	// escaped (three bytes a byte, and a separator or two): grown by
	// append, it would drop arrays holding the values written (a card
	// number) unwiped. The array it replaces is wiped first.
	if need := d.escapedEditsSize(); cap(sp.arena) < need {
		clear(sp.arena[:cap(sp.arena)])
		sp.arena = make([]byte, 0, need)
	}
	survivor := false
	ops := d.ops.cursor()
	for i := range d.pairs {
		p := &d.pairs[i]
		op := ops.at(i)
		switch {
		case op.del && survivor:
			sp.add(p.ks-1, p.end(), nil)
		case op.del && p.end() < len(d.s):
			sp.add(p.ks, p.end()+1, nil)
		case op.del:
			sp.add(p.ks, p.end(), nil)
		case op.set:
			survivor = true
			off := sp.begin()
			if !p.eq {
				sp.arena = append(sp.arena, '=')
			}
			sp.arena = appendQueryEscape(sp.arena, op.val)
			sp.finish(p.vs, p.ve, off)
		default:
			survivor = true
		}
	}
	if len(d.added) > 0 {
		off := sp.begin()
		for i, f := range d.added {
			if i > 0 || survivor && !strings.HasSuffix(d.s, "&") {
				sp.arena = append(sp.arena, '&')
			}
			sp.arena = appendQueryEscape(sp.arena, f.name)
			sp.arena = append(sp.arena, '=')
			sp.arena = appendQueryEscape(sp.arena, f.val)
		}
		sp.finish(len(d.s), len(d.s), off)
	}
	return sp.apply(d.data), nil
}
