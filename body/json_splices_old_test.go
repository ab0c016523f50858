package body

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
)

// splicesOld is splices before it sized its slice of splices once (issue
// 20, sixth pass), kept for FuzzSplicesAgainstOld. It turns the recorded edits into d.sp's splices (their texts
// appended to its arena, which the caller truncates again afterwards).
func (d *jsonDoc) splicesOld() *splicer {
	sp := &d.sp
	sp.sp = sp.sp[:0]

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

// FuzzSplicesAgainstOld records the same fuzzed edits on two docs of a
// fuzzed body and requires splices and splicesOld to build the same body.
func FuzzSplicesAgainstOld(f *testing.F) {
	f.Add(`{"a":{"x":1},"arr":[{"k":1}],"o":{}}`, []byte{0, 3, 1, 4, 2, 5, 0, 14, 1, 15, 3, 3})
	f.Add(`{"cards":[{"number":"4111","cvc":"1"},{"number":"5555","cvc":"22"}]}`, []byte{1, 9, 0, 0, 8, 0, 1, 10, 0})
	f.Add(`[1,{"a":2}]`, []byte{0, 1, 2, 3, 0, 4})
	f.Fuzz(func(t *testing.T, doc string, ops []byte) {
		if len(ops) > 96 || !json.Valid([]byte(doc)) {
			return
		}
		dn, err := Parse(JSON, "application/json", []byte(doc))
		if err != nil {
			return
		}
		do, _ := Parse(JSON, "application/json", []byte(doc))
		n, o := dn.(*jsonDoc), do.(*jsonDoc)
		defer Release(n)
		defer Release(o)
		for i := 0; i+2 < len(ops); i += 3 {
			path := lookupPaths[int(ops[i+1])%len(lookupPaths)]
			val := fuzzValues[int(ops[i+2])%len(fuzzValues)]
			for _, d := range []*jsonDoc{n, o} {
				switch ops[i] % 3 {
				case 0:
					d.Set(path, val)
				case 1:
					d.Delete(path)
				case 2:
					d.SetRaw(path, `{"r":`+strconv.Quote(val)+`}`)
				}
			}
		}
		got := n.splices().apply(n.data)
		want := o.splicesOld().apply(o.data)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: new %s, old %s", doc, got, want)
		}
	})
}
