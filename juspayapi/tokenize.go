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
// a saved card gets a ctkn_ for a newly entered CVV, for the customer it is
// saved for (customer_id, else x-routing-id, which Juspay asks to be the
// customer id). The customer's consent (RBI) comes as Juspay's /txns takes
// it, tokenize=true|false|null: true also keeps the card, tokenized with
// the network; false, null or absent keep nothing past the ctkn_ token's
// life (Juspay would ask on its consent page for null; tokengate has none,
// so no consent is assumed).
//
// Anyone can call it, so it is bounded (see limits.go): a token bucket per
// client, a quota of live ctkn_ tokens per merchant (their own pool, which
// leaves other merchants and the gateway's own no-consent cards their
// room) and a rate of tokenize=true per merchant; past any, 429.
func (s *Server) cardTokenize(w http.ResponseWriter, r *http.Request) int {
	if ok, after := s.allowClient(r); !ok {
		return tooManyRequests(w, after, "Too many card tokenize calls from this client.")
	}
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
	quota := s.CardTokensPerMerchant
	if quota <= 0 {
		quota = DefaultCardTokensPerMerchant
	}
	// Every ctkn_ of this merchant counts against its own pool.
	pool := vault.Pool{Name: "juspay/" + m.ID, Max: quota}
	ctx := vault.WithPool(r.Context(), pool)
	var rec vault.Record
	var err error
	if saved := form.Get("stored_card_token"); saved != "" {
		customer := form.Get("customer_id")
		if customer == "" {
			customer = r.Header.Get("x-routing-id")
		}
		if customer == "" {
			// Asked before the reference is looked at, so it tells nothing
			// about the reference.
			return respond(w, http.StatusBadRequest, inputError("customer_id", "nullable", "customer_id should be present: a saved card is tokenized for the customer it is saved for."))
		}
		stored, gerr := s.Vault.Get(ctx, m.Tenant, saved)
		_, forCustomer := stored.Metadata[customerKey(customer)]
		switch {
		case gerr != nil && !errors.Is(gerr, vault.ErrNotFound):
			return respond(w, http.StatusServiceUnavailable, s.unavailable(ctx, gerr))
		case gerr != nil || stored.Tenant != m.Tenant || vault.IsShortLived(stored) || !forCustomer:
			// Only a card saved for this customer (a ctkn_ cannot renew
			// itself), and one answer whether the reference is unknown or
			// saved for someone else: no oracle between the two.
			return respond(w, http.StatusBadRequest, inputError("stored_card_token", "invalid", "stored_card_token names no saved card."))
		}
		// The ctkn_ keeps the customer it was issued for.
		rec, err = s.Tokenizer.Reissue(ctx, stored, "ctkn_", ttl, cvv, customerKey(customer))
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
			// A permanent record and a provisioning each: bounded per
			// merchant, as no key is needed to ask.
			if ok, after := s.allowTokenizeTrue(m.ID); !ok {
				return tooManyRequests(w, after, "Too many cards saved (tokenize=true) for this merchant; try again later.")
			}
			// A merchant at its ctkn_ quota would get its 429 only after
			// the card was kept and provisioned: ask first.
			if s.Tokenizer.Vault.PoolHeld(pool.Name) >= pool.Max {
				return tooManyRequests(w, quotaRetryAfter, quotaMessage)
			}
			saved, _, serr := s.Tokenizer.Store(ctx, m.Tenant, rules.FormatPrefixed, "token_", in)
			if err = serr; err == nil {
				rec, err = s.Tokenizer.Reissue(ctx, saved, "ctkn_", ttl, cvv)
			}
		case "", "false", "null":
			// Without consent nothing is kept past the ctkn_ token's life.
			rec, err = s.Tokenizer.StoreShortLived(ctx, m.Tenant, "ctkn_", ttl, in)
		default:
			return respond(w, http.StatusBadRequest, inputError("tokenize", "invalid", "tokenize must be true, false or null."))
		}
	}
	var fe *body.FieldError
	switch {
	case errors.As(err, &fe):
		return respond(w, http.StatusBadRequest, inputError(fe.Field, errorCode(fe.Code), fe.Reason+"."))
	case errors.Is(err, vault.ErrShortLivedQuota):
		return tooManyRequests(w, quotaRetryAfter, quotaMessage)
	case err != nil:
		return respond(w, http.StatusServiceUnavailable, s.unavailable(ctx, err))
	}
	return respond(w, http.StatusOK, map[string]any{"token": rec.Token})
}

const quotaMessage = "This merchant holds as many card tokens as it may; try again later."

func respond(w http.ResponseWriter, status int, out any) int {
	write(w, status, out)
	return status
}
