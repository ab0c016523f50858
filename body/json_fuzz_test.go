package body

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// fuzzNode is an addressable value of a fuzzed document.
type fuzzNode struct {
	path  string // gjson path
	steps []any  // the same path for the model: string keys, int indexes
	obj   bool
}

// gjsonEscape escapes every byte gjson paths treat specially.
func gjsonEscape(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// collect lists the values below r; simple is cleared when the document has
// keys the model cannot mirror exactly (duplicates, escapes, non-ASCII).
func collect(r gjson.Result, path string, steps []any, out *[]fuzzNode, simple *bool) {
	if !r.IsObject() && !r.IsArray() {
		return
	}
	seen := map[string]bool{}
	i := 0
	r.ForEach(func(k, v gjson.Result) bool {
		var seg string
		var step any
		if r.IsObject() {
			if k.Str == "" || seen[k.Str] || strings.ContainsAny(k.Raw, "\\") {
				*simple = false
				return true
			}
			for j := 0; j < len(k.Str); j++ {
				if k.Str[j] < 0x20 || k.Str[j] >= 0x80 {
					*simple = false
				}
			}
			seen[k.Str] = true
			seg, step = gjsonEscape(k.Str), k.Str
		} else {
			seg, step = strconv.Itoa(i), i
		}
		i++
		p := joinPath(path, seg)
		s := append(slices.Clone(steps), step)
		*out = append(*out, fuzzNode{path: p, steps: s, obj: v.IsObject()})
		collect(v, p, s, out, simple)
		return true
	})
}

// fuzzOp is an edit as the model sees it.
type fuzzOp struct {
	steps []any
	del   bool
	val   string
}

type deletedMarker struct{}

func hasPrefix(steps, prefix []any) bool {
	return len(prefix) <= len(steps) && reflect.DeepEqual(steps[:len(prefix)], prefix)
}

// modelApply applies the final op of each path, outermost first, skipping
// ops nested under another op: the documented semantics of Doc.
func modelApply(t *testing.T, doc any, ops []fuzzOp) any {
	final := map[string]fuzzOp{}
	var order []string
	for _, op := range ops {
		k := stepsKey(op.steps)
		if _, ok := final[k]; !ok {
			order = append(order, k)
		}
		final[k] = op
	}
	var kept []fuzzOp
	for _, k := range order {
		op := final[k]
		nested := false
		for _, k2 := range order {
			o2 := final[k2]
			if len(o2.steps) < len(op.steps) && hasPrefix(op.steps, o2.steps) {
				nested = true
			}
		}
		if !nested {
			kept = append(kept, op)
		}
	}
	root := &doc
	for _, op := range kept {
		parent := *root
		for _, s := range op.steps[:len(op.steps)-1] {
			switch p := parent.(type) {
			case map[string]any:
				parent = p[s.(string)]
			case []any:
				parent = p[s.(int)]
			}
		}
		last := op.steps[len(op.steps)-1]
		var v any = op.val
		if op.del {
			v = deletedMarker{}
		}
		switch p := parent.(type) {
		case map[string]any:
			if op.del {
				delete(p, last.(string))
			} else {
				p[last.(string)] = v
			}
		case []any:
			p[last.(int)] = v
		default:
			t.Fatalf("model: parent of %v is %T", op.steps, parent)
		}
	}
	return sweep(doc)
}

// sweep removes deleted array elements.
func sweep(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = sweep(e)
		}
	case []any:
		out := x[:0]
		for _, e := range x {
			if _, ok := e.(deletedMarker); !ok {
				out = append(out, sweep(e))
			}
		}
		return out
	}
	return v
}

func stepsKey(steps []any) string {
	b, _ := json.Marshal(steps)
	return string(b)
}

var fuzzValues = []string{"tok_1", "a\"b\\c\n\t", "é✓😀", "<&>", "", "4111111111111111"}

