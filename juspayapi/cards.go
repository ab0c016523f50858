package juspayapi

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/vault"
)

// cardRequest is the body of /v4/card/get, /v4/card/delete and
// /v4/card/status.
type cardRequest struct {
	CardReference string `json:"card_reference"`
	CustomerID    string `json:"customer_id"`
	SubmerchantID string `json:"submerchantId"`
}

// savedCard reads the request and returns the merchant's record saved for
// the customer. A card of another tenant, or not saved for this customer,
// answers like an unknown one.
func (s *Server) savedCard(r *http.Request, m Merchant) (vault.Record, cardRequest, int, any) {
	var req cardRequest
	if prob := decode(r, &req); prob != nil {
		return vault.Record{}, req, http.StatusBadRequest, prob
	}
	for field, v := range map[string]string{"card_reference": req.CardReference, "customer_id": req.CustomerID} {
		if v == "" {
			return vault.Record{}, req, http.StatusBadRequest, inputError(field, "nullable", field+" is required.")
		}
	}
	rec, err := s.Vault.Get(r.Context(), m.Tenant, req.CardReference)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		return rec, req, http.StatusBadRequest, notFound
	case err != nil:
		return rec, req, http.StatusServiceUnavailable, s.unavailable(r.Context(), err)
	}
	if _, saved := rec.Metadata[customerKey(req.CustomerID)]; !saved || rec.Tenant != m.Tenant || vault.IsShortLived(rec) {
		return vault.Record{}, req, http.StatusBadRequest, notFound
	}
	return rec, req, 0, nil
}

// getCard is POST /v4/card/get (seed 002): the network token with a fresh
// cryptogram.
func (s *Server) getCard(r *http.Request, m Merchant) (int, any) {
	rec, req, status, prob := s.savedCard(r, m)
	if prob != nil {
		return status, prob
	}
	if rec.Network.ID == "" || rec.Network.Status == network.StatusDeleted {
		return http.StatusBadRequest, failure("Not Found", "The card has no active network token.")
	}
	c, reason := s.Lifecycle.Cryptogram(r.Context(), rec, network.CryptogramRequest{CustomerID: req.CustomerID, Initiator: network.CustomerInitiated})
	switch reason {
	case "":
	case lifecycle.ReasonSuspended, lifecycle.ReasonDeleted:
		return http.StatusBadRequest, failure("TOKEN_"+strings.ToUpper(reason), "The card's network token is "+reason+".")
	default:
		return http.StatusServiceUnavailable, s.unavailable(r.Context(), fmt.Errorf("no cryptogram: %s", reason))
	}
	secrets, err := s.Keys.Open(m.Tenant, rec.Fingerprint, rec.Token, rec.Sealed)
	if err != nil {
		return http.StatusServiceUnavailable, s.unavailable(r.Context(), fmt.Errorf("opening the record: %w", err))
	}
	vault.Invalidate(s.Vault, rec.Tenant, rec.Token) // the cryptogram call may have recorded a status change
	if fresh, err := s.Vault.Get(r.Context(), m.Tenant, rec.Token); err == nil {
		rec = fresh
	}
	if prob := s.audit(r.Context(), audit.ActionCryptogram, m, rec); prob != nil {
		return http.StatusServiceUnavailable, prob
	}
	return http.StatusOK, map[string]any{
		"eci":                c.ECI,
		"name_on_card":       secrets.Name,
		"token_requestor_id": tokenRequestorID(m.Tenant, rec.Network.Provider),
		"fingerprint":        cardFingerprint(rec),
		"card_type":          nil, // tokengate has no BIN database: credit or debit is unknown
		"reference":          rec.Token,
		"customer_id":        req.CustomerID,
		"sub_type":           nil,
		"network":            networkName(rec.Brand),
		"token_details": map[string]any{
			"status":            rec.Network.Status,
			"first_six":         secrets.DPAN[:min(6, len(secrets.DPAN))],
			"last_four":         rec.Network.Last4,
			"exp_month":         rec.Network.ExpMonth,
			"exp_year":          rec.Network.ExpYear,
			"provider":          networkName(rec.Brand),
			"provider_category": "NETWORK",
		},
		"issuer_country_code":    nil,
		"authentication_details": map[string]any{"cryptogram": c.Value, "token": secrets.DPAN},
		"nickname":               nil,
		"issuer":                 nil,
		"card_details": map[string]any{
			"last_four": rec.Last4,
			"par":       rec.Network.PAR,
			"exp_month": rec.ExpMonth,
			"exp_year":  rec.ExpYear,
		},
	}
}

