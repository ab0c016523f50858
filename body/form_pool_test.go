package body

import (
	"bytes"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzFormParseAgainstOld parses a body on a doc the pool hands back after
// another body (its pairs reused) and checks it reads as the old unpooled
// parse reads it: the same error, pairs, names, Find and Texts.
func FuzzFormParseAgainstOld(f *testing.F) {
	f.Add("a=1&b=2&c=3&d=4&e=5&f=6&g=7", "card%5Bnumber%5D=4111111111111111&x&&y=%2B1")
	f.Add("items%5B0%5D%5Bsku%5D=A&card_number=4242424242424242", "a=1")
	f.Add("", "%zz=1")
	f.Fuzz(func(t *testing.T, first, in string) {
		if d, err := parseForm([]byte(first)); err == nil {
			d.Set("card_number", "SECRET")
			_, _ = d.Bytes()
			_ = TextList(d)
			Release(d)
		}
		got, gerr := parseForm([]byte(in))
		want, werr := parseFormOld([]byte(in))
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: pooled %v, old %v", in, gerr, werr)
		}
		if gerr != nil {
			return
		}
		defer Release(got)
		if !reflect.DeepEqual(got.pairs, want.pairs) {
			t.Fatalf("%q: pooled pairs %+v, old %+v", in, got.pairs, want.pairs)
		}
		for _, p := range want.pairs {
			if g, w := got.Find(p.name), want.Find(p.name); !reflect.DeepEqual(g, w) {
				t.Fatalf("%q: Find(%q) pooled %+v, old %+v", in, p.name, g, w)
			}
		}
		if g, w := TextList(got), textsOf(want); len(g)+len(w) > 0 && !reflect.DeepEqual(g, w) {
			t.Fatalf("%q: texts pooled %+v, old %+v", in, g, w)
		}
	})
}

// FuzzFormPoolCrossTalk edits one form (request A, every value written a
// secret), releases its doc, checks the released doc holds nothing of A's,
// then edits another form (request B) on the doc the pool hands back, which
// reuses A's pairs, ops, new fields, splices and arena. B's bytes must equal
// the old way's and hold nothing of A's: one request's network token or
// cryptogram in another's outbound body would be a card number sent to the
// wrong processor.
func FuzzFormPoolCrossTalk(f *testing.F) {
	f.Add("card_number=tok_1&card_exp_month=01&x=1", []byte{0, 0, 0, 1, 3, 2}, "card_number=tok_2&y", []byte{0, 0, 1, 1, 0, 3})
	f.Add("a=1&a=2&&b&c=", []byte{0, 2, 1, 5, 0, 3}, "a&a&a", []byte{0, 6, 0, 2})
	f.Add("x%5B0%5D=4111111111111111&z=", []byte{0, 0, 0, 1}, "q=1", []byte{})
	f.Fuzz(func(t *testing.T, bodyA string, opsA []byte, bodyB string, opsB []byte) {
		if len(opsA) > 64 || len(opsB) > 64 || bytes.Contains([]byte(bodyB), []byte("SECRET")) {
			return
		}
		a, err := parseForm([]byte(bodyA))
		if err != nil {
			return
		}
		formEdit(a, opsA, func(k int) string { return "SECRET-" + strconv.Itoa(k) + " =&" }, nil)
		_, _ = a.Bytes()
		_ = TextList(a)
		Release(a)
		if leak := releasedFormLeak(a); leak != "" {
			t.Fatalf("released doc still holds %s", leak)
		}

		b, err := parseForm([]byte(bodyB))
		if err != nil {
			return
		}
		ref, _ := parseFormOld([]byte(bodyB)) // fresh memory, the old edits
		var old oldFormEdits
		value := func(k int) string { return "b" + strconv.Itoa(k) }
		formEdit(b, opsB, value, nil)
		formEdit(ref, opsB, value, &old)
		got, gerr := b.Bytes()
		want, werr := formBytesOld(ref, old.ops, old.added)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || !bytes.Equal(got, want) {
			t.Fatalf("B after A: pooled %q (%v), old %q (%v)", got, gerr, want, werr)
		}
		if bytes.Contains(got, []byte("SECRET")) {
			t.Fatalf("B's body holds A's value: %q", got)
		}
		for _, tx := range TextList(b) {
			if bytes.Contains([]byte(tx.Text+tx.Path), []byte("SECRET")) {
				t.Fatalf("B's texts hold A's value: %+v", tx)
			}
		}
		Release(b)
	})
}

// oldFormEdits are the edits as fieldops_old_test.go records them.
type oldFormEdits struct {
	ops   []fieldOp
	added []newField
}

