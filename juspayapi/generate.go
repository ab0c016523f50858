package juspayapi

import (
	"context"
	"crypto/rsa"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/jwe"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
)

// generateRequest is POST /generateToken (seed 000). Field names match
// case-insensitively, so the docs' PascalCase (orderData.ConsentId) and the
// samples' camelCase both work.
type generateRequest struct {
	Service         string          `json:"service"`
	CardData        string          `json:"cardData"`
	OrderData       *orderData      `json:"orderData"`
	Audit           json.RawMessage `json:"audit"`
	ShouldSendToken *bool           `json:"shouldSendToken"`
	SubmerchantID   string          `json:"submerchantId"`
	KeyID           string          `json:"keyId"`
	CorrelationID   string          `json:"correlationId"`
}

type orderData struct {
	ConsentID  string `json:"consentId"`
	CustomerID string `json:"customerId"`
}

// cardPlain is cardData's plaintext: camelCase as every Juspay client sends
// it, the docs' PascalCase accepted too.
type cardPlain struct {
	CardNumber       string `json:"cardNumber"`
	ExpMonth         string `json:"expMonth"`
	ExpYear          string `json:"expYear"`
	CardSecurityCode string `json:"cardSecurityCode"`
	NameOnCard       string `json:"nameOnCard"`
}

// customerKey is the metadata key saying a card is saved for a customer.
// It is purge's, which erases a customer's cards.
func customerKey(customerID string) string { return purge.CustomerKey(customerID) }

func (s *Server) generateToken(r *http.Request, m Merchant) (int, any) {
	var req generateRequest
	if prob := decode(r, &req); prob != nil {
		return http.StatusBadRequest, prob
	}
	switch {
	case req.Service != "" && req.Service != "NETWORK_TOKEN":
		return http.StatusBadRequest, inputError("service", "invalid", "service must be NETWORK_TOKEN.")
	case req.CardData == "":
		return http.StatusBadRequest, inputError("cardData", "nullable", "cardData is required.")
	case req.OrderData == nil || req.OrderData.CustomerID == "":
		return http.StatusBadRequest, inputError("orderData.customerId", "nullable", "orderData.customerId is required.")
	case req.OrderData.ConsentID == "":
		return http.StatusBadRequest, inputError("orderData.consentId", "nullable", "orderData.consentId is required: network tokens need the customer's consent.")
	}
	pub, prob := merchantKey(m, req.KeyID)
	if prob != nil {
		return http.StatusBadRequest, prob
	}
	c, prob := s.decryptCard(req.CardData)
	if prob != nil {
		return http.StatusBadRequest, prob
	}
	if brand, err := card.Validate(card.Normalize(c.CardNumber)); err == nil && brand == card.Amex && (len(req.Audit) == 0 || string(req.Audit) == "null") {
		return http.StatusBadRequest, inputError("audit", "nullable", "audit is required for American Express cards.")
	}
	year := c.ExpYear
	if len(year) == 2 {
		year = "20" + year
	}
	in := tokenize.Card{
		Number:     &body.Value{Path: "cardData.cardNumber", Raw: c.CardNumber},
		ExpMonth:   &body.Value{Path: "cardData.expMonth", Raw: c.ExpMonth},
		ExpYear:    &body.Value{Path: "cardData.expYear", Raw: year},
		CustomerID: req.OrderData.CustomerID,
	}
	if c.CardSecurityCode != "" {
		in.CVV = &body.Value{Path: "cardData.cardSecurityCode", Raw: c.CardSecurityCode}
	}
	if c.NameOnCard != "" {
		in.Name = &body.Value{Path: "cardData.nameOnCard", Raw: c.NameOnCard}
	}
	rec, _, err := s.Tokenizer.Store(r.Context(), m.Tenant, rules.FormatPrefixed, "token_", in)
	var fe *body.FieldError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest, inputError(fe.Field, errorCode(fe.Code), fe.Reason+".")
	case err != nil:
		return http.StatusServiceUnavailable, s.unavailable(r.Context(), err)
	}
	if rec.Network.ID == "" || rec.Network.Status == network.StatusDeleted {
		return s.refused(r.Context(), rec.Network)
	}
	if rec, err = s.saveFor(r.Context(), rec, req.OrderData.CustomerID); err != nil {
		return http.StatusServiceUnavailable, s.unavailable(r.Context(), err)
	}
	secrets, err := s.Keys.Open(m.Tenant, rec.Fingerprint, rec.Token, rec.Sealed)
	if err != nil {
		return http.StatusServiceUnavailable, s.unavailable(r.Context(), fmt.Errorf("opening the record: %w", err))
	}
	correlation := req.CorrelationID
	if correlation == "" {
		correlation = strings.ReplaceAll(uuid.NewString(), "-", "")
	}
	token := secrets.DPAN
	if req.ShouldSendToken != nil && !*req.ShouldSendToken {
		token = card.Mask(secrets.DPAN) // never null: Hyperswitch requires the field
	} else if prob := s.audit(r.Context(), audit.ActionReveal, m, rec); prob != nil {
		return http.StatusServiceUnavailable, prob
	}
	payload := map[string]any{
		"digitalCardArt":     nil,
		"networkResponse":    nil,
		"token":              token,
		"cardFingerprint":    cardFingerprint(rec),
		"tokenIsin":          isin(secrets.DPAN),
		"enrolledPan":        nil,
		"tokenExpiryYear":    rec.Network.ExpYear,
		"vaultProvider":      "NETWORK_TOKEN",
		"cardBrand":          networkName(rec.Brand),
		"tokenExpiryMonth":   rec.Network.ExpMonth,
		"par":                rec.Network.PAR,
		"customerId":         req.OrderData.CustomerID,
		"correlationId":      correlation,
		"tokenLastFour":      rec.Network.Last4,
		"tokenStatus":        rec.Network.Status,
		"provisionedTokenId": rec.Network.ID,
		"cardReference":      rec.Token,
	}
	plain, _ := json.Marshal(payload)
	compact, err := jwe.Encrypt(pub, "", plain)
	clear(plain)
	if err != nil {
		return http.StatusServiceUnavailable, s.unavailable(r.Context(), fmt.Errorf("encrypting the answer: %w", err))
	}
	return http.StatusOK, map[string]any{"errorCode": nil, "errorMessage": nil, "payload": compact, "status": "SUCCESS"}
}

