package tokenize

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tokengate/tokengate/body"
)

// TestReleasedCardIsZeroed: the card releaseCards gives back to the pool
// keeps no text of the body (number, CVV, expiry, name), and a checkout's
// collect then takes no allocation.
func TestReleasedCardIsZeroed(t *testing.T) {
	raw := []byte(`{"payment":{"card":{"number":"4242424242424242","cvc":"123","exp_month":"12","exp_year":"2030","name":"A B"}}}`)
	doc, err := body.Parse(body.JSON, "", raw)
	if err != nil {
		t.Fatal(err)
	}
	cards, err := collect(collectFields[0], body.JSON, doc)
	if err != nil || len(cards) != 1 || cards[0].first == nil {
		t.Fatalf("collect: %d cards, %v", len(cards), err)
	}
	if err := cards[0].validate(time.Now()); err != nil || cards[0].number == "" {
		t.Fatalf("validate: %v", err)
	}
	pooled := cards[0].first
	releaseCards(cards)
	if !reflect.ValueOf(*pooled).IsZero() {
		t.Fatalf("released card holds %+v", *pooled)
	}
	allocs := testing.AllocsPerRun(100, func() {
		cards, _ := collect(collectFields[0], body.JSON, doc)
		releaseCards(cards)
	})
	if allocs != 0 {
		t.Fatalf("collect and release: %v allocations, want none", allocs)
	}
}

// FuzzCollectPoolCrossTalk collects body A's cards, releases them, then
// collects body B's on the card the pool hands back: B's cards must be
// what collectOld finds in B, with nothing of A's (a CVV, an expiry, a
// name of another customer's card left in a field B does not have).
func FuzzCollectPoolCrossTalk(f *testing.F) {
	f.Add(`{"payment":{"card":{"number":"4242424242424242","cvc":"123","exp_month":"12","exp_year":"2030","name":"A B"},"consent":true}}`,
		`{"payment":{"card":{"number":"4111111111111111"}}}`)
	f.Add(`card_number=4242424242424242&card_cvc=123&card_exp_month=12&card_name=A`, `card_number=5555555555554444`)
	f.Add(`{"cards":[{"number":"4111111111111111","cvc":"1"},{"number":"5555555555554444"}]}`, `{"cards":[{"number":"1"}]}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, kind := range []body.Kind{body.JSON, body.Form} {
			for _, fields := range collectFields {
				docA, err := body.Parse(kind, "", []byte(a))
				if err != nil {
					continue
				}
				if cards, err := collect(fields, kind, docA); err == nil {
					releaseCards(cards)
				}
				docB, err := body.Parse(kind, "", []byte(b))
				if err != nil {
					continue
				}
				oldB, _ := body.Parse(kind, "", []byte(b))
				got, gotErr := collect(fields, kind, docB)
				want, wantErr := collectOld(fields, kind, oldB)
				if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) && !oldCanFail(fields, kind, b, gotErr) {
					t.Fatalf("%v %q after %q: error %v, old %v", kind, b, a, gotErr, wantErr)
				}
				if len(got) != len(want) {
					t.Fatalf("%v %q after %q: %d cards, old %d", kind, b, a, len(got), len(want))
				}
				for i := range got {
					if g, w := cardView(got[i]), cardView(want[i]); !reflect.DeepEqual(g, w) {
						t.Fatalf("%v %q after %q: card %d\n got %+v\nwant %+v", kind, b, a, i, g, w)
					}
					if got[i].number != "" || got[i].brand != "" || got[i].address != (want[i].address) || got[i].customerID != "" {
						t.Fatalf("%v %q after %q: card %d keeps an earlier card's number or brand", kind, b, a, i)
					}
				}
				releaseCards(got)
			}
		}
	})
}
