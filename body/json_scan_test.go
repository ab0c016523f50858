package body

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
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
		if dup, _ := scanJSON(body, nil); dup != nil {
			b.Fatal("duplicate")
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

// stringEnd must find the same end as a plain scan of the string, whatever
// its length and escapes (its first bytes are read one by one, the rest
// with IndexByte).
func FuzzStringEnd(f *testing.F) {
	f.Add(`abc`)
	f.Add(`a\"b\\`)
	f.Add(strings.Repeat(`x\\`, 20) + `\"y`)
	f.Fuzz(func(t *testing.T, content string) {
		lit, _ := json.Marshal(content) // a valid JSON string literal
		s := string(lit) + `,"z"`
		end, esc := stringEnd(s, 0)
		wantEsc := strings.IndexByte(string(lit), '\\') >= 0
		if end != len(lit) || esc != wantEsc {
			t.Fatalf("stringEnd(%s) = %d, %v; want %d, %v", s, end, esc, len(lit), wantEsc)
		}
	})
}
