package btapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
)

// createRequest is POST /network-tokens: exactly one of data, token_id and
// token_intent_id, and optional cardholder_info.
type createRequest struct {
	Data           *cardData       `json:"data"`
	TokenID        *string         `json:"token_id"`
	TokenIntentID  *string         `json:"token_intent_id"`
	CardholderInfo *cardholderInfo `json:"cardholder_info"`
}

// cardData takes months and years as strings ("03", as the seed's curl
// sends them) or integers (3, as Basis Theory's SDKs do).
type cardData struct {
	Number          flexString `json:"number"`
	ExpirationMonth flexString `json:"expiration_month"`
	ExpirationYear  flexString `json:"expiration_year"`
	CVC             flexString `json:"cvc"`
}

type cardholderInfo struct {
	Name    string   `json:"name"`
	Address *address `json:"address"`
}

type address struct {
	Line1       string `json:"line1"`
	Line2       string `json:"line2"`
	Line3       string `json:"line3"`
	PostalCode  string `json:"postal_code"`
	City        string `json:"city"`
	StateCode   string `json:"state_code"`
	CountryCode string `json:"country_code"`
}

// flexString is a JSON string or integer, kept as its text.
type flexString struct {
	text string
	set  bool
}

func (f *flexString) UnmarshalJSON(data []byte) error {
	switch {
	case bytes.Equal(data, []byte("null")):
		return nil
	case len(data) > 0 && data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		f.text, f.set = s, true
		return nil
	case len(data) > 0 && (data[0] >= '0' && data[0] <= '9') && !bytes.ContainsAny(data, ".eE+-"):
		f.text, f.set = string(data), true
		return nil
	}
	return &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[string]()}
}

// value is the field as the tokenizer takes it, named by its API path.
func (f flexString) value(path string) *body.Value {
	if !f.set {
		return nil
	}
	return &body.Value{Path: path, Raw: f.text}
}

func (s *Server) create(r *http.Request, p Principal) (int, any) {
	var req createRequest
	if prob := decode(r, &req); prob != nil {
		return 0, prob
	}
	sources := 0
	for _, set := range []bool{req.Data != nil, req.TokenID != nil, req.TokenIntentID != nil} {
		if set {
			sources++
		}
	}
	switch {
	case sources != 1:
		return 0, invalid("data", "Exactly one of data, token_id or token_intent_id is required.")
	case req.TokenIntentID != nil:
		return 0, invalid("token_intent_id", "Token intents are not supported by this server; create the network token from data or token_id.")
	}
	in := tokenize.Card{}
	if ci := req.CardholderInfo; ci != nil {
		if ci.Name != "" {
			in.Name = &body.Value{Path: "cardholder_info.name", Raw: ci.Name}
		}
		if a := ci.Address; a != nil {
			line2 := strings.TrimSpace(a.Line2 + " " + a.Line3)
			in.Address = network.Address{Line1: a.Line1, Line2: line2, City: a.City, State: a.StateCode, PostalCode: a.PostalCode, Country: a.CountryCode}
		}
	}
	var tokenID string
	if req.TokenID != nil {
		tokenID = *req.TokenID
		prob := s.fromToken(r, p, tokenID, &in)
		if prob != nil {
			return 0, prob
		}
	} else {
		d := req.Data
		for path, f := range map[string]flexString{"data.number": d.Number, "data.expiration_month": d.ExpirationMonth, "data.expiration_year": d.ExpirationYear} {
			if !f.set || f.text == "" {
				return 0, invalid(path, "The "+path[len("data."):]+" field is required.")
			}
		}
		in.Number = d.Number.value("data.number")
		in.ExpMonth = d.ExpirationMonth.value("data.expiration_month")
		in.ExpYear = d.ExpirationYear.value("data.expiration_year")
		in.CVV = d.CVC.value("data.cvc")
	}

	// Whether the card already had a usable network token: then this is
	// Basis Theory's deduplicated answer.
	before, _ := s.Vault.GetByFingerprint(r.Context(), p.Tenant, s.Keys.Fingerprint(p.Tenant, card.Normalize(in.Number.Raw)))
	rec, _, err := s.Tokenizer.Store(r.Context(), p.Tenant, rules.FormatUUID, "", in)
	var fe *body.FieldError
	switch {
	case errors.As(err, &fe):
		return 0, invalid(fe.Field, fe.Reason+".")
	case err != nil:
		return 0, s.unavailable(r.Context(), err)
	}
	if prob := s.refusal(r.Context(), rec.Network); prob != nil {
		return 0, prob
	}
	obj, prob := s.view(r.Context(), rec, Principal{Tenant: p.Tenant})
	if prob != nil {
		return 0, prob
	}
	obj.TokenID = tokenID
	status := http.StatusCreated
	if before.Network.ID != "" && before.Network.ID == rec.Network.ID {
		obj.Extras = &objectExtra{Deduplicated: true}
		status = http.StatusOK
	}
	return status, obj
}

