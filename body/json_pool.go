package body

import "sync"

// jsonDocs recycles the parse state of small JSON bodies (the doc, its
// texts, located paths, recorded edits and arena): a checkout body would
// otherwise allocate them afresh on every request, and with the garbage
// collector a large share of the CPU, each allocation costs twice.
var jsonDocs = sync.Pool{New: func() any { return new(jsonDoc) }}

// maxPooledEntries bounds the state a recycled doc keeps: a big body's maps
// and slices are left to the garbage collector rather than held in the pool.
const maxPooledEntries = 256

// Release hands doc's memory back for the next body to be parsed. Call it
// once, when neither doc nor the Values and Texts it returned are used any
// more; what Bytes returned stays valid, and so does the body passed to
// Parse, which Release does not touch. A Doc not released is garbage
// collected as usual. Release(nil) does nothing.
func Release(doc Doc) {
	if f, ok := doc.(*formDoc); ok && f != nil {
		releaseForm(f)
		return
	}
	d, ok := doc.(*jsonDoc)
	if !ok || d == nil {
		return
	}
	if len(d.texts) > maxPooledEntries || len(d.top) > maxPooledEntries || len(d.locs) > maxPooledEntries || len(d.ops) > maxPooledEntries ||
		cap(d.sp.arena) > 64*maxPooledEntries {
		return
	}
	if len(d.nodes) > maxPooledEntries || len(d.anchors) > maxPooledEntries {
		return
	}
	clear(d.texts) // they point into the body: let it go
	clear(d.top)
	clear(d.locs)
	clear(d.arrays)
	clear(d.allFirst)
	// The values written (a network token is a card number, a cryptogram
	// may be inserted) and Bytes' member texts, past the length too.
	clear(d.sp.arena[:cap(d.sp.arena)])
	// The members added hold the values written (a network token, a
	// cryptogram): each node and anchor is emptied, and kept, with its
	// kids' room, for the next body's members.
	for _, n := range d.nodes {
		clear(n.kids)
		*n = insNode{kids: n.kids[:0]}
	}
	for _, a := range d.anchors {
		clear(a.root.kids)
		*a = insAnchor{root: insNode{kids: a.root.kids[:0]}}
	}
	clear(d.byObj)
	clear(d.keys)
	*d = jsonDoc{texts: d.texts[:0], top: d.top[:0], locs: d.locs, arrays: d.arrays, allFirst: d.allFirst,
		ops: d.ops[:0], sp: splicer{sp: d.sp.sp[:0], arena: d.sp.arena[:0]},
		anchors: d.anchors[:0], byObj: d.byObj, nodes: d.nodes[:0], keys: d.keys[:0]}
	jsonDocs.Put(d)
}

// FindAppend appends what doc.Find(selector) returns to dst, so that a
// caller finding several selectors can reuse one slice instead of getting
// one per call.
func FindAppend(doc Doc, dst []Value, selector string) []Value {
	if d, ok := doc.(interface {
		appendFind([]Value, string) []Value
	}); ok {
		return d.appendFind(dst, selector)
	}
	return append(dst, doc.Find(selector)...)
}

func (d *jsonDoc) appendFind(dst []Value, selector string) []Value {
	d.expand("", selector, "", &dst)
	return dst
}

// TextList returns what doc.Texts visits, as a slice: for JSON the one
// parsed, without a callback. The caller must not modify it, and must not
// use it after Release (for a form, nor after the next TextList call: the
// list is the doc's, refilled).
func TextList(doc Doc) []Text {
	switch d := doc.(type) {
	case *jsonDoc:
		return d.texts
	case *formDoc:
		// Listed in the doc's own slice, reused by the next body.
		d.texts = d.texts[:0]
		d.Texts(func(t Text) { d.texts = append(d.texts, t) })
		return d.texts
	}
	return textsOf(doc)
}

func textsOf(doc Doc) []Text {
	var out []Text
	doc.Texts(func(t Text) { out = append(out, t) })
	return out
}