// unavailable reports the cause of a vault or token service failure to
// Failed and returns the envelope answered with 503, which tells nothing of
// it: nothing was stored for the customer; the call can be retried.
func (s *Server) unavailable(ctx context.Context, cause error) map[string]any {
	if s.Failed != nil {
		s.Failed(ctx, cause)
	}
	return map[string]any{"errorCode": "SERVICE_UNAVAILABLE", "errorMessage": "The token service or the vault is unavailable; retry later.", "payload": nil, "status": "FAILURE"}
}

// refused is generateToken's answer when the network issued no token: the
// envelope with status FAILURE and the network's code.
func (s *Server) refused(ctx context.Context, nt vault.NetworkToken) (int, any) {
	switch nt.Error {
	case lifecycle.ReasonTimeout, lifecycle.ReasonProviderError, lifecycle.ReasonNoTokenService, "":
		return http.StatusServiceUnavailable, s.unavailable(ctx, fmt.Errorf("no network token was issued: %s", nt.Error))
	}
	return http.StatusOK, map[string]any{"errorCode": strings.ToUpper(nt.Error), "errorMessage": "The card network did not issue a network token (" + nt.Error + ").", "payload": nil, "status": "FAILURE"}
}

// merchantKey picks the merchant public key the answer is encrypted to: the
// one keyId names, or the merchant's only key.
func merchantKey(m Merchant, keyID string) (*rsa.PublicKey, map[string]any) {
	if keyID != "" {
		if k, ok := m.Keys[keyID]; ok {
			return k, nil
		}
		return nil, inputError("keyId", "invalid", "keyId names no key of this merchant.")
	}
	if len(m.Keys) == 1 {
		for _, k := range m.Keys {
			return k, nil
		}
	}
	if len(m.Keys) == 0 {
		return nil, inputError("keyId", "invalid", "This merchant has no key configured to encrypt the answer to (merchant_key).")
	}
	return nil, inputError("keyId", "nullable", "keyId is required: this merchant has several keys.")
}

