package tokenize

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
)

// collectFields are a checkout's fields and a bulk body's (bench/run's
// rules), with a kept CVV and a consent field: one card, several, and
// fields without a card number.
var collectFields = [][]rules.Field{{
	{Kind: rules.KindPAN, JSON: "payment.card.number", Form: "card_number"},
	{Kind: rules.KindCVV, JSON: "payment.card.cvc", Form: "card_cvc"},
	{Kind: rules.KindExpMonth, JSON: "payment.card.exp_month", Form: "card_exp_month"},
	{Kind: rules.KindExpYear, JSON: "payment.card.exp_year", Form: "card_exp_year"},
	{Kind: rules.KindName, JSON: "payment.card.name", Form: "card_name"},
	{Kind: rules.KindConsent, JSON: "payment.consent", Form: "consent"},
}, {
	{Kind: rules.KindPAN, JSON: "cards.#.number", Form: "number"},
	{Kind: rules.KindCVV, JSON: "cards.#.cvc", Form: "cvc", Keep: true},
	{Kind: rules.KindExpMonth, JSON: "cards.#.exp_month", Form: "exp_month"},
	{Kind: rules.KindName, JSON: "cards.#.name"},
}}

// FuzzCollectAgainstOld checks that collect finds the same cards, in the
// same order, with the same fields, and fails alike, as collectOld.
func FuzzCollectAgainstOld(f *testing.F) {
	for _, seed := range []string{
		`{"payment":{"card":{"number":"4242424242424242","cvc":"123","exp_month":"12","exp_year":"2030","name":"A B"},"consent":true}}`,
		`{"payment":{"card":{"cvc":"123"}}}`,
		`{"cards":[{"number":"4111111111111111","cvc":"1"},{"number":"5555555555554444"},{"cvc":"9"}]}`,
		`{"cards":[{"cvc":""},{"number":"1"}]}`,
		`card_number=4242424242424242&card_cvc=123&card_exp_month=12`,
		`number=4111111111111111&number=5555555555554444&cvc=123`,
		`number=4111111111111111&cvc=1&number=5555555555554444&cvc=2&exp_month=1`,
		`card_cvc=123`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, kind := range []body.Kind{body.JSON, body.Form} {
			for _, fields := range collectFields {
				oldDoc, err := body.Parse(kind, "", []byte(in))
				if err != nil {
					continue
				}
				newDoc, err := body.Parse(kind, "", []byte(in))
				if err != nil {
					t.Fatalf("parsed once, not twice: %v", err)
				}
				want, wantErr := collectOld(fields, kind, oldDoc)
				got, gotErr := collect(fields, kind, newDoc)
				if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) && !oldCanFail(fields, kind, in, gotErr) {
					t.Fatalf("%v %q: error %v, old %v", kind, in, gotErr, wantErr)
				}
				if len(got) != len(want) {
					t.Fatalf("%v %q: %d cards, old %d", kind, in, len(got), len(want))
				}
				for i := range got {
					if g, w := cardView(got[i]), cardView(want[i]); !reflect.DeepEqual(g, w) {
						t.Fatalf("%v %q: card %d\n got %+v\nwant %+v", kind, in, i, g, w)
					}
				}
			}
		}
	})
}

// oldCanFail reports whether collectOld fails with err on in, in one of
// 100 tries: with several groups lacking a card number, which one the old
// code names follows the map's iteration order, at random; collect names
// the first in body order, one of the old code's possible answers.
func oldCanFail(fields []rules.Field, kind body.Kind, in string, err error) bool {
	if err == nil {
		return false
	}
	for range 100 {
		doc, perr := body.Parse(kind, "", []byte(in))
		if perr != nil {
			return false
		}
		if _, oldErr := collectOld(fields, kind, doc); fmt.Sprint(oldErr) == fmt.Sprint(err) {
			return true
		}
	}
	return false
}

// cardView is what collect decides about a card: its group and each
// field found, by value (the pointers differ between two runs).
func cardView(c *cardInput) []any {
	val := func(v *body.Value) any {
		if v == nil {
			return nil
		}
		return *v
	}
	return []any{c.group, c.keepCVV, val(c.pan), val(c.cvv), val(c.expMonth), val(c.expYear), val(c.name), val(c.consent)}
}

// A checkout's one card costs one allocation in collect (the card, the
// slice that returns it, and the values each field's Find returns), where
// the old code took three.
func TestCollectOneCardOneAllocation(t *testing.T) {
	raw := []byte(`{"payment":{"card":{"number":"4242424242424242","cvc":"123","exp_month":"12","exp_year":"2030","name":"A B"}}}`)
	doc, err := body.Parse(body.JSON, "", raw)
	if err != nil {
		t.Fatal(err)
	}
	fields := collectFields[0]
	collect(fields, body.JSON, doc) // the document's lookups cached
	oldAllocs := testing.AllocsPerRun(100, func() { _, _ = collectOld(fields, body.JSON, doc) })
	allocs := testing.AllocsPerRun(100, func() { _, _ = collect(fields, body.JSON, doc) })
	// collectOld shares hold, which gives its card a second allocation
	// (the values dropped once stored) since the sixth pass: 4, then 3.
	if allocs != 1 || oldAllocs < 3 {
		t.Fatalf("collect: %v allocations, collectOld %v: want one, two fewer", allocs, oldAllocs)
	}
}

// FuzzGroupLessAgainstOld checks that groupLess orders any two groups as
// groupLessOld does, malformed ones included.
func FuzzGroupLessAgainstOld(f *testing.F) {
	for _, seed := range [][2]string{{"2", "10"}, {"0.10", "0.9"}, {"1", "1.0"}, {"1.0", "1"}, {"", "0"}, {"a.1", "0.2"}, {"1..2", "1.0.1"}, {"99999999999999999999", "1"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := groupLess(a, b), groupLessOld(a, b); got != want {
			t.Fatalf("groupLess(%q, %q) = %v, old %v", a, b, got, want)
		}
	})
}

// Ordering a bulk body's groups allocates nothing.
func TestGroupLessAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { groupLess("0.123", "0.124") }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
