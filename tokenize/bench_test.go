package tokenize_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/body"
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
	}
}
