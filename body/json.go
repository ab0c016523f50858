package body

import (
	"errors"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// errInvalidJSON never quotes the body: it may hold card data.
var errInvalidJSON = errors.New("body is not valid JSON")

// loc is where a JSON value sits in the body: s[start:end] is its raw text.
type loc struct {
	start, end int
	typ        gjson.Type
}

// jsonDoc edits a JSON body by splicing: values and members are located once
// with gjson, edits are recorded against those byte offsets, and Bytes
// rebuilds the body in one pass.
type jsonDoc struct {
	data []byte
	s    string // data as a string, sharing its memory, for gjson

	texts  []Text               // what Texts reports, found by parseJSON
	top    []member             // the top-level object's members, found by parseJSON
	locs   map[string]loc       // concrete path -> value, filled by Find and Set
	arrays map[string][]element // array path -> its elements, filled by Find

	ops     []jsonOp
	sp      splicer // arena holds the escaped Set values
	anchors []*insAnchor
	byObj   map[int]*insAnchor
	nodes   []*insNode // the members added (child), for a pooled doc to reuse
	keys    []string   // anchorFor's scratch
	pending []pendingSet

	allFirst map[int]bool // Bytes' scratch, kept for a pooled doc's next use
}

// parseJSON checks the body is valid JSON whose objects name each member
// once (see DuplicateKeyError), so that what the gateway reads is what any
// parser behind it reads.
// The body is read once for all of it (scanJSON).
func parseJSON(data []byte) (*jsonDoc, error) {
	s := unsafe.String(unsafe.SliceData(data), len(data))
	d := jsonDocs.Get().(*jsonDoc)
	dup, texts, valid := scanJSON(s, d.texts, &d.top)
	d.data, d.s, d.texts = data, s, texts
	switch {
	case !valid:
		Release(d)
		return nil, errInvalidJSON
	case dup != nil:
		Release(d)
		return nil, dup
	}
	return d, nil
}

// Find implements Doc. "#" segments are expanded here, element by element,
// rather than by gjson: gjson's Result.Indexes lists only the elements that
// have the field (so element numbers are lost) and is empty for nested "#".
// Values gjson cannot place in the body (modifiers, "#(...)#" queries) are
// not returned, because they could not be edited.
func (d *jsonDoc) Find(selector string) []Value {
	var out []Value
	d.expand("", selector, "", &out)
	return out
}

// expand finds rest below the concrete path base, expanding its first "#".
func (d *jsonDoc) expand(base, rest, group string, out *[]Value) {
	before, after, hasHash := cutHash(rest)
	path := joinPath(base, before)
	if !hasHash {
		if l, ok := d.lookup(path); ok {
			*out = append(*out, d.value(path, group, l))
		}
		return
	}
	for _, e := range d.elements(path) {
		g := joinPath(group, e.idx)
		if after == "" {
			*out = append(*out, d.value(e.path, g, e.loc))
		} else {
			d.expand(e.path, after, g, out)
		}
	}
}

// element is an array element as expand sees it.
type element struct {
	path, idx string // concrete path and index, built once per array
	loc
}

// elements lists the elements of the array at path, once per array: the
// tokenizer finds "cards.#.number" then "cards.#.cvc", and the second
// search should not walk the array again.
func (d *jsonDoc) elements(path string) []element {
	if es, ok := d.arrays[path]; ok {
		return es
	}
	arr, ok := d.lookup(path)
	if !ok || d.s[arr.start] != '[' {
		return nil
	}
	var es []element
	d.result(arr).ForEach(func(_, v gjson.Result) bool {
		idx := strconv.Itoa(len(es))
		e := element{path: joinPath(path, idx), idx: idx, loc: loc{start: v.Index, end: v.Index + len(v.Raw), typ: v.Type}}
		d.remember(e.path, e.loc)
		es = append(es, e)
		return true
	})
	if d.arrays == nil {
		d.arrays = make(map[string][]element)
	}
	d.arrays[path] = es
	return es
}

// value makes the Value for the value at l.
func (d *jsonDoc) value(path, group string, l loc) Value {
	raw := d.s[l.start:l.end]
	if l.typ != gjson.String {
		return Value{Path: path, Group: group, Raw: raw}
	}
	if strings.IndexByte(raw, '\\') < 0 {
		raw = raw[1 : len(raw)-1] // no escapes: share the body's memory
	} else {
		raw = gjson.Parse(raw).Str
	}
	return Value{Path: path, Group: group, Raw: raw, IsString: true}
}

func (d *jsonDoc) result(l loc) gjson.Result {
	return gjson.Result{Type: l.typ, Raw: d.s[l.start:l.end], Index: l.start}
}

// maxRememberedLeaves is how many entries the path map may hold before it
// stops taking strings and numbers (see place).
const maxRememberedLeaves = 64

func (d *jsonDoc) remember(path string, l loc) {
	if d.locs == nil {
		d.locs = make(map[string]loc)
	}
	d.locs[path] = l
}

// lookup locates the value at a concrete path in the body as parsed. Plain
// paths are resolved one segment at a time from the nearest known parent, so
// that editing element 900 of an array does not rescan elements 0-899.
func (d *jsonDoc) lookup(path string) (loc, bool) {
	if l, ok := d.locs[path]; ok {
		return l, true
	}
	if path == "" {
		return d.root()
	}
	if !isPlainPath(path) {
		// Exotic syntax: ask gjson about the whole path, and keep the
		// answer only if gjson can say where the value is.
		return d.place(0, gjson.Get(d.s, path), path)
	}
	dot := lastDot(path)
	parent, seg := "", path
	if dot >= 0 {
		parent, seg = path[:dot], path[dot+1:]
	}
	if parent == "" && len(d.top) > 0 && strings.IndexByte(seg, '\\') < 0 {
		// A member of the top-level object: parseJSON noted where each
		// one is, so the body is not walked again to find it. (Without
		// escapes a segment is the member's name, as gjson matches it;
		// names are unique.)
		for _, m := range d.top {
			if m.key == seg {
				d.remember(path, m.loc)
				return m.loc, true
			}
		}
		return loc{}, false
	}
	p, ok := d.lookup(parent)
	if !ok || p.typ != gjson.JSON {
		return loc{}, false
	}
	return d.place(p.start, gjson.Get(d.s[p.start:p.end], seg), path)
}

// place converts a gjson result found in s[base:] into a loc, checking that
// gjson's Index really points at the value (gjson uses 0 for "unknown").
func (d *jsonDoc) place(base int, r gjson.Result, path string) (loc, bool) {
	if !r.Exists() || r.Index <= 0 {
		return loc{}, false
	}
	start := base + r.Index
	end := start + len(r.Raw)
	if end > len(d.s) || d.s[start:end] != r.Raw {
		return loc{}, false
	}
	l := loc{start: start, end: end, typ: r.Type}
	if r.Type == gjson.JSON || len(d.locs) < maxRememberedLeaves {
		// Objects and arrays are always kept: they are where later lookups
		// start from. A string or number is kept only while the map is
		// small, as a checkout's is: past that it is found again from its
		// parent (a scan of that one object) when it is edited, since
		// keeping each would fill the map with every field of a bulk body,
		// some 6,000 entries for 1,000 cards, alive until the body is
		// released. A checkout's edits then skip the rescan (0.3-0.4 µs a
		// request, BenchmarkJSON1KB1Card).
		d.remember(path, l)
	}
	return l, true
}

// root is the top-level value, without surrounding whitespace.
func (d *jsonDoc) root() (loc, bool) {
	start, end := skipWS(d.s, 0), len(d.s)
	for end > start && isWS(d.s[end-1]) {
		end--
	}
	if start >= end {
		return loc{}, false
	}
	r := gjson.Parse(d.s[start:end])
	return loc{start: start, end: end, typ: r.Type}, true
}
