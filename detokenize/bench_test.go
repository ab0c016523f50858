package detokenize_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
)

// paymentBody is a ~1 KB payment JSON body holding one token.
func paymentBody(tb testing.TB, token string) []byte {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`{"amount":1999,"currency":"EUR","reference":"ord_8f3a2c","lines":[`)
	for i := range 9 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","name":"Item number %d","qty":%d,"price":%d}`, i, i, i+1, 999+i)
	}
	b.WriteString(`],"customer":{"email":"jane.doe@example.com","ip":"203.0.113.7",` +
		`"billing":{"line1":"12 rue de la Paix","city":"Paris","postal_code":"75002","country":"FR"}},` +
		`"card":{"number":"` + token + `","exp_month":"","exp_year":""},` +
		`"metadata":{"source":"web","campaign":"spring-sale-2026","session":"3b1f0c9e-5d7a-4e21-9c4b-8a6f2d1e0b7c"}}`)
	if n := b.Len(); n < 950 || n > 1100 {
		tb.Fatalf("benchmark body is %d bytes, want about 1 KB", n)
	}
	return []byte(b.String())
}

// BenchmarkDetokenize measures one outbound request with an active network
// token: parse, Apply (vault read, unseal, cryptogram), Bytes, and Verify
// (the built body read back), as the detokenize handler does them.
func BenchmarkDetokenize(b *testing.B) {
	e := newEnv(b)
	c := e.issue(b, tenantA, visaPAN, "")
	set := pspSet(b, "reject")
	in := paymentBody(b, c.token)
	ctx := context.Background()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		doc, err := body.Parse(body.JSON, "application/json", in)
		if err != nil {
			b.Fatal(err)
		}
		res, err := e.d.Apply(ctx, tenantA, set, body.JSON, doc)
		inj := res.Injections
		if err != nil || len(inj) != 1 || inj[0].What != detokenize.InjectedNetworkToken {
			b.Fatalf("%+v %v", inj, err)
		}
		built, err := doc.Bytes()
		if err != nil {
			b.Fatal(err)
		}
		if err := res.Verify(body.JSON, "application/json", built); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures Verify alone on the same body: the cost of
// reading the built body back.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	c := e.issue(b, tenantA, visaPAN, "")
	in := paymentBody(b, c.token)
	doc, err := body.Parse(body.JSON, "application/json", in)
	if err != nil {
		b.Fatal(err)
	}
	res, err := e.d.Apply(context.Background(), tenantA, pspSet(b, "reject"), body.JSON, doc)
	if err != nil {
		b.Fatal(err)
	}
	built, err := doc.Bytes()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(built)))
	b.ReportAllocs()
	for b.Loop() {
		if err := res.Verify(body.JSON, "application/json", built); err != nil {
			b.Fatal(err)
		}
	}
}
