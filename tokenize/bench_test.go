package tokenize_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
)

// checkoutBody is a ~1 KB checkout JSON body holding one card.
func checkoutBody(tb testing.TB) []byte {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`{"order":{"id":"ord_8f3a2c","currency":"EUR","items":[`)
	for i := range 9 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","name":"Item number %d","qty":%d,"price":%d}`, i, i, i+1, 999+i)
	}
	b.WriteString(`]},"customer":{"email":"jane.doe@example.com","phone":"+33 6 12 34 56 78",` +
		`"address":{"line1":"12 rue de la Paix","city":"Paris","postal_code":"75002","country":"FR"}},` +
		`"card":{"number":"4111 1111 1111 1111","cvc":"123","exp_month":"12","exp_year":"2030","name":"Jane Doe"},` +
		`"metadata":{"source":"web","campaign":"spring-sale-2026","session":"3b1f0c9e-5d7a-4e21-9c4b-8a6f2d1e0b7c"}}`)
	if n := b.Len(); n < 950 || n > 1100 {
		tb.Fatalf("benchmark body is %d bytes, want about 1 KB", n)
	}
	return []byte(b.String())
}

// BenchmarkTokenizeRepeatCard measures one inbound request for a card the
// bbolt vault already holds: parse, Apply, Bytes.
func BenchmarkTokenizeRepeatCard(b *testing.B) {
	e := newEnv(b)
	set := cardSet(b, tenantA)
	in := checkoutBody(b)
	ctx := context.Background()
	doc, _ := body.Parse(body.JSON, "application/json", in)
	if res, err := e.tk.Apply(ctx, set, body.JSON, doc); err != nil || res.Created != 1 {
		b.Fatalf("first tokenization: %+v %v", res, err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		doc, err := body.Parse(body.JSON, "application/json", in)
		if err != nil {
			b.Fatal(err)
		}
		res, err := e.tk.Apply(ctx, set, body.JSON, doc)
		if err != nil || res.Created != 0 {
			b.Fatalf("%+v %v", res, err)
		}
		if _, err := doc.Bytes(); err != nil {
			b.Fatal(err)
		}
		body.Release(doc) // as the tokenize handler does
	}
}

// manyCards is a JSON body with n cards of about 1 KB each (card plus order
// line noise), so 100 cards are ~100 KB and 1,000 cards ~1 MiB.
// Every call with a new seed gives new PANs.
func manyCards(n, seed int) []byte {
	var b strings.Builder
	b.WriteString(`{"batch":"b-1","cards":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"number":"%s","cvc":"123","exp_month":"12","exp_year":"2030","ref":"line-%06d","note":"%s"}`,
			luhn(fmt.Sprintf("411111%03d%06d", seed%1000, i)), i, strings.Repeat("n", 930))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// luhn completes digits with their Luhn check digit.
func luhn(partial string) string { return partial + string(card.LuhnDigit(partial)) }

// BenchmarkTokenizeManyCards measures bodies with 100 and 1,000 cards, as
// repeat cards (the vault holds them: reads only) and as new cards (a durable
// vault write and a network token each). Time per op divided by the card
// count should stay flat from 100 to 1,000: linear, not quadratic.
func BenchmarkTokenizeManyCards(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("repeat/%d", n), func(b *testing.B) {
			e := newEnv(b)
			set := arraySet(b, tenantA, false)
			set.MaxCards = n
			in := manyCards(n, 0)
			ctx := context.Background()
			doc, _ := body.Parse(body.JSON, "application/json", in)
			if res, err := e.tk.Apply(ctx, set, body.JSON, doc); err != nil || res.Created != n {
				b.Fatalf("first tokenization: %+v %v", res, err)
			}
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				doc, _ := body.Parse(body.JSON, "application/json", in)
				if _, err := e.tk.Apply(ctx, set, body.JSON, doc); err != nil {
					b.Fatal(err)
				}
				if _, err := doc.Bytes(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("new/%d", n), func(b *testing.B) {
			e := newEnv(b)
			set := arraySet(b, tenantA, false)
			set.MaxCards = n
			ctx := context.Background()
			seed := 0
			b.ReportAllocs()
			for b.Loop() {
				seed++
				in := manyCards(n, seed)
				b.SetBytes(int64(len(in)))
				doc, _ := body.Parse(body.JSON, "application/json", in)
				res, err := e.tk.Apply(ctx, set, body.JSON, doc)
				if err != nil || res.Created != n {
					b.Fatalf("%+v %v", res, err)
				}
			}
		})
	}
}

// BenchmarkTokenizeForm measures a urlencoded checkout with a known card.
func BenchmarkTokenizeForm(b *testing.B) {
	e := newEnv(b)
	set := cardSet(b, tenantA)
	in := []byte("order_id=ord_8f3a2c&amount=129.90&currency=EUR&email=jane.doe%40example.com&card_number=4111111111111111&card_cvc=123&card_exp_month=12&card_exp_year=2030&card_name=Jane+Doe")
	ctx := context.Background()
	doc, _ := body.Parse(body.Form, "application/x-www-form-urlencoded", in)
	if _, err := e.tk.Apply(ctx, set, body.Form, doc); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		doc, _ := body.Parse(body.Form, "application/x-www-form-urlencoded", in)
		if _, err := e.tk.Apply(ctx, set, body.Form, doc); err != nil {
			b.Fatal(err)
		}
		if _, err := doc.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}
