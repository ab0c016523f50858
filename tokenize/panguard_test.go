package tokenize_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
)

// TestPANGuard: a card number outside the card number fields is refused,
// tokenized or only reported, as the rule set's pan_guard says.
func TestPANGuard(t *testing.T) {
	const stray = "5555555555554444"
	in := `{"card":{"number":"4111111111111111","cvc":"123"},"note":"card 5555 5555 5555 4444 please","extra":{"NUMBER":` + stray + `}}`

	t.Run("reject", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.tk.Apply(context.Background(), cardSet(t, tenantA), body.JSON, parseJSON(t, in))
		var fe *body.FieldError
		if !errors.As(err, &fe) || fe.Status != 400 || fe.Code != "pan_detected" || fe.Field != "note" {
			t.Fatalf("err = %v, want 400 pan_detected at note", err)
		}
		if strings.Contains(fe.Error(), "5555") || e.stored(t, tenantA, visaPAN) {
			t.Error("the error shows the number, or a card was stored before the refusal")
		}
	})
	t.Run("tokenize", func(t *testing.T) {
		e := newEnv(t)
		out, res := e.apply(t, cardSet(t, tenantA, "pan_guard: tokenize"), in)
		if strings.Contains(string(out), "5555") || strings.Contains(string(out), visaPAN) {
			t.Fatalf("card data left: %s", out)
		}
		note := gjson.GetBytes(out, "note").String()
		if !strings.HasPrefix(note, "card tok_") || !strings.HasSuffix(note, " please") || !strings.HasPrefix(gjson.GetBytes(out, "extra.NUMBER").String(), "tok_") {
			t.Errorf("strays not tokenized in place: %s", out)
		}
		if res.Cards != 3 || res.Strays != "note, extra.NUMBER" || !e.stored(t, tenantA, stray) {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("log", func(t *testing.T) {
		e := newEnv(t)
		out, res := e.apply(t, cardSet(t, tenantA, "pan_guard: log"), in)
		if !strings.Contains(string(out), stray) || res.Strays != "note, extra.NUMBER" {
			t.Errorf("log mode changed the body or did not report: %+v", res)
		}
	})
	t.Run("off", func(t *testing.T) {
		e := newEnv(t)
		_, res := e.apply(t, cardSet(t, tenantA, "pan_guard: off"), in)
		if res.Strays != "" {
			t.Errorf("off mode looked: %+v", res)
		}
	})
	t.Run("a member name", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.tk.Apply(context.Background(), cardSet(t, tenantA, "pan_guard: tokenize"), body.JSON, parseJSON(t, `{"`+stray+`":1}`))
		var fe *body.FieldError
		if !errors.As(err, &fe) || fe.Code != "pan_detected" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("network_token format is not a stray", func(t *testing.T) {
		e := newEnv(t)
		out, res := e.apply(t, cardSet(t, tenantA, "token_format: network_token"), `{"card":{"number":"4111111111111111"}}`)
		if res.Strays != "" || strings.Contains(string(out), visaPAN) {
			t.Errorf("%+v %s", res, out)
		}
	})
}

// TestMaxCards: a request with more cards than the rule set allows is
// refused before anything is stored.
func TestMaxCards(t *testing.T) {
	e := newEnv(t)
	var cards []string
	for _, pan := range []string{visaPAN, "5555555555554444", "378282246310005"} {
		cards = append(cards, fmt.Sprintf(`{"number":%q}`, pan))
	}
	in := `{"cards":[` + strings.Join(cards, ",") + `]}`
	set := arraySet(t, tenantA, false)
	set.MaxCards = 2
	_, err := e.tk.Apply(context.Background(), set, body.JSON, parseJSON(t, in))
	var fe *body.FieldError
	if !errors.As(err, &fe) || fe.Status != 413 || fe.Code != "too_many_cards" || fe.Field != "cards.2.number" {
		t.Fatalf("err = %v, want 413 too_many_cards at cards.2.number", err)
	}
	if e.stored(t, tenantA, visaPAN) {
		t.Error("a card was stored")
	}
	set.MaxCards = 3
	if _, res := e.apply(t, set, in); res.Cards != 3 {
		t.Errorf("at the limit: %+v", res)
	}
}

// TestSharedFieldsBesideRepeatedNumbers: a field sent once beside a card
// number sent twice cannot be matched to either card and is refused naming
// it.
func TestSharedFieldsBesideRepeatedNumbers(t *testing.T) {
	e := newEnv(t)
	set := cardSet(t, tenantA)
	for in, field := range map[string]string{
		"card_number=4111111111111111&card_number=5555555555554444&card_exp_month=03&card_exp_year=2030": "card_exp_month",
		"card_number=4111111111111111&card_number=5555555555554444&card_cvc=123":                         "card_cvc",
	} {
		doc, err := body.Parse(body.Form, "", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.tk.Apply(context.Background(), set, body.Form, doc)
		var fe *body.FieldError
		if !errors.As(err, &fe) || fe.Code != "ambiguous_field" || fe.Field != field {
			t.Errorf("%s: %v, want ambiguous_field at %s", in, err, field)
		}
	}

}

// TestNoExpiryIsNotAProviderError: a card sent without an expiry is stored
// vault-only with the reason no_expiry, and gets its network token when it
// comes again with one.
func TestNoExpiryIsNotAProviderError(t *testing.T) {
	e := newEnv(t)
	set := cardSet(t, tenantA)
	out, _ := e.apply(t, set, `{"card":{"number":"4111111111111111"}}`)
	tok := gjson.GetBytes(out, "card.number").String()
	if rec := e.record(t, tenantA, tok); rec.Network.Error != "no_expiry" || rec.Network.ID != "" {
		t.Fatalf("network = %+v, want no_expiry", rec.Network)
	}
	e.apply(t, set, cardJSON(visaPAN, "123", "12", "2030"))
	if rec := e.record(t, tenantA, tok); rec.Network.ID == "" {
		t.Errorf("no network token once the expiry came: %+v", rec.Network)
	}
}
