package tokenize_test

import (
	"context"
	"testing"

	"github.com/tokengate/tokengate/body"
)

// A stored card's record must not share the request body's memory: a cached
// record would keep the whole body, card numbers and all, alive. Overwriting
// the body after Apply must leave the record as it was.
func TestStoredRecordDoesNotHoldTheBody(t *testing.T) {
	e := newEnv(t)
	set := cardSet(t, tenantA)
	raw := []byte(cardJSON("4111111111111111", "123", "12", "2030"))
	doc, err := body.Parse(body.JSON, "application/json", raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tk.Apply(context.Background(), set, body.JSON, doc); err != nil {
		t.Fatal(err)
	}
	out, err := doc.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	tok := findString(t, out, "card.number")
	for i := range raw {
		raw[i] = 'x'
	}
	rec, err := e.shortLived.Get(context.Background(), tenantA, tok)
	if err != nil {
		t.Fatal(err)
	}
	if rec.BIN != "411111" || rec.Last4 != "1111" || rec.ExpMonth != "12" || rec.ExpYear != "2030" {
		t.Fatalf("record changed with the body: %+v", rec)
	}
}

func mustParse(t *testing.T, b []byte) body.Doc {
	t.Helper()
	d, err := body.Parse(body.JSON, "application/json", b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func findString(t *testing.T, b []byte, path string) string {
	t.Helper()
	vs := mustParse(t, b).Find(path)
	if len(vs) != 1 {
		t.Fatalf("%s: %d values", path, len(vs))
	}
	return vs[0].Raw
}
