package tokenize_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/tokenize"
)

// FuzzNoPANSurvives is differential: whatever JSON body the gateway would
// forward after tokenizing it, encoding/json (as the merchant's code reads
// it, duplicate keys included) finds no card number in any member name,
// string or number. Bodies the gateway refuses (bad JSON, duplicate keys,
// pan_guard reject, invalid cards) forward nothing and pass.
func FuzzNoPANSurvives(f *testing.F) {
	for _, seed := range []string{
		`{"card":{"number":"4111111111111111","cvc":"123","number":"4916338506082832","cvc":"456"}}`,
		`{"card":{"number":"4111111111111111"},"card":{"number":"5555555555554444"}}`,
		`{"card":{"number":"4111111111111111","num\u0062er":"5555555555554444"}}`,
		`{"card":{"number":"4111111111111111"},"note":"\u0035555 5555 5555 4444"}`,
		`{"n":5555555555554444,"m":[1,2,{"x":"4111-1111-1111-1111"}]}`,
		`{"5555555555554444":true}`,
		`{"card":{"NUMBER":"4111111111111111","number":"4242424242424242"}}`,
		`[{"card":{"number":"378282246310005"}},"qty 5 4111111111111111"]`,
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	e := newEnv(f)
	reject, tokenizeSet := cardSet(f, tenantA), cardSet(f, tenantA, "pan_guard: tokenize")
	f.Fuzz(func(t *testing.T, in string, tokenizeMode bool) {
		if !json.Valid([]byte(in)) {
			return
		}
		doc, err := body.Parse(body.JSON, "application/json", []byte(in))
		if err != nil {
			return // refused: nothing forwarded
		}
		set := reject
		if tokenizeMode {
			set = tokenizeSet
		}
		_, err = e.tk.Apply(context.Background(), set, body.JSON, doc)
		var fe *body.FieldError
		switch {
		case errors.As(err, &fe):
			return // refused
		case errors.Is(err, tokenize.ErrUnavailable):
			return
		case err != nil:
			t.Fatalf("Apply: %v", err)
		}
		out, err := doc.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("forwarded body is not JSON: %v", err)
		}
		// encoding/json keeps the last of duplicate keys; walking the
		// decoded value sees exactly what the merchant's code would.
		if where := findPAN(v); where != "" {
			t.Fatalf("a card number reached the merchant in %s\n in: %s\nout: %s", where, in, out)
		}
	})
}

// findPAN returns where a decoded JSON value holds a card number, or "".
func findPAN(v any) string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if card.HasNumber(k) {
				return "a member name"
			}
			if w := findPAN(e); w != "" {
				return w
			}
		}
	case []any:
		for _, e := range x {
			if w := findPAN(e); w != "" {
				return w
			}
		}
	case string:
		if card.HasNumber(x) {
			return "a string"
		}
	case json.Number:
		if card.HasNumber(string(x)) {
			return "a number"
		}
	}
	return ""
}
