package body

import (
	"fmt"
	"net/url"
	"strings"
)

// The form and multipart edits before fieldOps (issue 20, fifth pass): a
// slice of ops parallel to the fields, allocated on the first edit. Kept
// for FuzzFieldOpsAgainstOld.

func setFieldOld(ops []fieldOp, added []newField, n, i int, name, value string) ([]fieldOp, []newField) {
	if i >= 0 {
		if ops == nil {
			ops = make([]fieldOp, n)
		}
		ops[i] = fieldOp{set: true, val: value}
		return ops, added
	}
	for j := range added {
		if added[j].path == name {
			added[j].val = value
			return ops, added
		}
	}
	return ops, append(added, newField{path: name, name: occurrenceName(name), val: value})
}

func deleteFieldOld(ops []fieldOp, added []newField, n, i int, name string) ([]fieldOp, []newField) {
	if i >= 0 {
		if ops == nil {
			ops = make([]fieldOp, n)
		}
		ops[i] = fieldOp{del: true}
		return ops, added
	}
	for j := range added {
		if added[j].path == name {
			return ops, append(added[:j], added[j+1:]...)
		}
	}
	return ops, added
}

// formBytesOld is formDoc.Bytes with the old ops.
func formBytesOld(d *formDoc, dops []fieldOp, added []newField) ([]byte, error) {
	if dops == nil && len(added) == 0 {
		return d.data, nil
	}
	var sp splicer
	survivor := false
	for i := range d.pairs {
		p := &d.pairs[i]
		var op fieldOp
		if dops != nil {
			op = dops[i]
		}
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
			sp.arena = append(sp.arena, url.QueryEscape(op.val)...)
			sp.finish(p.vs, p.ve, off)
		default:
			survivor = true
		}
	}
	if len(added) > 0 {
		off := sp.begin()
		for i, f := range added {
			if i > 0 || survivor && !strings.HasSuffix(d.s, "&") {
				sp.arena = append(sp.arena, '&')
			}
			sp.arena = append(sp.arena, url.QueryEscape(f.name)...)
			sp.arena = append(sp.arena, '=')
			sp.arena = append(sp.arena, url.QueryEscape(f.val)...)
		}
		sp.finish(len(d.s), len(d.s), off)
	}
	return sp.apply(d.data), nil
}

// multipartBytesOld is multipartDoc.Bytes with the old ops.
func multipartBytesOld(d *multipartDoc, dops []fieldOp, added []newField) ([]byte, error) {
	if dops == nil && len(added) == 0 {
		return d.data, nil
	}
	var sp splicer
	for i := range d.parts {
		if dops == nil {
			break
		}
		p, op := &d.parts[i], dops[i]
		switch {
		case op.del:
			sp.add(p.start, p.end, nil)
		case op.set:
			off := sp.begin()
			sp.arena = appendEncoded(sp.arena, op.val, p.cte)
			if d.breaksOut(sp.arena[off:]) {
				return nil, fmt.Errorf("body: new value of multipart field %q contains the boundary", p.name)
			}
			sp.finish(p.bodyStart, p.bodyEnd, off)
		}
	}
	if len(added) > 0 {
		at := d.closeAt
		off := sp.begin()
		for _, f := range added {
			if d.breaksOut([]byte(f.val)) {
				return nil, fmt.Errorf("body: new value of multipart field %q contains the boundary", f.name)
			}
			sp.arena = append(sp.arena, d.dash...)
			sp.arena = append(sp.arena, d.nl...)
			sp.arena = append(sp.arena, `Content-Disposition: form-data; name="`...)
			sp.arena = append(sp.arena, quoteEscaper.Replace(f.name)...)
			sp.arena = append(sp.arena, '"')
			sp.arena = append(sp.arena, d.nl...)
			sp.arena = append(sp.arena, d.nl...)
			sp.arena = append(sp.arena, f.val...)
			sp.arena = append(sp.arena, d.nl...)
		}
		if at < 0 {
			sp.arena = append(sp.arena, d.dash...)
			sp.arena = append(sp.arena, "--"...)
			sp.arena = append(sp.arena, d.nl...)
			at = len(d.s)
		}
		sp.finish(at, at, off)
	}
	return sp.apply(d.data), nil
}
