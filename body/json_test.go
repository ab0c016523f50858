package body

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// edit is one Set (del false) or Delete on a document.
type edit struct {
	path, value string
	del         bool
}

func set(path, value string) edit { return edit{path: path, value: value} }
func del(path string) edit        { return edit{path: path, del: true} }

func applyEdits(t testing.TB, d Doc, edits []edit) []byte {
	t.Helper()
	for _, e := range edits {
		if e.del {
			d.Delete(e.path)
		} else {
			d.Set(e.path, e.value)
		}
	}
	out, err := d.Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	return out
}

func mustJSON(t testing.TB, data string) Doc {
	t.Helper()
	d, err := Parse(JSON, "application/json", []byte(data))
	if err != nil {
		t.Fatalf("Parse(%q): %v", data, err)
	}
	return d
}

// sameJSON compares two documents by meaning.
func sameJSON(t testing.TB, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("result is not valid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestJSONFind(t *testing.T) {
	doc := `{
  "card": {"number": "4111111111111111", "cvc": 123, "exp": {"m": "12", "y": "2030"}},
  "cards": [{"number": "4242424242424242"}, {"name": "no number"}, {"number": 5555555555554444}],
  "orders": [
    {"cards": [{"number": "1"}, {"number": "2"}]},
    {"cards": []},
    {"cards": [{"number": "3"}]}
  ],
  "esc": "a\"b\\c\u00e9\n",
  "uni": "héllo ✓",
  "tags": ["x", "y"],
  "nil": null,
  "a.b": {"c": "dotted"}
}`
	d := mustJSON(t, doc)
	tests := []struct {
		sel  string
		want []Value
	}{
		{"card.number", []Value{{Path: "card.number", Raw: "4111111111111111", IsString: true}}},
		{"card.cvc", []Value{{Path: "card.cvc", Raw: "123"}}},
		{"card.exp.m", []Value{{Path: "card.exp.m", Raw: "12", IsString: true}}},
		{"card.missing", nil},
		{"missing.deep.path", nil},
		{"cards.#.number", []Value{
			{Path: "cards.0.number", Group: "0", Raw: "4242424242424242", IsString: true},
			{Path: "cards.2.number", Group: "2", Raw: "5555555555554444"},
		}},
		{"orders.#.cards.#.number", []Value{
			{Path: "orders.0.cards.0.number", Group: "0.0", Raw: "1", IsString: true},
			{Path: "orders.0.cards.1.number", Group: "0.1", Raw: "2", IsString: true},
			{Path: "orders.2.cards.0.number", Group: "2.0", Raw: "3", IsString: true},
		}},
		{"tags.#", []Value{
			{Path: "tags.0", Group: "0", Raw: "x", IsString: true},
			{Path: "tags.1", Group: "1", Raw: "y", IsString: true},
		}},
		{"card.#.number", nil}, // # on an object matches nothing
		{"esc", []Value{{Path: "esc", Raw: "a\"b\\c\u00e9\n", IsString: true}}},
		{"uni", []Value{{Path: "uni", Raw: "héllo ✓", IsString: true}}},
		{"nil", []Value{{Path: "nil", Raw: "null"}}},
		{`a\.b.c`, []Value{{Path: `a\.b.c`, Raw: "dotted", IsString: true}}},
		{"cards.1", []Value{{Path: "cards.1", Raw: `{"name": "no number"}`}}},
		{"cards.#(number==\"4242424242424242\").number", []Value{
			{Path: "cards.#(number==\"4242424242424242\").number", Raw: "4242424242424242", IsString: true},
		}},
		{"cards.#.@reverse", nil}, // not in the body: cannot be edited, not returned
	}
	for _, tt := range tests {
		got := d.Find(tt.sel)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Find(%q)\n got %+v\nwant %+v", tt.sel, got, tt.want)
		}
	}
}

func TestJSONFindRootArray(t *testing.T) {
	d := mustJSON(t, ` [{"n":"1"},{"n":"2"}] `)
	got := d.Find("#.n")
	want := []Value{{Path: "0.n", Group: "0", Raw: "1", IsString: true}, {Path: "1.n", Group: "1", Raw: "2", IsString: true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	sameJSON(t, applyEdits(t, d, []edit{set("1.n", "tok"), del("0.n")}), `[{},{"n":"tok"}]`)
}

func TestJSONNoEditsReturnsInput(t *testing.T) {
	in := []byte(`{"a": 1}`)
	d, _ := Parse(JSON, "", in)
	d.Find("a")
	out, _ := d.Bytes()
	if &out[0] != &in[0] {
		t.Fatal("Bytes copied an unedited body")
	}
}

func TestJSONBytesTwice(t *testing.T) {
	d := mustJSON(t, `{"a":{"n":"1"},"b":2}`)
	d.Set("a.n", "t")
	d.Set("a.x", "y")
	d.Delete("b")
	one, _ := d.Bytes()
	two, _ := d.Bytes()
	if string(one) != string(two) || string(one) != `{"a":{"n":"t","x":"y"}}` {
		t.Fatalf("%s != %s", one, two)
	}
}

func TestJSONInvalid(t *testing.T) {
	for _, in := range []string{``, `{"number":"4111111111111111"`, `{"a":1,}`, `nope 4111111111111111`} {
		_, err := Parse(JSON, "application/json", []byte(in))
		if err == nil || err.Error() != "body is not valid JSON" {
			t.Errorf("Parse(%q) error = %v", in, err)
		}
		if err != nil && strings.Contains(err.Error(), "4111") {
			t.Errorf("error echoes the body: %v", err)
		}
	}
}

// TestJSONManyCards edits every card of a large array, as the tokenizer
// does, and checks the result against encoding/json.
func TestJSONManyCards(t *testing.T) {
	in := cardsJSON(50, 0)
	d := mustJSON(t, string(in))
	for _, v := range d.Find("cards.#.number") {
		d.Set(v.Path, "tok_"+v.Group)
	}
	for _, v := range d.Find("cards.#.cvc") {
		d.Delete(v.Path)
	}
	d.Set("cards.7.cryptogram", "cg")
	out, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Cards []map[string]any `json:"cards"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Cards) != 50 {
		t.Fatalf("%d cards", len(got.Cards))
	}
	for i, c := range got.Cards {
		if c["number"] != "tok_"+itoa(i) {
			t.Fatalf("card %d number %v", i, c["number"])
		}
		if _, ok := c["cvc"]; ok {
			t.Fatalf("card %d kept its cvc", i)
		}
		if (c["cryptogram"] == "cg") != (i == 7) {
			t.Fatalf("card %d cryptogram %v", i, c["cryptogram"])
		}
	}
}