// fromToken fills in the card of one of the caller's tokengate tokens.
func (s *Server) fromToken(r *http.Request, p Principal, id string, in *tokenize.Card) *problem {
	rec, err := s.Vault.Get(r.Context(), p.Tenant, id)
	switch {
	case errors.Is(err, vault.ErrNotFound) || err == nil && (rec.Tenant != p.Tenant || vault.IsShortLived(rec)):
		return newProblem(http.StatusNotFound, "Not Found", "The token was not found.")
	case err != nil:
		return s.unavailable(r.Context(), err)
	}
	secrets, err := s.Keys.Open(p.Tenant, rec.Fingerprint, rec.Token, rec.Sealed)
	if err != nil {
		return s.unavailable(r.Context(), fmt.Errorf("opening the token's record: %w", err))
	}
	if rec.ExpMonth == "" || rec.ExpYear == "" {
		return newProblem(http.StatusUnprocessableEntity, "CARD_DATA_MISSING", "The token's card has no expiration date, which a network token needs.")
	}
	in.Number = &body.Value{Path: "token_id", Raw: secrets.PAN}
	in.ExpMonth = &body.Value{Path: "token_id", Raw: rec.ExpMonth}
	in.ExpYear = &body.Value{Path: "token_id", Raw: rec.ExpYear}
	if in.Name == nil && secrets.Name != "" {
		in.Name = &body.Value{Path: "token_id", Raw: secrets.Name}
	}
	return nil
}

// refusal turns a card stored without a usable network token into Basis
// Theory's answer: the network's refusal as a 422 titled with its code
// (CARD_NOT_ELIGIBLE, ...), a service failure as a 503.
func (s *Server) refusal(ctx context.Context, nt vault.NetworkToken) *problem {
	if nt.ID != "" && nt.Status != network.StatusDeleted {
		return nil
	}
	switch nt.Error {
	case lifecycle.ReasonTimeout, lifecycle.ReasonProviderError, lifecycle.ReasonNoTokenService, "":
		return s.unavailable(ctx, fmt.Errorf("no network token was issued: %s", reasonOrNone(nt.Error)))
	}
	return newProblem(http.StatusUnprocessableEntity, strings.ToUpper(nt.Error), refusalDetail(nt.Error))
}

// reasonOrNone names a lifecycle reason for the log, "" included.
func reasonOrNone(reason string) string {
	if reason == "" {
		return "no reason given"
	}
	return reason
}

// refusalDetail is the human text of a network's refusal.
func refusalDetail(code string) string {
	if d, ok := refusalDetails[code]; ok {
		return d
	}
	return "The card network refused to issue a network token (" + code + ")."
}

var refusalDetails = map[string]string{
	network.CodeProvisionDataExpired:   "The card details are expired; ask the customer for new ones.",
	network.CodeCardVerificationFailed: "The card could not be verified; ask the customer to enter the CVC again.",
	network.CodeCardNotEligible:        "The card is not eligible for network tokens.",
	network.CodeCardNotAllowed:         "The card is not allowed to be tokenized.",
	network.CodeCardDeclined:           "The card issuer declined to tokenize the card.",
	network.CodeProvisionNotAllowed:    "Provisioning a network token is not allowed for this card.",
	network.CodeCardEligibilityError:   "The card's eligibility could not be determined; retry once.",
}

func (s *Server) get(r *http.Request, p Principal) (int, any) {
	// A network token the provider reported deleted (webhook) reads as
	// inactive; one deleted through this API is erased and answers 404.
	rec, prob := s.record(r.Context(), p, r.PathValue("id"))
	if prob != nil {
		return 0, prob
	}
	obj, prob := s.view(r.Context(), rec, p)
	if prob != nil {
		return 0, prob
	}
	return http.StatusOK, obj
}