// formEdit applies ops (two bytes each: Set or Delete, which field) to d,
// or, with old, records them the old way instead.
func formEdit(d *formDoc, ops []byte, value func(int) string, old *oldFormEdits) {
	for k := 0; k+1 < len(ops); k += 2 {
		pick := int(ops[k+1])
		path := "new_" + strconv.Itoa(pick%3) // a field the body lacks
		if n := len(d.pairs); pick%4 != 3 && n > 0 {
			path = d.pairs[pick%n].name
			if pick%4 == 2 {
				path += "#" + strconv.Itoa(1+pick%3)
			}
		}
		set, val := ops[k]%2 == 0, value(k)
		switch {
		case old != nil && set:
			old.ops, old.added = setFieldOld(old.ops, old.added, len(d.pairs), d.index(path), path, val)
		case old != nil:
			old.ops, old.added = deleteFieldOld(old.ops, old.added, len(d.pairs), d.index(path), path)
		case set:
			d.Set(path, val)
		default:
			d.Delete(path)
		}
	}
}

// releasedFormLeak says what a released form doc still holds (its whole
// capacity read, not just its length), or "".
func releasedFormLeak(d *formDoc) string {
	switch {
	case d.data != nil || d.s != "":
		return "its body"
	case !allZero(d.sp.arena[:cap(d.sp.arena)]):
		return "text written in its arena"
	}
	for _, p := range d.pairs[:cap(d.pairs)] {
		if p != (formPair{}) {
			return "a pair"
		}
	}
	for _, op := range d.ops[:cap(d.ops)] {
		if op != (indexedOp{}) {
			return "an edit"
		}
	}
	for _, f := range d.added[:cap(d.added)] {
		if f != (newField{}) {
			return "a new field"
		}
	}
	for _, tx := range d.texts[:cap(d.texts)] {
		if tx != (Text{}) {
			return "a text"
		}
	}
	for _, s := range d.sp.sp[:cap(d.sp.sp)] {
		if s != (splice{}) {
			return "a splice"
		}
	}
	return ""
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// A checkout form's card number, written and released, is gone from the
// doc the next body gets.
func TestReleasedFormHoldsNoCardData(t *testing.T) {
	d, err := parseForm([]byte("order=1&card_number=tok_1&card_exp_month=01"))
	if err != nil {
		t.Fatal(err)
	}
	d.Set("card_number", "4895370012345678")
	d.Set("card_cryptogram", "AgAAAAAABk4DWZ4C28yUQAAAAAA=")
	if out, err := d.Bytes(); err != nil || !bytes.Contains(out, []byte("4895370012345678")) {
		t.Fatalf("%q, %v", out, err)
	}
	Release(d)
	if leak := releasedFormLeak(d); leak != "" {
		t.Fatalf("released doc still holds %s", leak)
	}
}

// Parsing, editing and writing a checkout form on a pooled doc allocates
// the copy Bytes returns and nothing else (the decoded names' array aside,
// which is never pooled: this form has no escaped name).
func TestPooledFormAllocations(t *testing.T) {
	in := []byte("order=1&name=Jane+Doe&card_number=tok_1&card_exp_month=03&card_exp_year=2030")
	run := func() {
		d, err := parseForm(in)
		if err != nil {
			t.Fatal(err)
		}
		d.Set("card_number", "4895370012345678")
		d.Set("card_cryptogram", "AgAAAAAABk4DWZ4C28yUQAAAAAA=")
		_ = TextList(d)
		if _, err := d.Bytes(); err != nil {
			t.Fatal(err)
		}
		Release(d)
	}
	run()
	if allocs := testing.AllocsPerRun(100, run); allocs > 1 {
		t.Fatalf("%v allocations, want 1", allocs)
	}
}

// FuzzAppendQueryEscape: the arena's escape is url.QueryEscape's.
func FuzzAppendQueryEscape(f *testing.F) {
	f.Add("AgAAAAAABk4DWZ4C28yUQAAAAAA=")
	f.Add("tok_&=+ é~-._*\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendQueryEscape([]byte("x"), s)), "x"+url.QueryEscape(s); got != want {
			t.Fatalf("%q: %q, want %q", s, got, want)
		}
	})
}

// A second Bytes that needs a bigger arena wipes the one it replaces: the
// first call's texts (a card number) are not dropped with it.
func TestFormArenaReplacedIsWiped(t *testing.T) {
	d, err := parseForm([]byte("card_number=tok_1&memo=x"))
	if err != nil {
		t.Fatal(err)
	}
	defer Release(d)
	d.Set("card_number", "4895370012345678")
	if _, err := d.Bytes(); err != nil {
		t.Fatal(err)
	}
	first := d.sp.arena[:cap(d.sp.arena)]
	if !bytes.Contains(first, []byte("4895370012345678")) {
		t.Fatal("the number is not in the first arena")
	}
	d.Set("memo", strings.Repeat("=", 200))
	out, err := d.Bytes()
	if err != nil || !bytes.Contains(out, []byte("4895370012345678")) {
		t.Fatalf("%q, %v", out, err)
	}
	if &first[0] == &d.sp.arena[:1][0] || !allZero(first) {
		t.Fatal("the replaced arena was not wiped")
	}
}
