package body

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// jsonOp is a recorded Set or Delete on a value that exists in the body.
type jsonOp struct {
	start, end int  // the value's raw text
	del        bool // delete the member or element holding the value
	off, n     int  // Set: the escaped JSON string, in the splicer arena
	seq        int  // order of recording: the last op on a value wins
}

// insNode is a member to add to an existing object. Missing parents are
// nodes too, so that "payment.card.cryptogram" and "payment.card.eci" end
// up in one new "card" object rather than two.
type insNode struct {
	key  string // unescaped member name
	val  string // the string value, for a leaf
	raw  bool   // val is JSON text (SetRaw), written without quoting
	obj  bool   // an object holding kids, rather than a string leaf
	kids []*insNode
}

// insAnchor is an object of the body receiving new members.
type insAnchor struct {
	obj  loc
	root insNode
}

// pendingSet is a Set that cannot be expressed as an insertion into an
// existing object (array indexes past the end, non-object parents, exotic
// paths); sjson applies it after the splices, one full copy each.
type pendingSet struct {
	path, value string
	raw         bool // value is JSON text (SetRaw)
}

// Set implements Doc.
func (d *jsonDoc) Set(path, value string) { d.set(path, value, false) }

// SetRaw implements Doc.
func (d *jsonDoc) SetRaw(path, raw string) { d.set(path, raw, true) }

// set records a Set (raw false: value is quoted) or a SetRaw.
func (d *jsonDoc) set(path, value string, raw bool) {
	if path == "" {
		return // the whole body is not a field
	}
	if l, ok := d.lookup(path); ok {
		off := d.sp.begin()
		if raw {
			d.sp.arena = append(d.sp.arena, value...)
		} else {
			d.sp.arena = gjson.AppendJSONString(d.sp.arena, value)
		}
		d.ops = append(d.ops, jsonOp{start: l.start, end: l.end, off: off, n: len(d.sp.arena) - off, seq: len(d.ops)})
		return
	}
	if a, keys, ok := d.anchorFor(path, true); ok {
		n := &a.root
		for _, k := range keys[:len(keys)-1] {
			n = d.child(n, k, true)
		}
		leaf := d.child(n, keys[len(keys)-1], false)
		leaf.obj, leaf.kids, leaf.val, leaf.raw = false, nil, value, raw
		return
	}
	d.pending = append(d.pending, pendingSet{path, value, raw})
}

// Delete implements Doc.
func (d *jsonDoc) Delete(path string) {
	if path == "" {
		return
	}
	if l, ok := d.lookup(path); ok {
		d.ops = append(d.ops, jsonOp{start: l.start, end: l.end, del: true, seq: len(d.ops)})
		return
	}
	if a, keys, ok := d.anchorFor(path, false); ok {
		n := &a.root
		for _, k := range keys[:len(keys)-1] {
			if n = n.find(k); n == nil || !n.obj {
				break
			}
		}
		if n != nil && n.obj {
			n.remove(keys[len(keys)-1])
		}
	}
	kept := d.pending[:0]
	for _, p := range d.pending {
		if p.path != path {
			kept = append(kept, p)
		}
	}
	d.pending = kept
}

// anchorFor splits a missing path into the nearest existing object and the
// member names to create below it. It fails when the nearest existing
// ancestor is not an object or a name to create is not a plain key (numeric
// names make sjson create arrays, so those are left to sjson).
func (d *jsonDoc) anchorFor(path string, create bool) (*insAnchor, []string, bool) {
	if !isPlainPath(path) {
		return nil, nil, false
	}
	parent := path
	var obj loc
	for {
		dot := lastDot(parent)
		if dot < 0 {
			parent = ""
		} else {
			parent = parent[:dot]
		}
		l, ok := d.lookup(parent)
		if ok {
			obj = l
			break
		}
		if parent == "" {
			return nil, nil, false
		}
	}
	if d.s[obj.start] != '{' {
		return nil, nil, false
	}
	rest := path
	if parent != "" {
		rest = path[len(parent)+1:]
	}
	keys := appendSplitPath(d.keys[:0], rest)
	d.keys = keys
	for _, k := range keys {
		if !isObjectKey(k) {
			return nil, nil, false
		}
	}
	for i, k := range keys {
		keys[i] = unescapeKey(k)
	}
	a := d.byObj[obj.start]
	if a == nil {
		if !create {
			return nil, nil, false
		}
		// An anchor of a pooled doc's earlier body is reused, past the
		// length of d.anchors (Release cleared it), with its kids' room.
		if k := len(d.anchors); k < cap(d.anchors) && d.anchors[:k+1][k] != nil {
			d.anchors = d.anchors[:k+1]
			a = d.anchors[k]
			*a = insAnchor{obj: obj, root: insNode{obj: true, kids: a.root.kids[:0]}}
		} else {
			a = &insAnchor{obj: obj, root: insNode{obj: true}}
			d.anchors = append(d.anchors, a)
		}
		if d.byObj == nil {
			d.byObj = make(map[int]*insAnchor)
		}
		d.byObj[obj.start] = a
	}
	return a, keys, true
}