// tokenRequestorID is an 11-digit token requestor id, stable per tenant and
// token service: the networks give each token requestor one; tokengate,
// being its own requestor, derives it.
func tokenRequestorID(tenant, provider string) string {
	sum := sha256.Sum256([]byte("tokengate token requestor|" + tenant + "|" + provider))
	return "4" + strconv.FormatUint(binary.BigEndian.Uint64(sum[:8])%1e10+1e10, 10)[1:]
}

// deleteCard is POST /v4/card/delete: the card is no longer saved for the
// customer. While other customers have it saved, only this customer's mark
// goes; once the last customer deletes it, the card is erased through
// purge.Eraser with reason "api": its network token deleted at its service
// first (if that fails, 503 and the card stays saved, so the call can be
// retried rather than leave a live token nobody can reach), an audit entry
// (none written: 503, nothing erased), then the record, its cached copies
// and any CVV held for it. A gateway token of the same card (the same
// record, when the merchant also tokenized the card inbound) then stops
// paying: the merchant asked for the card to be deleted.
func (s *Server) deleteCard(r *http.Request, m Merchant) (int, any) {
	rec, req, status, prob := s.savedCard(r, m)
	if prob != nil {
		if status == http.StatusBadRequest {
			return status, failure("INVALID_REQUEST", "card_reference or customer_id is invalid")
		}
		return status, prob
	}
	// Not erased and no error: another customer still has the card saved,
	// or a concurrent delete for this customer did the work.
	if _, err := s.eraser().ForgetCustomer(r.Context(), rec.Tenant, rec.Token, req.CustomerID, purge.ReasonAPI); err != nil {
		return http.StatusServiceUnavailable, s.unavailable(r.Context(), fmt.Errorf("deleting the card: %w", err))
	}
	return http.StatusOK, map[string]any{"status": "SUCCESS"}
}

// tokenStatus is POST /v4/card/status, the token status check Hyperswitch
// calls (Juspay documents no path for it; this one is tokengate's): the
// token's status and expiry, and the card's last four digits and expiry.
func (s *Server) tokenStatus(r *http.Request, m Merchant) (int, any) {
	rec, _, status, prob := s.savedCard(r, m)
	if prob != nil {
		return status, prob
	}
	st := rec.Network.Status
	if rec.Network.ID == "" {
		st = "INACTIVE"
	}
	return http.StatusOK, map[string]any{"payload": map[string]any{
		"tokenStatus":      st,
		"tokenExpiryMonth": rec.Network.ExpMonth,
		"tokenExpiryYear":  rec.Network.ExpYear,
		"tokenLastFour":    rec.Network.Last4,
		"cardLastFour":     rec.Last4,
		"cardExpiryMonth":  rec.ExpMonth,
		"cardExpiryYear":   rec.ExpYear,
	}}
}

// maxListPages bounds GET /cards' scan of the tenant's records.
const maxListPages = 100

// listCards is GET /cards?customer_id= (seed 004): the cards saved for the
// customer, each with its token block.
func (s *Server) listCards(r *http.Request, m Merchant) (int, any) {
	customer := r.URL.Query().Get("customer_id")
	if customer == "" {
		return http.StatusBadRequest, inputError("customer_id", "nullable", "customer_id is required.")
	}
	cards := []map[string]any{}
	opts := vault.ListOptions{Limit: vault.MaxListLimit}
	for range maxListPages {
		page, err := s.Vault.List(r.Context(), m.Tenant, opts)
		if err != nil {
			return http.StatusServiceUnavailable, s.unavailable(r.Context(), err)
		}
		for _, rec := range page.Records {
			if _, ok := rec.Metadata[customerKey(customer)]; ok {
				cards = append(cards, s.listEntry(rec))
			}
		}
		if page.Next == "" {
			break
		}
		opts.After = page.Next
	}
	return http.StatusOK, map[string]any{"customer_id": customer, "merchantId": m.ID, "cards": cards}
}

