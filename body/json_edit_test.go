package body

import (
	"encoding/json"
	"testing"
)

func TestJSONEdit(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		edits []edit
		want  string // exact bytes
	}{
		{"replace string", `{"n":"4111111111111111","x":1}`, []edit{set("n", "tok_1")}, `{"n":"tok_1","x":1}`},
		{"replace number with string", `{"n": 4111111111111111 ,"x":1}`, []edit{set("n", "tok")}, `{"n": "tok" ,"x":1}`},
		{"replace object", `{"c":{"a":1},"x":1}`, []edit{set("c", "t")}, `{"c":"t","x":1}`},
		{"escape written", `{"n":"1"}`, []edit{set("n", "q\"b\\\n\x01é")}, `{"n":"q\"b\\\n\u0001é"}`},
		{"delete first", `{"a":1,"b":2,"c":3}`, []edit{del("a")}, `{"b":2,"c":3}`},
		{"delete middle", `{"a":1,"b":2,"c":3}`, []edit{del("b")}, `{"a":1,"c":3}`},
		{"delete last", `{"a":1,"b":2,"c":3}`, []edit{del("c")}, `{"a":1,"b":2}`},
		{"delete only", `{"a":1}`, []edit{del("a")}, `{}`},
		{"delete first two", `{"a":1,"b":2,"c":3}`, []edit{del("a"), del("b")}, `{"c":3}`},
		{"delete last two", `{"a":1,"b":2,"c":3}`, []edit{del("c"), del("b")}, `{"a":1}`},
		{"delete first and last", `{"a":1,"b":2,"c":3}`, []edit{del("a"), del("c")}, `{"b":2}`},
		{"delete all", `{"a":1,"b":2,"c":3}`, []edit{del("b"), del("a"), del("c")}, `{}`},
		{"delete missing", `{"a":1}`, []edit{del("zz"), del("a.b.c")}, `{"a":1}`},
		{"delete pretty middle", "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}", []edit{del("b")}, "{\n  \"a\": 1,\n  \"c\": 3\n}"},
		{"delete pretty last", "{\n  \"a\": 1,\n  \"b\": 2\n}", []edit{del("b")}, "{\n  \"a\": 1\n}"},
		{"delete pretty first", "{\n  \"a\": 1,\n  \"b\": 2\n}", []edit{del("a")}, "{\n  \"b\": 2\n}"},
		{"delete escaped key", `{"x\"y\\":1,"b":2}`, []edit{del(`x"y\\`)}, `{"b":2}`},
		{"delete array element", `{"t":["a","b","c"]}`, []edit{del("t.1")}, `{"t":["a","c"]}`},
		{"delete array first and last", `{"t":["a","b","c"]}`, []edit{del("t.0"), del("t.2")}, `{"t":["b"]}`},
		{"delete nested and parent", `{"c":{"n":"1","v":2},"x":1}`, []edit{del("c.n"), del("c")}, `{"x":1}`},
		{"set inside deleted: outer wins", `{"c":{"n":"1"},"x":1}`, []edit{del("c"), set("c.n", "t")}, `{"x":1}`},
		{"last op wins: set after delete", `{"a":1,"b":2}`, []edit{del("a"), set("a", "t")}, `{"a":"t","b":2}`},
		{"last op wins: delete after set", `{"a":1,"b":2}`, []edit{set("a", "t"), del("a")}, `{"b":2}`},
		{"set twice", `{"a":1}`, []edit{set("a", "t1"), set("a", "t2")}, `{"a":"t2"}`},
		{"create member", `{"a":1}`, []edit{set("b", "t")}, `{"a":1,"b":"t"}`},
		{"create in empty", `{}`, []edit{set("b", "t")}, `{"b":"t"}`},
		{"create parents", `{}`, []edit{set("payment.card.cryptogram", "AAA="), set("payment.card.eci", "07")},
			`{"payment":{"card":{"cryptogram":"AAA=","eci":"07"}}}`},
		{"create under existing", `{"card": {"number": "1"} }`, []edit{set("card.cryptogram", "c"), set("card.eci", "07")},
			`{"card": {"number": "1","cryptogram":"c","eci":"07"} }`},
		{"create after deleting last", `{"c":{"a":1,"b":2}}`, []edit{del("c.b"), set("c.x", "t")}, `{"c":{"a":1,"x":"t"}}`},
		{"create after deleting all", `{"c":{"a":1,"b":2}}`, []edit{del("c.b"), del("c.a"), set("c.x", "t")}, `{"c":{"x":"t"}}`},
		{"create then delete", `{"c":{}}`, []edit{set("c.x", "t"), set("c.y", "u"), del("c.x")}, `{"c":{"y":"u"}}`},
		{"create escaped key", `{}`, []edit{set(`a\.b`, "t")}, `{"a.b":"t"}`},
		{"create replaces new leaf", `{}`, []edit{set("a", "t"), set("a.b", "u")}, `{"a":{"b":"u"}}`},
		{"sjson: array index past end", `{"t":["a"]}`, []edit{set("t.2", "c")}, `{"t":["a",null,"c"]}`},
		{"sjson: numeric new key", `{}`, []edit{set("a.0", "x")}, `{"a":["x"]}`},
		{"sjson then delete", `{}`, []edit{set("a.0", "x"), del("a.0")}, `{}`},
		{"unicode untouched", `{"u":"héllo ✓ \ud83d\ude00","n":"1"}`, []edit{set("n", "t")}, `{"u":"héllo ✓ \ud83d\ude00","n":"t"}`},
		{"root path ignored", `{"a":1}`, []edit{set("", "x"), del("")}, `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := applyEdits(t, mustJSON(t, tt.in), tt.edits)
			if string(out) != tt.want {
				t.Fatalf("got  %s\nwant %s", out, tt.want)
			}
			if !json.Valid(out) {
				t.Fatalf("invalid JSON: %s", out)
			}
		})
	}
}

// TestJSONUntouchedBytes checks that everything around the edited fields is
// byte-for-byte the input: whitespace, order, escapes, number formats.
func TestJSONUntouchedBytes(t *testing.T) {
	in := "{\n\t\"z\" : 1.50e+3 ,\"card\":{ \"number\" :\t\"4111111111111111\", \"cvc\":\"123\" },\n\"k\":\"\\u00e9\\/\" }"
	d := mustJSON(t, in)
	v := d.Find("card.number")
	d.Set(v[0].Path, "tok_abc")
	d.Delete("card.cvc")
	out, _ := d.Bytes()
	want := "{\n\t\"z\" : 1.50e+3 ,\"card\":{ \"number\" :\t\"tok_abc\" },\n\"k\":\"\\u00e9\\/\" }"
	if string(out) != want {
		t.Fatalf("got  %q\nwant %q", out, want)
	}
}
