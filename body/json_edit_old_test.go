package body

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/tidwall/gjson"
)

// The recording of Sets and Deletes as it was before the added members'
// nodes, anchors and path segments were reused from a pooled doc's
// earlier bodies (child, anchorFor, Release), kept to fuzz the new one
// against: FuzzJSONEditAgainstOld.

func (d *jsonDoc) setOld(path, value string, raw bool) {
	if path == "" {
		return
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
	if a, keys, ok := d.anchorForOld(path, true); ok {
		n := &a.root
		for _, k := range keys[:len(keys)-1] {
			n = n.childOld(k, true)
		}
		leaf := n.childOld(keys[len(keys)-1], false)
		leaf.obj, leaf.kids, leaf.val, leaf.raw = false, nil, value, raw
		return
	}
	d.pending = append(d.pending, pendingSet{path, value, raw})
}

func (d *jsonDoc) deleteOld(path string) {
	if path == "" {
		return
	}
	if l, ok := d.lookup(path); ok {
		d.ops = append(d.ops, jsonOp{start: l.start, end: l.end, del: true, seq: len(d.ops)})
		return
	}
	if a, keys, ok := d.anchorForOld(path, false); ok {
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

func (d *jsonDoc) anchorForOld(path string, create bool) (*insAnchor, []string, bool) {
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
	keys := SplitPath(rest)
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
		a = &insAnchor{obj: obj, root: insNode{obj: true}}
		if d.byObj == nil {
			d.byObj = make(map[int]*insAnchor)
		}
		d.byObj[obj.start] = a
		d.anchors = append(d.anchors, a)
	}
	return a, keys, true
}

func (n *insNode) childOld(key string, asObj bool) *insNode {
	k := n.find(key)
	if k == nil {
		k = &insNode{key: key}
		n.kids = append(n.kids, k)
	}
	if asObj && !k.obj {
		k.obj, k.val, k.raw = true, "", false
	}
	return k
}

// fuzzPaths are the paths the fuzzer picks from: members that exist and
// members (and parents) to add, escapes, array indexes, exotic syntax.
var fuzzPaths = []string{"a", "b", "a.x", "a.x.y", "a.y", "c.d", "n", "n.m", "arr.0", "arr.0.k", "arr.5", "arr.#",
	`a\.b`, `a.b\.c`, "new", "new.deep.er", "a.-1", "a.1", "", "o.p", "o.p.q", "*", "a|b"}

// FuzzJSONEditAgainstOld records fuzzed Sets, SetRaws and Deletes on a
// fuzzed document with the new and the old way, on docs from the pool
// (each twice: the second round reuses what the first left, released),
// and requires the same body out, or the same error.
func FuzzJSONEditAgainstOld(f *testing.F) {
	f.Add(`{"a":{"x":1},"arr":[{"k":1}],"o":{}}`, []byte{0, 3, 1, 4, 2, 5, 0, 14, 1, 15, 3, 3})
	f.Add(`{"payment":{"card":{"number":"tok","exp_month":"03"}}}`, []byte{0, 0, 0, 1, 2, 2, 0, 15, 0, 15, 1, 16})
	f.Add(`[1,{"a":2}]`, []byte{0, 1, 2, 3, 0, 4})
	f.Fuzz(func(t *testing.T, doc string, ops []byte) {
		if len(ops) > 96 || !json.Valid([]byte(doc)) {
			return
		}
		for round := 0; round < 2; round++ {
			dn, err := Parse(JSON, "application/json", []byte(doc))
			if err != nil {
				return
			}
			do, _ := Parse(JSON, "application/json", []byte(doc))
			n, o := dn.(*jsonDoc), do.(*jsonDoc)
			for i := 0; i+2 < len(ops); i += 3 {
				path := fuzzPaths[int(ops[i+1])%len(fuzzPaths)]
				if ops[i+2]%7 == 0 {
					path += "." + strconv.Itoa(int(ops[i+2]))
				}
				val := fuzzValues[int(ops[i+2])%len(fuzzValues)]
				switch ops[i] % 4 {
				case 0:
					n.Set(path, val)
					o.setOld(path, val, false)
				case 1:
					n.Delete(path)
					o.deleteOld(path)
				case 2:
					raw := `{"r":` + strconv.Quote(val) + `}`
					n.SetRaw(path, raw)
					o.setOld(path, raw, true)
				case 3:
					n.SetRaw(path, "7")
					o.setOld(path, "7", true)
				}
			}
			got, gerr := n.Bytes()
			want, werr := o.Bytes()
			if (gerr == nil) != (werr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("round %d on %s: new %s (%v), old %s (%v)", round, doc, got, gerr, want, werr)
			}
			Release(n)
			Release(o)
		}
	})
}