func (s *Server) listEntry(rec vault.Record) map[string]any {
	name, tokenISIN := "", ""
	if secrets, err := s.Keys.Open(rec.Tenant, rec.Fingerprint, rec.Token, rec.Sealed); err == nil {
		name, tokenISIN = secrets.Name, secrets.DPAN[:min(6, len(secrets.DPAN))]
	}
	active := rec.Network.ID != "" && rec.Network.Status == network.StatusActive
	category, provider, status := "VAULT", "TOKENGATE", "INACTIVE"
	if rec.Network.ID != "" {
		category, provider = "NETWORK", networkName(rec.Brand)
		status = rec.Network.Status
		if status == network.StatusDeleted {
			status = "INACTIVE"
		}
	}
	first4 := rec.BIN[:min(4, len(rec.BIN))]
	if active {
		first4 = "XXXX" // as Juspay masks once token repeat is on
	}
	return map[string]any{
		"card_token":          rec.Token,
		"card_reference":      rec.Token,
		"card_number":         first4 + "-XXXXXXXX-" + rec.Last4,
		"card_isin":           rec.BIN[:min(6, len(rec.BIN))],
		"card_exp_year":       rec.ExpYear,
		"card_exp_month":      rec.ExpMonth,
		"card_type":           nil,
		"card_issuer":         nil,
		"card_brand":          networkName(rec.Brand),
		"nickname":            "",
		"name_on_card":        name,
		"expired":             expired(rec.ExpMonth, rec.ExpYear),
		"card_fingerprint":    cardFingerprint(rec),
		"juspay_bank_code":    nil,
		"card_sub_type":       nil,
		"card_issuer_country": nil,
		"tokenize_support":    s.Lifecycle.SupportsBrand(card.Brand(rec.Brand)),
		"provider_category":   category,
		"provider":            provider,
		"token": map[string]any{
			"card_reference":      rec.Token,
			"last_four_digits":    nullable(rec.Network.Last4),
			"card_fingerprint":    cardFingerprint(rec),
			"card_isin":           nullable(tokenISIN),
			"expiry_month":        rec.Network.ExpMonth,
			"expiry_year":         rec.Network.ExpYear,
			"par":                 rec.Network.PAR,
			"tokenization_status": status,
		},
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// expired reports whether a card's expiry month has passed.
func expired(month, year string) bool {
	m, okM := card.ParseExpMonth(month)
	y, okY := card.ParseExpYear(year)
	if !okM || !okY {
		return false
	}
	now := time.Now().UTC()
	return y < now.Year() || y == now.Year() && m < int(now.Month())
}

// cardBin is GET /cardbins/{bin} (seed 004): the brand of a BIN and whether
// its cards can get network tokens here. tokengate has no BIN database, so
// bank, country and type are null.
func (s *Server) cardBin(r *http.Request, _ Merchant) (int, any) {
	bin := r.PathValue("bin")
	if len(bin) < 6 || len(bin) > 9 {
		return http.StatusBadRequest, inputError("bin", "invalid", "bin must be 6 to 9 digits.")
	}
	brand := card.BrandOfBIN(bin)
	if brand == "" {
		return http.StatusBadRequest, inputError("bin", "invalid", "bin is not a card range of a known brand.")
	}
	return http.StatusOK, map[string]any{
		"id":               bin,
		"object":           "cardbin",
		"brand":            networkName(string(brand)),
		"bank":             nil,
		"country":          nil,
		"type":             nil,
		"card_sub_type":    nil,
		"juspay_bank_code": nil,
		"tokenize_support": s.Lifecycle.SupportsBrand(brand),
	}
}
