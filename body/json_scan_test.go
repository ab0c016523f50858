package body

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestDuplicateKeys(t *testing.T) {
	tests := []struct{ in, path string }{
		{`{"card":{"number":"4111111111111111","cvc":"123","number":"4916338506082832","cvc":"456"}}`, "card.number"},
		{`{"card":{"number":"1"},"card":{"number":"5555555555554444"}}`, "card"},
		{`{"cards":[{"n":1},{"n":2,"n":3}]}`, "cards.1.n"},
		{`{"a":{"num\u0062er":"1","number":"2"}}`, "a.number"},
		{`{"a.b":1,"a\u002eb":2}`, `a\.b`},
		{`[[{"x":1}],{"y":{"z":[1,{"q":1,"q":2}]}}]`, "1.y.z.1.q"},
		{`{"card":{"number":"4111"},"other":{"number":"x"}}`, ""},
		{`{"s":"a \"quoted\" {\"k\":1,\"k\":2}","t":[]}`, ""},
		{`{"":1,"":2}`, ""},
	}
	for _, tc := range tests {
		_, err := parseJSON([]byte(tc.in))
		var de *DuplicateKeyError
		switch {
		case tc.path == "" && tc.in == `{"":1,"":2}`:
			if !errors.As(err, &de) {
				t.Errorf("%s: %v, want a duplicate", tc.in, err)
			}
		case tc.path == "":
			if err != nil {
				t.Errorf("%s: %v, want no error", tc.in, err)
			}
		case !errors.As(err, &de) || de.Path != tc.path:
			t.Errorf("%s: %v, want a duplicate at %q", tc.in, err, tc.path)
		}
	}
}

func BenchmarkFindDuplicateKey(b *testing.B) {
	body := `{"order":"o-1","amount":1999,"currency":"EUR","customer":{"id":"c_1","email":"a@example.com","address":{"line1":"1 Main St","city":"Springfield","zip":"12345"}},"payment":{"card":{"number":"4111111111111111","exp_month":"03","exp_year":"2030","cvc":"123","name":"Ada Lovelace"}},"items":[{"sku":"a","qty":1},{"sku":"b","qty":2}]}`
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if dup, _, ok := scanJSON(body, nil, nil); dup != nil || !ok {
			b.Fatal("duplicate or invalid")
		}
	}
}

// TestDuplicateKeysLargeObject: one object with many names stays linear and
// still finds a duplicate at the end.
func TestDuplicateKeysLargeObject(t *testing.T) {
	var b []byte
	b = append(b, '{')
	for i := 0; i < 200000; i++ {
		b = append(b, `"k`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `":1,`...)
	}
	b = append(b, `"k7":2}`...)
	var de *DuplicateKeyError
	if _, err := parseJSON(b); !errors.As(err, &de) || de.Path != "k7" {
		t.Fatalf("%v", err)
	}
}

// scanString must find the same end as a plain scan of a valid string,
// whatever its length and escapes.
func FuzzScanString(f *testing.F) {
	f.Add(`abc`)
	f.Add(`a\"b\\`)
	f.Add(strings.Repeat(`x\\`, 20) + `\"y`)
	f.Fuzz(func(t *testing.T, content string) {
		lit, _ := json.Marshal(content) // a valid JSON string literal
		s := string(lit) + `,"z"`
		end, esc, ok := scanString(s, 0)
		wantEsc := strings.IndexByte(string(lit), '\\') >= 0
		if end != len(lit) || esc != wantEsc || !ok {
			t.Fatalf("scanString(%s) = %d, %v, %v; want %d, %v, true", s, end, esc, ok, len(lit), wantEsc)
		}
	})
}

