package juspayapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
)

// DefaultCardTokenTTL is how long a ctkn_ card token lives, as Juspay's
// ("A tokenized card is remembered only for 15 minutes").
const DefaultCardTokenTTL = 15 * time.Minute

// cardTokenize is POST /card/tokenize (seed 001): a form from the browser
// or app, no API key (the merchant is named by merchant_id or
// x-merchantid), answered with a ctkn_ card token that lives CardTokenTTL,
// CVV included, and is usable by the outbound side; with stored_card_token,
// a saved card gets a ctkn_ for a newly entered CVV. The customer's consent
// (RBI) comes as Juspay's /txns takes it, tokenize=true|false|null: true
// also keeps the card, tokenized with the network; false, null or absent
// keep nothing past the ctkn_ token's life (Juspay would ask on its consent
// page for null; tokengate has none, so no consent is assumed).
func (s *Server) cardTokenize(w http.ResponseWriter, r *http.Request) int {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return respond(w, http.StatusBadRequest, inputError("body", "invalid", "The request body is not a urlencoded form."))
	}
	form := r.PostForm
	for name, values := range form {
		if len(values) > 1 {
			return respond(w, http.StatusBadRequest, inputError(name, "invalid", "A form field is sent more than once."))
		}
	}
	id := form.Get("merchant_id")
	if id == "" {
		id = r.Header.Get("x-merchantid")
	}
	m, ok := s.MerchantByID(id)
	if !ok {
		return respond(w, http.StatusBadRequest, inputError("merchant_id", "invalid", "merchant_id names no merchant."))
	}
	value := func(name string) *body.Value {
		if v := form.Get(name); v != "" {
			return &body.Value{Path: name, Raw: v}
		}
		return nil
	}
	cvv := value("card_security_code")
	if cvv == nil {
		return respond(w, http.StatusBadRequest, inputError("card_security_code", "nullable", "Card security code should be present."))
	}
	ttl := s.CardTokenTTL
	if ttl <= 0 {
		ttl = DefaultCardTokenTTL
	}
	var rec vault.Record
	var err error
	if saved := form.Get("stored_card_token"); saved != "" {
		stored, gerr := s.Vault.Get(r.Context(), m.Tenant, saved)
		switch {
		case gerr != nil && !errors.Is(gerr, vault.ErrNotFound):
			return respond(w, http.StatusServiceUnavailable, unavailable)
		case gerr != nil || stored.Tenant != m.Tenant || vault.IsEphemeral(stored) || !savedForAnyone(stored):
			// Only a card saved for a customer: a ctkn_ cannot renew itself.
			return respond(w, http.StatusBadRequest, inputError("stored_card_token", "invalid", "stored_card_token names no saved card."))
		}
		rec, err = s.Tokenizer.Reissue(r.Context(), stored, "ctkn_", ttl, cvv)
	} else {
		for _, name := range []string{"card_number", "card_exp_month", "card_exp_year"} {
			if value(name) == nil {
				return respond(w, http.StatusBadRequest, inputError(name, "nullable", strings.ReplaceAll(name, "_", " ")+" should be present."))
			}
		}
		in := tokenize.Card{Number: value("card_number"), ExpMonth: value("card_exp_month"), ExpYear: value("card_exp_year"),
			CVV: cvv, Name: value("name_on_card"), CustomerID: r.Header.Get("x-routing-id")}
		switch consent := strings.ToLower(form.Get("tokenize")); consent {
		case "true":
			// Consent (RBI): the card is kept and tokenized with the
			// network; the ctkn_ token serves this payment with the CVV.
			saved, _, serr := s.Tokenizer.Store(r.Context(), m.Tenant, rules.FormatPrefixed, "token_", in)
			if err = serr; err == nil {
				rec, err = s.Tokenizer.Reissue(r.Context(), saved, "ctkn_", ttl, cvv)
			}
		case "", "false", "null":
			// Without consent nothing is kept past the ctkn_ token's life.
			rec, err = s.Tokenizer.StoreEphemeral(r.Context(), m.Tenant, "ctkn_", ttl, in)
		default:
			return respond(w, http.StatusBadRequest, inputError("tokenize", "invalid", "tokenize must be true, false or null."))
		}
	}
	var fe *body.FieldError
	switch {
	case errors.As(err, &fe):
		return respond(w, http.StatusBadRequest, inputError(fe.Field, errorCode(fe.Code), fe.Reason+"."))
	case err != nil:
		return respond(w, http.StatusServiceUnavailable, unavailable)
	}
	return respond(w, http.StatusOK, map[string]any{"token": rec.Token})
}

func respond(w http.ResponseWriter, status int, out any) int {
	write(w, status, out)
	return status
}
