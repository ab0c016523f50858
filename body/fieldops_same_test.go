package body

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
)

// FuzzFieldOpsAgainstOld applies one sequence of Sets and Deletes (on
// fields by name and by occurrence, "name#2", and on fields the body does
// not have) to a form or multipart body, and checks that Bytes writes what
// the old parallel ops wrote, or fails alike, after every step (Bytes may
// be called between edits, as verifyNoStrays does).
func FuzzFieldOpsAgainstOld(f *testing.F) {
	f.Add("card_number=4242424242424242&card_cvc=123&card_exp_month=12&x=%41%2b+b", false, []byte{0, 0, 1, 1, 0, 0})
	f.Add("a=1&a=2&&b&c=&a=3", false, []byte{0, 4, 1, 5, 0, 5, 1, 4, 0, 9})
	f.Add("number=4111111111111111&cvc=1&number=5555555555554444&cvc=2", false, []byte{0, 0, 0, 2, 1, 1, 1, 3, 0, 1})
	f.Add("--XX\r\nContent-Disposition: form-data; name=\"card_number\"\r\n\r\n4242424242424242\r\n--XX\r\nContent-Disposition: form-data; name=\"card_cvc\"\r\n\r\n123\r\n--XX--\r\n", true, []byte{0, 0, 1, 1, 0, 7})
	f.Add("--XX\nContent-Disposition: form-data; name=\"a\"\nContent-Transfer-Encoding: base64\n\nMTIz\n--XX\nContent-Disposition: form-data; name=\"a\"\n\nx\n--XX--\n", true, []byte{0, 0, 0, 1, 1, 0, 0, 8})
	f.Fuzz(func(t *testing.T, in string, multipart bool, script []byte) {
		kind, ct := Form, ""
		if multipart {
			kind, ct = Multipart, "multipart/form-data; boundary=XX"
		}
		doc, err := Parse(kind, ct, []byte(in))
		if err != nil {
			return
		}
		var names []string
		n := 0
		switch d := doc.(type) {
		case *formDoc:
			n = len(d.pairs)
			for _, p := range d.pairs {
				names = append(names, p.name)
			}
		case *multipartDoc:
			n = len(d.parts)
			for _, p := range d.parts {
				names = append(names, p.name)
			}
		}
		var oldOps []fieldOp
		var oldAdded []newField
		for k := 0; k+1 < len(script) && k < 64; k += 2 {
			op, pick := script[k], int(script[k+1])
			var path string
			switch {
			case pick%4 == 3 || len(names) == 0:
				path = "new_" + strconv.Itoa(pick%3) // a field the body lacks
			case pick%4 == 2:
				path = names[pick%len(names)] + "#" + strconv.Itoa(1+pick%3)
			default:
				path = names[pick%len(names)]
			}
			var i int
			switch d := doc.(type) {
			case *formDoc:
				i = d.index(path)
			case *multipartDoc:
				i = d.index(path)
			}
			val := "tok_" + strconv.Itoa(k) + "&=+ é"
			if op%2 == 0 {
				doc.Set(path, val)
				oldOps, oldAdded = setFieldOld(oldOps, oldAdded, n, i, path, val)
			} else {
				doc.Delete(path)
				oldOps, oldAdded = deleteFieldOld(oldOps, oldAdded, n, i, path)
			}
			if op%4 < 2 && k+2 < len(script) {
				continue // Bytes only after some steps, and after the last
			}
			got, gotErr := doc.Bytes()
			var want []byte
			var wantErr error
			switch d := doc.(type) {
			case *formDoc:
				want, wantErr = formBytesOld(d, oldOps, oldAdded)
			case *multipartDoc:
				want, wantErr = multipartBytesOld(d, oldOps, oldAdded)
			}
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
				t.Fatalf("in %q, step %d (%d %q):\n got %q, %v\nwant %q, %v", in, k/2, op, path, got, gotErr, want, wantErr)
			}
		}
	})
}

// A checkout form's two edits record two ops, not one per field (the
// body's 36 fields took 860 bytes before), in one allocation.
func TestFormEditsRecordOnlyTheirFields(t *testing.T) {
	in := []byte("a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&card_number=4242424242424242&card_cvc=123")
	doc, err := Parse(Form, "", in)
	if err != nil {
		t.Fatal(err)
	}
	doc.Set("card_number", "tok_1")
	doc.Set("card_cvc", "***")
	if got := len(doc.(*formDoc).ops); got != 2 {
		t.Fatalf("%d ops recorded for two edits", got)
	}
	out, err := doc.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if want := "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&card_number=tok_1&card_cvc=%2A%2A%2A"; string(out) != want {
		t.Fatalf("%s, want %s", out, want)
	}
	docs := make([]Doc, 11) // AllocsPerRun's runs and its warm-up
	for i := range docs {
		if docs[i], err = Parse(Form, "", in); err != nil {
			t.Fatal(err)
		}
	}
	next := 0
	allocs := testing.AllocsPerRun(len(docs)-1, func() {
		docs[next].Set("card_number", "tok_1")
		docs[next].Set("card_cvc", "***")
		next++
	})
	if allocs != 1 {
		t.Fatalf("two edits took %v allocations, want 1", allocs)
	}
}

// Writing a checkout form's two edits takes one allocation, the copy: the
// splices and texts reuse the doc's room from one call to the next (and
// from one body to the next, pooled), and the CVV mask is escaped straight
// into it (three before: the room, the escape, the copy; six before that).
func TestFormBytesAllocations(t *testing.T) {
	doc, err := Parse(Form, "", []byte("order=1&name=Jane+Doe&card_number=4242424242424242&card_cvc=123&card_exp_month=03"))
	if err != nil {
		t.Fatal(err)
	}
	doc.Set("card_number", "tok_8a7sd6f87as6df87a6sdf")
	doc.Set("card_cvc", "***")
	if allocs := testing.AllocsPerRun(100, func() { _, _ = doc.Bytes() }); allocs != 1 {
		t.Fatalf("Bytes took %v allocations, want 1", allocs)
	}
}
