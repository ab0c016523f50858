package body

import (
	"cmp"
	"slices"
)

// fieldOps are the Sets and Deletes recorded on a form's or multipart
// body's existing fields, each with its field's index, in call order: a
// few entries for the fields edited, where a slice parallel to the fields
// took one per field of the body (a checkout form's 36 fields, 860 bytes,
// for two edits). A field's last op counts.
type fieldOps []indexedOp

// indexedOp is one recorded op on field i.
type indexedOp struct {
	i int
	fieldOp
}

// room gives the first op room for a card's usual edits (its number and
// CVV, and a stray number or two) in one allocation, where append would
// grow it twice.
func (o fieldOps) room() fieldOps {
	if o == nil {
		return make(fieldOps, 0, 4)
	}
	return o
}

// cursor orders ops by field, call order kept within a field, and returns
// a reader of each field's op. (Sorted again after more ops, the order
// within a field still is call order: the sort is stable.)
func (o fieldOps) cursor() opCursor {
	slices.SortStableFunc(o, func(a, b indexedOp) int { return cmp.Compare(a.i, b.i) })
	return opCursor{ops: o}
}

// opCursor reads sorted ops field by field.
type opCursor struct {
	ops  fieldOps
	next int
}

// at returns field i's op (its last), or none; i must not decrease from
// one call to the next.
func (c *opCursor) at(i int) fieldOp {
	var op fieldOp
	for c.next < len(c.ops) && c.ops[c.next].i <= i {
		if c.ops[c.next].i == i {
			op = c.ops[c.next].fieldOp
		}
		c.next++
	}
	return op
}