// FuzzJSONEdit applies random Sets and Deletes to random valid JSON: the
// result must be valid JSON, and mean what a simple model says it should.
func FuzzJSONEdit(f *testing.F) {
	f.Add(`{"a":1,"b":[1,2,{"c":"d"}],"e":{}}`, []byte{0, 1, 1, 2, 2, 0, 1, 5})
	f.Add(`{"cards":[{"number":"4111","cvc":"1"},{"number":"4242","cvc":"2"}]}`, []byte{1, 2, 1, 5, 0, 3, 2, 4, 1, 1})
	f.Add("[ 1 , [ ] , { \"x\" : { } } ]", []byte{2, 3, 1, 0, 1, 1, 1, 2})
	f.Add("{\n  \"a\": {\n    \"b\": 1,\n    \"c\": 2\n  },\n  \"d\": 3\n}", []byte{1, 1, 1, 2, 1, 0, 2, 0, 2, 0})
	f.Fuzz(func(t *testing.T, doc string, ops []byte) {
		if !json.Valid([]byte(doc)) || len(ops) > 64 {
			return
		}
		d, err := Parse(JSON, "application/json", []byte(doc))
		if err != nil {
			return // gjson and encoding/json disagree on validity: not ours
		}
		var nodes []fuzzNode
		simple := true
		root := gjson.Parse(doc)
		collect(root, "", nil, &nodes, &simple)
		var objects []fuzzNode
		if root.IsObject() {
			objects = append(objects, fuzzNode{obj: true})
		}
		for _, n := range nodes {
			if n.obj {
				objects = append(objects, n)
			}
		}
		var model []fuzzOp
		var edits []func(Doc) // replayed on a second doc that streams first
		for i := 0; i+1 < len(ops); i += 2 {
			val := fuzzValues[int(ops[i+1])%len(fuzzValues)]
			switch ops[i] % 3 {
			case 0, 1:
				if len(nodes) == 0 {
					continue
				}
				n := nodes[int(ops[i+1])%len(nodes)]
				if ops[i]%3 == 0 {
					d.Set(n.path, val)
					edits = append(edits, func(d Doc) { d.Set(n.path, val) })
					model = append(model, fuzzOp{steps: n.steps, val: val})
				} else {
					d.Delete(n.path)
					edits = append(edits, func(d Doc) { d.Delete(n.path) })
					model = append(model, fuzzOp{steps: n.steps, del: true})
				}
			case 2:
				if len(objects) == 0 {
					continue
				}
				n := objects[int(ops[i+1])%len(objects)]
				key := "new_" + strconv.Itoa(int(ops[i+1])%3)
				d.Set(joinPath(n.path, key), val)
				edits = append(edits, func(d Doc) { d.Set(joinPath(n.path, key), val) })
				model = append(model, fuzzOp{steps: append(slices.Clone(n.steps), key), val: val})
			}
		}
		out, err := d.Bytes()
		if err != nil {
			t.Fatalf("Bytes: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON\n in: %s\nout: %s", doc, out)
		}
		if open, size, ok := Stream(d); ok {
			streamed, err := io.ReadAll(open())
			if err != nil || !bytes.Equal(streamed, out) || size != int64(len(out)) {
				t.Fatalf("Stream differs from Bytes\n in: %s\nout: %s\nstreamed (%d): %s", doc, out, size, streamed)
			}
		}
		Release(d)
		// Streamed without a Bytes before it, as the tokenize handler does
		// when no stray was rewritten, from a doc the pool handed back.
		d2, err := Parse(JSON, "application/json", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range edits {
			e(d2)
		}
		if open, size, ok := Stream(d2); ok {
			Release(d2)
			streamed, err := io.ReadAll(open())
			if err != nil || !bytes.Equal(streamed, out) || size != int64(len(out)) {
				t.Fatalf("Stream (first) differs from Bytes\n in: %s\nout: %s\nstreamed (%d): %s", doc, out, size, streamed)
			}
		} else {
			Release(d2)
		}
		if !simple {
			return
		}
		// Numbers are compared as written (json.Number): a float64 cannot
		// hold 1E1000, which is valid JSON.
		var want, got any
		if err := decodeNumbers([]byte(doc), &want); err != nil {
			t.Fatal(err)
		}
		want = modelApply(t, want, model)
		if err := decodeNumbers(out, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("mismatch\n in: %s\nout: %s\nwant: %v\n got: %v", doc, out, want, got)
		}
	})
}

// decodeNumbers is json.Unmarshal keeping numbers as json.Number.
func decodeNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}
