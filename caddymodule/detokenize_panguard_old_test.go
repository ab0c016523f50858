package caddymodule

import (
	"strings"
	"testing"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/panguard"
	"github.com/tokengate/tokengate/rules"
)

// The outbound PAN guard's look at a body as it was before docPAN read
// the texts as a list and kept the token paths in a slice, kept to fuzz
// the new one against (FuzzDocPANAgainstOld).

func docPANOld(set *rules.Outbound, kind body.Kind, doc body.Doc) (string, bool) {
	return docPANSkipOld(doc, tokenPathsOld(set, kind, doc))
}

// tokenPathsOld are the concrete paths of the rule set's token fields in doc:
// their values are the merchant's tokens (a network token, under the
// network_token token format, is a card number), so the guard skips them.
func tokenPathsOld(set *rules.Outbound, kind body.Kind, doc body.Doc) map[string]bool {
	paths := map[string]bool{}
	for _, f := range set.Fields {
		if f.Kind != rules.KindToken {
			continue
		}
		sel := f.Form
		if kind == body.JSON {
			sel = f.JSON
		}
		if sel == "" {
			continue
		}
		for _, v := range doc.Find(sel) {
			paths[v.Path] = true
		}
	}
	return paths
}

// docPANSkipOld returns the path of the first text of doc, but the values at skip,
// that holds a card number as a lenient reader reads it.
func docPANSkipOld(doc body.Doc, skip map[string]bool) (string, bool) {
	place, found := "", false
	doc.Texts(func(t body.Text) {
		if found || !t.Name && skip[t.Path] {
			return
		}
		if panguard.HasNumber(t.Text) {
			place, found = panguard.SafeName(t.Path), true
		}
	})
	return place, found
}

// fuzzTokenFields are the token fields FuzzDocPANAgainstOld's rule sets
// pick from: plain paths, "#" over arrays, form names, and an expiry field
// (not a token: never skipped).
var fuzzTokenFields = []rules.Field{
	{Kind: rules.KindToken, JSON: "card.number", Form: "card_number"},
	{Kind: rules.KindToken, JSON: "cards.#.number", Form: "number"},
	{Kind: rules.KindToken, JSON: "n", Form: "n"},
	{Kind: rules.KindToken, JSON: "a.#.b.#.c", Form: "a"},
	{Kind: rules.KindExpYear, JSON: "card.exp_year", Form: "exp"},
	{Kind: rules.KindToken, JSON: "", Form: ""},
}

// FuzzDocPANAgainstOld: for fuzzed JSON and form bodies and rule sets of
// fuzzed token fields, docPAN finds what the old way found (the same
// place, or none), be the token fields' values many (a map) or few.
func FuzzDocPANAgainstOld(f *testing.F) {
	f.Add([]byte(`{"card":{"number":"4111111111111111"},"note":"4242 4242 4242 4242"}`), uint8(1), true)
	f.Add([]byte(`{"cards":[{"number":"4111111111111111"},{"number":"5555555555554444","x":"4000056655665556"}]}`), uint8(2), true)
	f.Add([]byte(`card_number=4111111111111111&n=4242424242424242&note=5555555555554444`), uint8(5), false)
	f.Add([]byte(`{"4111111111111111":1,"n":"4111111111111111"}`), uint8(4), true)
	// More token values than maxSkipList: skipped by a map.
	many := `{"cards":[` + strings.Repeat(`{"number":"4111111111111111"},`, maxSkipList+2) + `{"x":"4242424242424242"}]}`
	f.Add([]byte(many), uint8(2), true)
	f.Fuzz(func(t *testing.T, raw []byte, fields uint8, isJSON bool) {
		kind, ct := body.Form, "application/x-www-form-urlencoded"
		if isJSON {
			kind, ct = body.JSON, "application/json"
		}
		set := &rules.Outbound{Name: "psp"}
		for i, fl := range fuzzTokenFields {
			if fields&(1<<i) != 0 {
				set.Fields = append(set.Fields, fl)
			}
		}
		doc, err := body.Parse(kind, ct, raw)
		if err != nil {
			return
		}
		defer body.Release(doc)
		gp, gf := docPAN(set, kind, doc)
		wp, wf := docPANOld(set, kind, doc)
		if gp != wp || gf != wf {
			t.Fatalf("%q (fields %b): %q %v, the old way %q %v", raw, fields, gp, gf, wp, wf)
		}
	})
}