// decryptCard opens cardData: a compact JWE (RSA-OAEP-256, A128GCM) whose kid
// names one of the server's keys, holding the card as a JSON object or as a
// JSON string that holds the object (what Juspay's own clients send).
func (s *Server) decryptCard(compact string) (cardPlain, map[string]any) {
	var c cardPlain
	msg, err := jwe.Parse(compact)
	if err != nil {
		return c, inputError("cardData", "invalid", "cardData must be a compact JWE encrypted with RSA-OAEP-256 and A128GCM.")
	}
	// The key is picked by the JWE's kid; Decrypt below is then the one call
	// that may succeed.
	key, ok := s.DecryptionKeys[msg.KeyID()]
	if !ok && msg.KeyID() == "" && len(s.DecryptionKeys) == 1 {
		for _, k := range s.DecryptionKeys {
			key, ok = k, true
		}
	}
	if !ok {
		return c, inputError("cardData", "invalid", "cardData is encrypted to a key (kid) this server does not hold.")
	}
	plain, err := msg.Decrypt(key)
	if err != nil {
		return c, inputError("cardData", "invalid", "cardData does not decrypt with the key its kid names.")
	}
	defer clear(plain)
	if len(plain) > 0 && plain[0] == '"' {
		var inner string
		if err := json.Unmarshal(plain, &inner); err != nil {
			return c, inputError("cardData", "invalid", "cardData's plaintext is not JSON.")
		}
		plain = []byte(inner)
		defer clear(plain)
	}
	if err := json.Unmarshal(plain, &c); err != nil {
		return c, inputError("cardData", "invalid", "cardData's plaintext is not the card JSON object (cardNumber, expMonth, expYear).")
	}
	for field, v := range map[string]string{"cardData.cardNumber": c.CardNumber, "cardData.expMonth": c.ExpMonth, "cardData.expYear": c.ExpYear} {
		if v == "" {
			return c, inputError(field, "nullable", field+" is required.")
		}
	}
	return c, nil
}

// saveFor records that the card is saved for the customer, if it is not
// already (a compare-and-set, read again on a conflict).
func (s *Server) saveFor(ctx context.Context, rec vault.Record, customerID string) (vault.Record, error) {
	for range 3 {
		if _, ok := rec.Metadata[customerKey(customerID)]; ok {
			return rec, nil
		}
		next := rec
		next.Metadata = maps.Clone(rec.Metadata)
		if next.Metadata == nil {
			next.Metadata = map[string]string{}
		}
		next.Metadata[customerKey(customerID)] = ""
		stored, err := s.Vault.Update(ctx, next)
		if !errors.Is(err, vault.ErrConflict) {
			return stored, err
		}
		vault.Invalidate(s.Vault, rec.Tenant, rec.Token)
		if rec, err = s.Vault.Get(ctx, rec.Tenant, rec.Token); err != nil {
			return rec, err
		}
	}
	return rec, vault.ErrConflict
}

// errorCode is Juspay's error_code for a card validation failure.
func errorCode(code string) string {
	switch code {
	case "invalid_exp_month":
		return "invalidRange"
	case "missing_value":
		return "nullable"
	}
	return "invalid"
}

// cardFingerprint is a 26-character card fingerprint, as Juspay's: the
// start of the record's keyed fingerprint, the same for the same card in
// the tenant and revealing nothing of it.
func cardFingerprint(rec vault.Record) string {
	fp := rec.Fingerprint
	if b, err := hex.DecodeString(fp); err == nil {
		fp = strings.ToLower(strings.TrimRight(base32hex.EncodeToString(b), "="))
	}
	return fp[:min(26, len(fp))]
}

// isin is the token's first nine digits.
func isin(dpan string) string { return dpan[:min(9, len(dpan))] }

// networkName is the card brand as Juspay names networks (Hyperswitch's
// CardNetwork accepts these).
func networkName(brand string) string {
	switch card.Brand(brand) {
	case card.Amex:
		return "AMEX"
	case card.Diners:
		return "DINERSCLUB"
	}
	return strings.ToUpper(brand)
}

var base32hex = base32.HexEncoding
