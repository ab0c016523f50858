package tokenize_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/tokenize"
)

// FuzzNoPANSurvives is differential: whatever JSON body the gateway would
// forward after tokenizing it, encoding/json (as the merchant's code reads
// it, duplicate keys included, escapes decoded) finds no card number in any
// member name, string or number, read as its literal or as a float64 (as
// JavaScript and Python read numbers: 4.111111111111111e15 is
// 4111111111111111). Bodies the gateway refuses (bad JSON, duplicate keys,
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
		`{"card":{"number":"4111111111111111"},"n":4.111111111111111e15}`,
		`{"n":5555555555554444.0,"m":4.2e15}`,
		`{"note":"my card 4111 1111 1111 1111 123 exp 03/30"}`,
		`{"note":"4111-1111-1111-1111-0330","x":"4111.1111.1111.1111"}`,
		`{"note":"4111\u00a01111\u00a01111\u00a01111","y":"4111\n1111\n1111\n1111"}`,
		`{"\u0034111111111111111":"%34111111111111111"}`,
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
		// The number as a float64 parser hands it over (JavaScript,
		// Python's json, Go into any): JavaScript prints the shortest
		// round-trip digits, Python's int(x) the exact value. A number out
		// of range (1E700) is Infinity to them, no card.
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return ""
		}
		for _, prec := range []int{-1, 0} {
			if n := strconv.FormatFloat(f, 'f', prec, 64); len(n) >= 13 && len(n) <= card.MaxLength {
				if _, err := card.Validate(n); err == nil {
					return "a number read as a float"
				}
			}
		}
	}
	return ""
}
