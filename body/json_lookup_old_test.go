package body

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// lookupOld and placeOld are lookup and place as they were before place
// kept only objects and arrays in the path map (issue 20, sixth pass):
// every value found was kept. Kept for FuzzJSONLookupAgainstOld.
func (d *jsonDoc) lookupOld(path string) (loc, bool) {
	if l, ok := d.locs[path]; ok {
		return l, true
	}
	if path == "" {
		return d.root()
	}
	if !isPlainPath(path) {
		return d.placeOld(0, gjson.Get(d.s, path), path)
	}
	dot := lastDot(path)
	parent, seg := "", path
	if dot >= 0 {
		parent, seg = path[:dot], path[dot+1:]
	}
	if parent == "" && len(d.top) > 0 && strings.IndexByte(seg, '\\') < 0 {
		for _, m := range d.top {
			if m.key == seg {
				d.remember(path, m.loc)
				return m.loc, true
			}
		}
		return loc{}, false
	}
	p, ok := d.lookupOld(parent)
	if !ok || p.typ != gjson.JSON {
		return loc{}, false
	}
	return d.placeOld(p.start, gjson.Get(d.s[p.start:p.end], seg), path)
}

func (d *jsonDoc) placeOld(base int, r gjson.Result, path string) (loc, bool) {
	if !r.Exists() || r.Index <= 0 {
		return loc{}, false
	}
	start := base + r.Index
	end := start + len(r.Raw)
	if end > len(d.s) || d.s[start:end] != r.Raw {
		return loc{}, false
	}
	l := loc{start: start, end: end, typ: r.Type}
	d.remember(path, l)
	return l, true
}

// lookupPaths are what FuzzJSONLookupAgainstOld looks up: fuzzPaths, a
// bulk body's fields, and paths below leaves.
var lookupPaths = append([]string{"cards", "cards.0", "cards.1.number", "cards.2.cvc", "cards.0.number.x", "a.x.y.z",
	"n.0", "arr.0.k.0", `a\.b.c`, "a.x\\", "cards.#.number"}, fuzzPaths...)

// FuzzJSONLookupAgainstOld looks fuzzed paths up, in a fuzzed order and
// after a Find of a bulk body's fields (as the tokenizer does, then edits),
// with lookup and with lookupOld on two docs of the same body, and requires
// the same place for every one, asked once or again.
func FuzzJSONLookupAgainstOld(f *testing.F) {
	f.Add(`{"cards":[{"number":"4111","cvc":"1"},{"number":"5555","cvc":"22"},{"cvc":"3"}]}`, []byte{0, 1, 2, 3, 2, 1, 0, 4})
	f.Add(`{"a":{"x":{"y":1}},"arr":[{"k":[1]}],"n":[7],"a.b":{"c":2}}`, []byte{5, 6, 7, 8, 9, 10, 11, 12, 13, 5, 6})
	f.Add(`[1,{"a":2}]`, []byte{0, 1, 2, 3, 0, 4})
	f.Fuzz(func(t *testing.T, doc string, picks []byte) {
		if len(picks) > 64 || !json.Valid([]byte(doc)) {
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
		if len(picks) > 0 && picks[0]%2 == 0 {
			for _, sel := range []string{"cards.#.number", "cards.#.cvc"} {
				n.Find(sel)
				o.Find(sel)
			}
		}
		for i, p := range picks {
			path := lookupPaths[int(p)%len(lookupPaths)]
			if p%5 == 0 {
				path += "." + strconv.Itoa(i%4)
			}
			gl, gok := n.lookup(path)
			wl, wok := o.lookupOld(path)
			if gl != wl || gok != wok {
				t.Fatalf("%s: lookup(%q) = %+v %v, old %+v %v", doc, path, gl, gok, wl, wok)
			}
		}
	})
}

// A bulk body's Find and edits keep only its objects and arrays in the path
// map: one entry per card, not one per field.
func TestLookupKeepsOnlyContainers(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"cards":[`)
	for i := range 100 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"number":"4111111111111111","cvc":"123","exp_month":"01"}`)
	}
	b.WriteString(`]}`)
	doc, err := Parse(JSON, "application/json", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer Release(doc)
	d := doc.(*jsonDoc)
	for _, sel := range []string{"cards.#.number", "cards.#.cvc", "cards.#.exp_month"} {
		for _, v := range d.Find(sel) {
			d.Set(v.Path, "tok")
		}
	}
	if len(d.locs) > 101 {
		t.Fatalf("the path map holds %d entries for 100 cards", len(d.locs))
	}
	out, err := d.Bytes()
	if err != nil || strings.Count(string(out), `"tok"`) != 300 {
		t.Fatalf("%v: %s", err, out)
	}
}
