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

// removeSet moves the number to source.token for a network token and
// removes the token's own member, where the PAN goes on the fallback.
const removeSet = `outbound:
  r:
    destinations: ["p.example:443"]
    fallback: pan
    fields:
      - {kind: token, json: source.number, form: number}
      - {kind: number, json: source.token, form: token, when: network_token}
      - {kind: remove, json: source.number, form: number, when: network_token}
      - {kind: remove, json: source.cvv, form: cvv, when: network_token}
      - {kind: cvv, json: source.cvv, form: cvv, when: pan}
`

func TestRemoveTokenPlace(t *testing.T) {
	set := outboundSet(t, removeSet)
	e := newEnv(t)
	c := e.issue(t, tenantA, visaPAN, "")
	out, res, err := e.applySet(t, set, body.JSON, `{"source":{"number":"`+c.token+`","cvv":"000"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"source":{"token":"` + c.dpan + `"}}`; string(out) != want {
		t.Errorf("network token\n got %s\nwant %s", out, want)
	}
	// Verify refuses the built body with the token put back at its place.
	var nr *detokenize.NotReplacedError
	back := `{"source":{"number":"` + c.token + `","token":"` + c.dpan + `"}}`
	if err := res.Verify(body.JSON, "application/json", []byte(back)); !errors.As(err, &nr) || strings.Contains(err.Error(), c.token) {
		t.Errorf("token left at its place: %v", err)
	}
	// Forms too.
	e = newEnv(t)
	c = e.issue(t, tenantA, mcPAN, "")
	doc := parseDoc(t, body.Form, "number="+c.token+"&amount=1")
	res, err = e.d.Apply(context.Background(), tenantA, set, body.Form, doc)
	if err != nil {
		t.Fatal(err)
	}
	built := docBytes(t, doc)
	if err := res.Verify(body.Form, "application/x-www-form-urlencoded", built); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got, want := string(built), "amount=1&token="+c.dpan; got != want {
		t.Errorf("form\n got %s\nwant %s", got, want)
	}
	if err := res.Verify(body.Form, "application/x-www-form-urlencoded", []byte(string(built)+"&number="+c.token)); !errors.As(err, &nr) {
		t.Errorf("form token left: %v", err)
	}
	// The PAN fallback writes the number at the token's place: nothing removed.
	e = newEnv(t)
	c = e.issueVaultOnly(t, tenantA, visaPAN, "123", "")
	out, _, err = e.applySet(t, set, body.JSON, `{"source":{"number":"`+c.token+`"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"source":{"number":"` + visaPAN + `","cvv":"123"}}`; string(out) != want {
		t.Errorf("PAN\n got %s\nwant %s", out, want)
	}
}

// A set built in code (Load refuses it) that writes the network token
// elsewhere and keeps the token where the PAN goes is refused before the
// vault is read.
func TestRemoveMissingInCode(t *testing.T) {
	set := &rules.Outbound{Name: "code", Fallback: rules.FallbackPAN, MaxCards: 5, Fields: []rules.Field{
		{Kind: rules.KindToken, JSON: "source.number"},
		{Kind: rules.KindNumber, JSON: "source.number", When: rules.WhenPAN},
		{Kind: rules.KindNumber, JSON: "source.token", When: rules.WhenNetworkToken},
	}}
	e := newEnv(t)
	c := e.issue(t, tenantA, visaPAN, "")
	_, _, err := e.applySet(t, set, body.JSON, `{"source":{"number":"`+c.token+`"}}`)
	var nr *detokenize.NotReplacedError
	if !errors.As(err, &nr) || strings.Contains(err.Error(), c.token) {
		t.Fatalf("err = %v", err)
	}
}