// live is the caller's record for the path's id, with a network token that
// is not deleted: a deleted one is inactive, and only reads work on it.
func (s *Server) live(r *http.Request, p Principal) (vault.Record, *problem) {
	rec, prob := s.record(r.Context(), p, r.PathValue("id"))
	if prob == nil && rec.Network.Status == network.StatusDeleted {
		return vault.Record{}, errInactive
	}
	return rec, prob
}

var errInactive = newProblem(http.StatusUnprocessableEntity, "NETWORK_TOKEN_INACTIVE", "The network token was deleted; it is inactive for good.")

// cryptogramAnswer is the cryptogram object.
type cryptogramAnswer struct {
	Cryptogram string `json:"cryptogram"`
	ECI        string `json:"eci"`
}

func (s *Server) cryptogram(r *http.Request, p Principal) (int, any) {
	rec, prob := s.live(r, p)
	if prob != nil {
		return 0, prob
	}
	c, reason := s.Lifecycle.Cryptogram(r.Context(), rec, network.CryptogramRequest{Initiator: network.CustomerInitiated})
	switch reason {
	case "":
		if prob := s.audit(r.Context(), audit.ActionCryptogram, rec); prob != nil {
			return 0, prob
		}
		return http.StatusOK, cryptogramAnswer{Cryptogram: c.Value, ECI: c.ECI}
	case lifecycle.ReasonSuspended:
		return 0, newProblem(http.StatusUnprocessableEntity, "NETWORK_TOKEN_SUSPENDED", "The network token is suspended; resume it first.")
	case lifecycle.ReasonDeleted:
		return 0, errInactive
	}
	return 0, s.unavailable(r.Context(), fmt.Errorf("no cryptogram: %s", reason))
}

// setStatus suspends or resumes a network token at its service.
func (s *Server) setStatus(status string) func(*http.Request, Principal) (int, any) {
	return func(r *http.Request, p Principal) (int, any) {
		rec, prob := s.live(r, p)
		if prob != nil {
			return 0, prob
		}
		if prob := s.changeStatus(r, rec, status); prob != nil {
			return 0, prob
		}
		vault.Invalidate(s.Vault, rec.Tenant, rec.Token)
		if rec, prob = s.live(r, p); prob != nil {
			return 0, prob
		}
		obj, prob := s.view(r.Context(), rec, p)
		if prob != nil {
			return 0, prob
		}
		s.notify(rec, "network-token.updated")
		return http.StatusOK, obj
	}
}

func (s *Server) changeStatus(r *http.Request, rec vault.Record, status string) *problem {
	err := s.Lifecycle.SetStatus(r.Context(), rec, status)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, network.ErrDeleted), errors.Is(err, network.ErrNotFound):
		return errInactive
	}
	return s.unavailable(r.Context(), fmt.Errorf("setting the network token %s: %w", status, err))
}

// delete is DELETE /network-tokens/{id}: the card is erased, not only its
// network token (Basis Theory keeps a deleted network token readable as
// inactive; tokengate's record holds the sealed card number, so after a
// delete nothing may open it). Through purge.Eraser, with reason "api":
// the network token is deleted at its service first (if that fails, 503
// and the card is kept, so the call can be retried), an audit entry is
// written before the record goes (if it cannot be, 503 and nothing is
// erased), then the record, its cached copies and any CVV held for it go.
// Afterwards the id answers 404 to every call, a second DELETE included,
// and the same token no longer pays through the gateway.
func (s *Server) delete(r *http.Request, p Principal) (int, any) {
	rec, prob := s.record(r.Context(), p, r.PathValue("id"))
	if prob != nil {
		return 0, prob
	}
	erased, err := s.eraser().Erase(r.Context(), rec.Tenant, rec.Token, purge.ReasonAPI)
	switch {
	case err != nil:
		return 0, s.unavailable(r.Context(), fmt.Errorf("erasing the card: %w", err))
	case !erased:
		return 0, errNotFound // erased by another call meanwhile
	}
	if rec.Network.Status != network.StatusDeleted {
		rec.Network.Status = network.StatusDeleted
		s.notify(rec, "network-token.deleted")
	}
	return http.StatusNoContent, nil
}

// notify tells Notify of a state change, with the object masked.
func (s *Server) notify(rec vault.Record, eventType string) {
	if s.Notify != nil {
		s.Notify(TenantID(rec.Tenant), eventType, render(rec, "", false))
	}
}
