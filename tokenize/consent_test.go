package tokenize_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/vault"
)

const consentRules = `
inbound:
  checkout:
    tenant: tenant-a
    consent_default: %s
    fields:
      - {kind: pan, json: card.number}
      - {kind: cvv, json: card.cvc}
      - {kind: exp_month, json: card.exp_month}
      - {kind: exp_year, json: card.exp_year}
      - {kind: consent, json: tokenize}
`

// The consent field (RBI): true keeps the card and provisions a network
// token; false keeps nothing in the vault, only a short-lived token with its
// CVV; absent or null follows consent_default; anything else is refused.
func TestConsent(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, def, consent string
		kept               bool
	}{
		{"consent given", "true", `"tokenize":true,`, true},
		{"consent refused", "true", `"tokenize":false,`, false},
		{"consent as text", "true", `"tokenize":"false",`, false},
		{"null follows the default", "false", `"tokenize":null,`, false},
		{"absent follows the default (keep)", "true", ``, true},
		{"absent follows the default (do not keep)", "false", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			set := inboundSet(t, fmt.Sprintf(consentRules, tc.def))
			in := `{` + tc.consent + `"card":{"number":"` + visaPAN + `","cvc":"123","exp_month":"12","exp_year":"2030"}}`
			out, res := e.apply(t, set, in)
			token := gjson.GetBytes(out, "card.number").String()
			if res.Cards != 1 || token == "" || token == visaPAN {
				t.Fatalf("result %+v, token %q", res, token)
			}
			_, stored := e.vault.Get(ctx, tenantA, token)
			rec, live := e.shortLived.Get(ctx, tenantA, token)
			if live != nil {
				t.Fatalf("the token does not resolve: %v", live)
			}
			if tc.kept {
				if stored != nil || rec.Network.ID == "" {
					t.Fatalf("a card with consent was not kept with a network token: %v", stored)
				}
			} else {
				if !errors.Is(stored, vault.ErrNotFound) || rec.Network.ID != "" || rec.Network.Error != "no_consent" {
					t.Fatalf("a card without consent reached the vault (%v) or got a network token", stored)
				}
				if cvv, ok, _ := e.cvvs.TakeCVV(ctx, tenantA, token); !ok || cvv != "123" {
					t.Fatal("the CVV is not held for the payment")
				}
			}
			if gjson.GetBytes(out, "tokenize").Raw != gjson.Get(in, "tokenize").Raw {
				t.Error("the consent field was not left in the body")
			}
		})
	}
	e := newEnv(t)
	set := inboundSet(t, fmt.Sprintf(consentRules, "true"))
	doc, _ := body.Parse(body.JSON, "application/json", []byte(`{"tokenize":"maybe","card":{"number":"`+visaPAN+`","exp_month":"12","exp_year":"2030"}}`))
	var fe *body.FieldError
	if _, err := e.tk.Apply(ctx, set, body.JSON, doc); !errors.As(err, &fe) || fe.Field != "tokenize" {
		t.Fatalf("a consent that is neither true nor false: %v", err)
	}
}