// FuzzScanJSON: scanJSON, which validates the body itself, accepts exactly
// what gjson.Valid (which parseJSON ran before it) accepts, and on valid
// JSON finds the same repeated name and the same texts as the scanner it
// replaced (oldScanJSON, which ran after gjson.ValidBytes).
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{
		`{"card":{"number":"4111111111111111","cvc":"123","number":"4916338506082832","cvc":"456"}}`,
		`{"cards":[{"n":1},{"n":2,"n":3}]}`, `{"a":{"num\u0062er":"1","number":"2"}}`,
		`[[{"x":1}],{"y":{"z":[1,{"q":1,"q":2}]}}]`, `{"s":"a \"quoted\" {\"k\":1,\"k\":2}","t":[]}`,
		`{"":1,"":2}`, ` 4111111111111111 `, `-0.5e+10`, `[true,false,null]`, `{"a":01}`, `{"a":1.}`,
		`{"a":"\u12G4"}`, "{\"a\":\"\x01\"}", `{"a":1,}`, `[1,]`, `{"a" 1}`, `{"a":1}}`, `{"4111111111111111":4.2e15}`,
		`{"k":1,"k":2,"x":}`, `"\/\b\f\n\r\t"`, `nul`, `tru`, `[-]`, `{"a":-01}`, `[1e5,1E-5,1e]`, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var members []member
		dup, texts, ok := scanJSON(s, nil, &members)
		if want := gjson.Valid(s); ok != want {
			t.Fatalf("scanJSON(%q) valid = %v, gjson.Valid = %v", s, ok, want)
		}
		if !ok {
			if dup != nil {
				t.Fatalf("scanJSON(%q): a duplicate reported for invalid JSON", s)
			}
			return
		}
		oldDup, oldTexts := oldScanJSON(s, nil)
		if (dup == nil) != (oldDup == nil) || dup != nil && dup.Path != oldDup.Path {
			t.Fatalf("scanJSON(%q) duplicate %v, was %v", s, dup, oldDup)
		}
		if dup == nil && !slices.Equal(texts, oldTexts) {
			t.Fatalf("scanJSON(%q) texts %+v, were %+v", s, texts, oldTexts)
		}
		// The top-level object's members: gjson's, in order, and where
		// gjson.Get places each (what jsonDoc.lookup asked it before).
		var want []member
		if root := gjson.Parse(s); root.IsObject() {
			root.ForEach(func(k, v gjson.Result) bool {
				want = append(want, member{key: k.Str, loc: loc{start: v.Index, end: v.Index + len(v.Raw), typ: v.Type}})
				return true
			})
		}
		if !slices.Equal(members, want) {
			t.Fatalf("scanJSON(%q) members %+v, gjson's %+v", s, members, want)
		}
		if dup != nil {
			return
		}
		for _, m := range members {
			if !isPlainPath(m.key) || strings.ContainsAny(m.key, ".\\") {
				// lookup asks gjson for these, as before; a name with a dot
				// is not one segment (a path "0.0" is member "0" of member
				// "0"), so it never reaches the member table as a whole.
				continue
			}
			r := gjson.Get(s, m.key)
			if r.Index != m.start || r.Raw != s[m.start:m.end] || r.Type != m.typ {
				t.Fatalf("scanJSON(%q) member %q at %+v, gjson.Get's %d %q %v", s, m.key, m.loc, r.Index, r.Raw, r.Type)
			}
		}
	})
}

// FuzzTopLookup: jsonDoc.lookup answers a path from the member table
// scanJSON noted exactly as it did before, walking the body with gjson (a
// doc without the table): found or not, at the same place.
func FuzzTopLookup(f *testing.F) {
	f.Add(`{"payment":{"card":{"number":"4111111111111111"}},"x":1}`, "payment")
	f.Add(`{"payment":{"card":{"number":"4111111111111111"}},"x":1}`, "payment.card.number")
	f.Add(`{"0":1,"a b":[1,2]}`, "0")
	f.Add(`{"a\u0062":1}`, "ab")
	f.Add(`{"ab":1}`, "a?")
	f.Add(`{"a.b":1}`, `a\.b`)
	f.Add(`[{"a":1}]`, "0.a")
	f.Fuzz(func(t *testing.T, s, path string) {
		d, err := parseJSON([]byte(s))
		if err != nil {
			return
		}
		defer Release(d)
		old := &jsonDoc{data: d.data, s: d.s} // no member table: the walk
		got, ok := d.lookup(path)
		want, wantOK := old.lookup(path)
		if ok != wantOK || got != want {
			t.Fatalf("lookup(%q) in %q: %+v %v, without the member table %+v %v", path, s, got, ok, want, wantOK)
		}
	})
}
