package detokenize_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/rules"
)

// formOnlyNumber is the rule set of issue 15, item 8, built in code because
// rules.Load refuses it: the token is read from JSON and forms, the number
// and cryptogram are written in forms only.
func formOnlyNumber() *rules.Outbound {
	return &rules.Outbound{Name: "lying", Destinations: []string{"psp.example:443"}, Fallback: rules.FallbackPAN, MaxCards: rules.DefaultMaxCards,
		Fields: []rules.Field{
			{Kind: rules.KindToken, JSON: "payment_method.card.number", Form: "card_number"},
			{Kind: rules.KindNumber, Form: "card_number"},
			{Kind: rules.KindCryptogram, Form: "card_cryptogram"},
		}}
}

// TestDetokenizeRefusesATokenItCannotReplace: a token found where the rule
// set writes no number is an error naming the set and the field, not an
// injection reported as done; both for a network token and for the PAN
// fallback.
func TestDetokenizeRefusesATokenItCannotReplace(t *testing.T) {
	e := newEnv(t)
	for _, c := range []issued{e.issue(t, tenantA, visaPAN, ""), e.issueVaultOnly(t, tenantA, mcPAN, "", "card_not_eligible")} {
		in := `{"payment_method":{"card":{"number":"` + c.token + `"}}}`
		doc := parseDoc(t, body.JSON, in)
		res, err := e.d.Apply(context.Background(), tenantA, formOnlyNumber(), body.JSON, doc)
		var nr *detokenize.NotReplacedError
		if !errors.As(err, &nr) || nr.Set != "lying" || nr.Field != "payment_method.card.number" || !strings.Contains(nr.Reason, "no number field for a json body") {
			t.Fatalf("err = %v (%+v), want a NotReplacedError at payment_method.card.number", err, res.Injections)
		}
		for _, secret := range []string{c.token, c.pan, c.dpan} {
			if secret != "" && strings.Contains(err.Error(), secret) {
				t.Errorf("the error holds a value: %v", err)
			}
		}
	}
	// It is refused before the vault is read (no cryptogram is spent): an
	// unknown token gets the same answer.
	doc := parseDoc(t, body.JSON, `{"payment_method":{"card":{"number":"tok_unknown"}}}`)
	var nr *detokenize.NotReplacedError
	if _, err := e.d.Apply(context.Background(), tenantA, formOnlyNumber(), body.JSON, doc); !errors.As(err, &nr) {
		t.Errorf("an unknown token: %v", err)
	}

	// The same set works for the body kind it can write.
	c := e.issue(t, tenantA, amexPAN, "")
	doc = parseDoc(t, body.Form, "card_number="+c.token)
	res, err := e.d.Apply(context.Background(), tenantA, formOnlyNumber(), body.Form, doc)
	if err != nil || len(res.Injections) != 1 || res.Injections[0].What != detokenize.InjectedNetworkToken {
		t.Fatalf("form: %v %+v", err, res.Injections)
	}
	if err := res.Verify(body.Form, "application/x-www-form-urlencoded", docBytes(t, doc)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestVerify: the built body is checked against the numbers Apply wrote, so
// a body in which an edit was lost (here: the body as it came, or with the
// number put back to the token) is refused; bodies built right pass, with
// the number in place or elsewhere, in arrays and repeated form fields.
func TestVerify(t *testing.T) {
	e := newEnv(t)
	a, b := e.issue(t, tenantA, visaPAN, ""), e.issue(t, tenantA, mcPAN, "")
	strict := outboundSet(t, `outbound:
  strict:
    destinations: ["psp.example:443"]
    fields:
      - {kind: token, json: payment_method.token}
      - {kind: number, json: payment_method.card.number}
`)
	tests := []struct {
		name string
		set  *rules.Outbound
		kind body.Kind
		in   string
	}{
		{"json in place", pspSet(t, "pan"), body.JSON, payment(a.token)},
		{"json elsewhere", strict, body.JSON, `{"payment_method":{"token":"` + a.token + `"}}`},
		{"json array", arraySet(t, "pan"), body.JSON, `{"cards":[{"token":"` + a.token + `"},{"token":"` + b.token + `"}]}`},
		{"form repeated", pspSet(t, "pan"), body.Form, "card_number=" + a.token + "&x=1&card_number=" + b.token},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := map[body.Kind]string{body.JSON: "application/json", body.Form: "application/x-www-form-urlencoded"}[tc.kind]
			doc := parseDoc(t, tc.kind, tc.in)
			res, err := e.d.Apply(context.Background(), tenantA, tc.set, tc.kind, doc)
			if err != nil {
				t.Fatal(err)
			}
			built := docBytes(t, doc)
			if err := res.Verify(tc.kind, ct, built); err != nil {
				t.Fatalf("a body built right: %v", err)
			}
			var nr *detokenize.NotReplacedError
			if err := res.Verify(tc.kind, ct, []byte(tc.in)); !errors.As(err, &nr) || nr.Set != tc.set.Name {
				t.Errorf("the body without its edits: %v", err)
			}
			back := strings.Replace(string(built), a.dpan, a.token, 1)
			if err := res.Verify(tc.kind, ct, []byte(back)); !errors.As(err, &nr) {
				t.Errorf("a number put back to the token: %v", err)
			} else if strings.Contains(err.Error(), a.dpan) || strings.Contains(err.Error(), a.token) {
				t.Errorf("the error holds a value: %v", err)
			}
		})
	}
	// Nothing detokenized (no token in the body): nothing to check, no parse.
	doc := parseDoc(t, body.JSON, `{"amount":1}`)
	res, err := e.d.Apply(context.Background(), tenantA, pspSet(t, "pan"), body.JSON, doc)
	if err != nil || res.Verify(body.JSON, "application/json", []byte("not json")) != nil {
		t.Errorf("a body without tokens: %v", err)
	}
}
