package body

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
)

// FuzzJSONPoolCrossTalk edits one body (request A, every value written a
// secret), releases its doc, then edits another body (request B) on the
// doc the pool hands back, which reuses A's arena, nodes, anchors and
// maps. B's bytes must equal the old way's on a doc of its own, and hold
// nothing of A's: one request's network token or cryptogram in another's
// outbound body would be a card number sent to the wrong processor.
// FuzzJSONEditAgainstOld repeats one body twice, where A's leftovers
// would be B's own values and go unseen.
func FuzzJSONPoolCrossTalk(f *testing.F) {
	f.Add(`{"payment":{"card":{"number":"tok"}}}`, []byte{0, 14, 1, 0, 15, 2, 0, 19, 3},
		`{"payment":{"card":{"number":"tok"}},"o":{}}`, []byte{0, 19, 0})
	f.Add(`{"a":{"x":1},"o":{}}`, []byte{0, 15, 1, 0, 20, 2, 2, 14, 3, 1, 15, 0},
		`{"a":{},"o":{"p":{}}}`, []byte{0, 4, 1, 0, 14, 2})
	f.Add(`{"a":{"x":1},"arr":[{"k":1}],"o":{}}`, []byte{0, 3, 1, 4, 2, 5, 0, 14, 1, 15, 3, 3},
		`{"n":{}}`, []byte{0, 7, 1, 3, 15, 2})
	f.Fuzz(func(t *testing.T, docA string, opsA []byte, docB string, opsB []byte) {
		if len(opsA) > 96 || len(opsB) > 96 || !json.Valid([]byte(docA)) || !json.Valid([]byte(docB)) ||
			bytes.Contains([]byte(docB), []byte("SECRET")) {
			return
		}
		a, err := Parse(JSON, "application/json", []byte(docA))
		if err != nil {
			return
		}
		poolEdit(a.(*jsonDoc), opsA, func(i int) string { return "SECRET-" + strconv.Itoa(i) }, false)
		if _, err := a.Bytes(); err != nil {
			Release(a)
			return
		}
		Release(a)

		b, err := Parse(JSON, "application/json", []byte(docB))
		if err != nil {
			return
		}
		ref, _ := Parse(JSON, "application/json", []byte(docB)) // not released: fresh memory
		value := func(i int) string { return "b" + strconv.Itoa(i) }
		poolEdit(b.(*jsonDoc), opsB, value, false)
		poolEdit(ref.(*jsonDoc), opsB, value, true)
		got, gerr := b.Bytes()
		want, werr := ref.Bytes()
		if (gerr == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("B after A: pooled %s (%v), fresh %s (%v)", got, gerr, want, werr)
		}
		if bytes.Contains(got, []byte("SECRET")) {
			t.Fatalf("B's body holds A's value: %s", got)
		}
		Release(b)
	})
}

// poolEdit applies ops (three bytes each: what, path, value) to d, the new
// way or, with old, the way of json_edit_old_test.go.
func poolEdit(d *jsonDoc, ops []byte, value func(int) string, old bool) {
	for i := 0; i+2 < len(ops); i += 3 {
		path := fuzzPaths[int(ops[i+1])%len(fuzzPaths)]
		if ops[i+2]%7 == 0 {
			path += "." + strconv.Itoa(int(ops[i+2]))
		}
		val := value(i)
		switch ops[i] % 3 {
		case 0:
			if old {
				d.setOld(path, val, false)
			} else {
				d.Set(path, val)
			}
		case 1:
			if old {
				d.deleteOld(path)
			} else {
				d.Delete(path)
			}
		case 2:
			raw := `{"r":` + strconv.Quote(val) + `}`
			if old {
				d.setOld(path, raw, true)
			} else {
				d.SetRaw(path, raw)
			}
		}
	}
}