// child returns n's kid named key, creating it if missing; asObj turns it
// into an object (a later Set below a new leaf replaces the leaf, as sjson
// would). A new kid is one of d.nodes: a pooled doc reuses the nodes (and
// their kids' room) of its earlier bodies rather than allocating two per
// member added.
func (d *jsonDoc) child(n *insNode, key string, asObj bool) *insNode {
	k := n.find(key)
	if k == nil {
		if i := len(d.nodes); i < cap(d.nodes) && d.nodes[:i+1][i] != nil {
			d.nodes = d.nodes[:i+1]
			k = d.nodes[i]
			*k = insNode{key: key, kids: k.kids[:0]}
		} else {
			k = &insNode{key: key}
			d.nodes = append(d.nodes, k)
		}
		n.kids = append(n.kids, k)
	}
	if asObj && !k.obj {
		k.obj, k.val, k.raw = true, "", false
	}
	return k
}

func (n *insNode) find(key string) *insNode {
	for _, k := range n.kids {
		if k.key == key {
			return k
		}
	}
	return nil
}

func (n *insNode) remove(key string) {
	for i, k := range n.kids {
		if k.key == key {
			n.kids = append(n.kids[:i], n.kids[i+1:]...)
			return
		}
	}
}

// appendMembers writes the kids as JSON members, comma separated.
func appendMembers(dst []byte, kids []*insNode) []byte {
	for i, k := range kids {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = gjson.AppendJSONString(dst, k.key)
		dst = append(dst, ':')
		if k.obj {
			dst = append(dst, '{')
			dst = appendMembers(dst, k.kids)
			dst = append(dst, '}')
		} else if k.raw {
			dst = append(dst, k.val...)
		} else {
			dst = gjson.AppendJSONString(dst, k.val)
		}
	}
	return dst
}

// Bytes implements Doc. Deleting a member removes it with exactly one
// adjoining comma: the one before it, unless every member before it is
// deleted too, in which case the one after it. That keeps the JSON valid
// whatever combination of members is deleted.
func (d *jsonDoc) Bytes() ([]byte, error) {
	if len(d.ops) == 0 && len(d.anchors) == 0 && len(d.pending) == 0 {
		return d.data, nil
	}
	arenaLen := len(d.sp.arena)
	defer func() { d.sp.arena = d.sp.arena[:arenaLen] }()
	out := d.splices().apply(d.data)
	for _, p := range d.pending {
		var err error
		if p.raw {
			out, err = sjson.SetRawBytes(out, p.path, []byte(p.value))
		} else {
			out, err = sjson.SetBytes(out, p.path, p.value)
		}
		if err != nil {
			return nil, fmt.Errorf("body: setting JSON path %q: %w", p.path, err)
		}
	}
	return out, nil
}

// splices turns the recorded edits into d.sp's splices (their texts
// appended to its arena, which the caller truncates again afterwards).
func (d *jsonDoc) splices() *splicer {
	sp := &d.sp
	// At most one splice per op and per anchor: sized once, a bulk body's
	// 2,000 edits do not regrow it a dozen times.
	sp.sp = slices.Grow(sp.sp[:0], len(d.ops)+len(d.anchors))

	ops := d.ops
	sortOps(ops)
	// allFirst[p] records, for the deleted item followed by the comma or
	// closing bracket at p, whether it and every item before it are deleted.
	allFirst := d.allFirst
	clear(allFirst)
	for i, op := range ops {
		if i+1 < len(ops) && ops[i+1].start == op.start {
			continue // a later op on the same value wins
		}
		if !op.del {
			sp.sp = append(sp.sp, splice{start: op.start, end: op.end, off: op.off, n: op.n, seq: len(sp.sp)})
			continue
		}
		item, prev := d.itemStart(op.start)
		if prev < 0 {
			continue // the top-level value: nothing to remove it from
		}
		after := skipWS(d.s, op.end)
		first := d.s[prev] != ',' || allFirst[prev]
		if allFirst == nil {
			allFirst = make(map[int]bool)
			d.allFirst = allFirst
		}
		allFirst[after] = first
		switch {
		case !first:
			sp.addString(prev, op.end, "") // ", item"
		case d.s[after] == ',':
			sp.addString(item, skipWS(d.s, after+1), "") // "item, "
		default:
			sp.addString(item, op.end, "") // the only item left
		}
	}
	for _, a := range d.anchors {
		if len(a.root.kids) == 0 {
			continue
		}
		closing := a.obj.end - 1
		last := closing - 1
		for isWS(d.s[last]) {
			last--
		}
		off := sp.begin()
		if d.s[last] != '{' && !allFirst[closing] {
			sp.arena = append(sp.arena, ',')
		}
		sp.arena = appendMembers(sp.arena, a.root.kids)
		sp.finish(last+1, last+1, off)
	}
	return sp
}

// itemStart finds where the member or element whose value starts at v
// begins (the key's opening quote, or v for an array element), and the
// position of the comma or bracket before it (-1 for the top-level value).
func (d *jsonDoc) itemStart(v int) (item, prev int) {
	s := d.s
	p := skipWSBack(s, v-1)
	if p < 0 {
		return v, -1
	}
	item = v
	if s[p] == ':' {
		q := skipWSBack(s, p-1) // the key's closing quote
		for q--; q >= 0; q-- {
			if s[q] == '"' && backslashesBefore(s, q)%2 == 0 {
				break
			}
		}
		item = q
		p = skipWSBack(s, q-1)
	}
	return item, p
}

// sortOps orders ops by value position, keeping recording order for ops on
// the same value. Ops usually arrive in body order, so the check is cheap.
func sortOps(ops []jsonOp) {
	sorted := true
	for i := 1; i < len(ops); i++ {
		if ops[i].start < ops[i-1].start {
			sorted = false
			break
		}
	}
	if sorted {
		return
	}
	slices.SortFunc(ops, func(a, b jsonOp) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}
