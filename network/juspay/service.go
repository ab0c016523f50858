package juspay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/tokengate/tokengate/jwe"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/network/providerhttp"
)

// Provision asks Juspay for a network token (generateToken). Juspay keeps
// one card per customer and card, so a retried call finds the card it
// saved: no orphan token.
func (c *Client) Provision(ctx context.Context, req network.ProvisionRequest) (network.Token, error) {
	customer := c.customer(req)
	if customer == "" {
		return network.Token{}, fmt.Errorf("juspay: no customer id (set customer_id, or tenants)")
	}
	cardData, err := c.encryptCard(req)
	if err != nil {
		return network.Token{}, fmt.Errorf("juspay: encrypting the card data: %w", err)
	}
	consent := req.IdempotencyKey
	if consent == "" {
		consent = uuid.NewString()
	}
	body := map[string]any{
		"service":         "NETWORK_TOKEN",
		"cardData":        cardData,
		"orderData":       map[string]string{"consentId": consent, "customerId": customer},
		"audit":           map[string]string{"authRefNo": consent},
		"shouldSendToken": true,
		"keyId":           c.cfg.PrivateKeyID,
		"correlationId":   strings.ReplaceAll(uuid.NewString(), "-", ""),
	}
	a, err := c.post(ctx, "/generateToken", customer, body)
	if err != nil {
		return network.Token{}, err
	}
	if a.Status != http.StatusOK {
		return network.Token{}, refusal(a, "generateToken")
	}
	var env struct {
		Status       string  `json:"status"`
		ErrorCode    *string `json:"errorCode"`
		ErrorMessage *string `json:"errorMessage"`
		Payload      *string `json:"payload"`
	}
	if err := json.Unmarshal(a.Body, &env); err != nil {
		return network.Token{}, fmt.Errorf("%w: juspay generateToken: a malformed answer", providerhttp.ErrUnavailable)
	}
	if env.Status != "SUCCESS" || env.Payload == nil {
		code, msg := "provider_error", ""
		if env.ErrorCode != nil {
			code = strings.ToLower(*env.ErrorCode)
		}
		if env.ErrorMessage != nil {
			msg = *env.ErrorMessage
		}
		if code == "service_unavailable" || code == "provider_error" {
			return network.Token{}, fmt.Errorf("%w: juspay generateToken: %s", providerhttp.ErrUnavailable, code)
		}
		return network.Token{}, network.RemoteError(code, msg)
	}
	msg, err := jwe.Parse(*env.Payload)
	if err != nil {
		return network.Token{}, fmt.Errorf("%w: juspay generateToken: the payload is not a JWE", providerhttp.ErrUnavailable)
	}
	plain, err := msg.Decrypt(c.cfg.PrivateKey)
	if err != nil {
		return network.Token{}, fmt.Errorf("%w: juspay generateToken: the payload does not decrypt with private_key", providerhttp.ErrUnavailable)
	}
	defer clear(plain)
	var p struct {
		Token, TokenExpiryMonth, TokenExpiryYear, Par, TokenStatus, CardReference, CardBrand string
	}
	if err := json.Unmarshal(plain, &p); err != nil || p.CardReference == "" || p.Token == "" {
		return network.Token{}, fmt.Errorf("%w: juspay generateToken: a malformed payload", providerhttp.ErrUnavailable)
	}
	return network.Token{ID: tokenID(customer, p.CardReference), DPAN: p.Token, ExpMonth: p.TokenExpiryMonth, ExpYear: p.TokenExpiryYear,
		PAR: p.Par, Status: p.TokenStatus, Brand: brandOf(p.CardBrand)}, nil
}

// brandOf maps Juspay's network names to tokengate's brands.
func brandOf(name string) string {
	switch name {
	case "AMEX", "AMERICANEXPRESS":
		return "amex"
	case "DINERSCLUB":
		return "diners"
	}
	return strings.ToLower(name)
}

// cardGet is /v4/card/get: the token and a fresh cryptogram.
func (c *Client) cardGet(ctx context.Context, id, op string) (token, cryptogram, eci, par string, err error) {
	customer, ref, ok := splitID(id)
	if !ok {
		return "", "", "", "", fmt.Errorf("juspay %s: %w", op, network.ErrNotFound)
	}
	a, err := c.post(ctx, "/v4/card/get", customer, map[string]string{"card_reference": ref, "customer_id": customer})
	if err != nil {
		return "", "", "", "", err
	}
	if a.Status != http.StatusOK {
		return "", "", "", "", refusal(a, op)
	}
	var out struct {
		ECI                   string `json:"eci"`
		AuthenticationDetails struct {
			Cryptogram string `json:"cryptogram"`
			Token      string `json:"token"`
		} `json:"authentication_details"`
		CardDetails struct {
			PAR string `json:"par"`
		} `json:"card_details"`
	}
	if err := json.Unmarshal(a.Body, &out); err != nil || out.AuthenticationDetails.Token == "" {
		return "", "", "", "", fmt.Errorf("%w: juspay %s: a malformed answer", providerhttp.ErrUnavailable, op)
	}
	return out.AuthenticationDetails.Token, out.AuthenticationDetails.Cryptogram, out.ECI, out.CardDetails.PAR, nil
}

// Get reads the token's status (the status check) and, while it is active,
// its number (/v4/card/get).
func (c *Client) Get(ctx context.Context, id string) (network.Token, error) {
	customer, ref, ok := splitID(id)
	if !ok {
		return network.Token{}, fmt.Errorf("juspay get: %w", network.ErrNotFound)
	}
	a, err := c.post(ctx, "/v4/card/status", customer, map[string]string{"card_reference": ref, "customer_id": customer})
	if err != nil {
		return network.Token{}, err
	}
	if a.Status != http.StatusOK {
		return network.Token{}, refusal(a, "get")
	}
	var st struct {
		Payload struct {
			TokenStatus, TokenExpiryMonth, TokenExpiryYear string
		} `json:"payload"`
	}
	if err := json.Unmarshal(a.Body, &st); err != nil || st.Payload.TokenStatus == "" {
		return network.Token{}, fmt.Errorf("%w: juspay get: a malformed answer", providerhttp.ErrUnavailable)
	}
	t := network.Token{ID: id, ExpMonth: st.Payload.TokenExpiryMonth, ExpYear: st.Payload.TokenExpiryYear, Status: statusOf(st.Payload.TokenStatus)}
	if t.Status == network.StatusActive {
		if t.DPAN, _, _, t.PAR, err = c.cardGet(ctx, id, "get"); err != nil {
			return network.Token{}, err
		}
	}
	return t, nil
}

func statusOf(s string) string {
	switch s {
	case "ACTIVE":
		return network.StatusActive
	case "SUSPENDED":
		return network.StatusSuspended
	}
	return network.StatusDeleted // INACTIVE, EXPIRED, DELETED
}

// Cryptogram gets a fresh cryptogram (/v4/card/get). Juspay takes no
// transaction type: tokengate's lifecycle applies the networks' MIT rules.
func (c *Client) Cryptogram(ctx context.Context, req network.CryptogramRequest) (network.Cryptogram, error) {
	_, value, eci, _, err := c.cardGet(ctx, req.TokenID, "cryptogram")
	if err != nil {
		return network.Cryptogram{}, err
	}
	if value == "" {
		return network.Cryptogram{}, fmt.Errorf("%w: juspay cryptogram: an answer without a cryptogram", providerhttp.ErrUnavailable)
	}
	return network.Cryptogram{Value: value, ECI: eci}, nil
}

// SetStatus deletes the card for the customer (/v4/card/delete). Juspay's
// APIs have no suspend or resume: those are refused.
func (c *Client) SetStatus(ctx context.Context, id, status string) error {
	if status != network.StatusDeleted {
		if status == network.StatusActive || status == network.StatusSuspended {
			return &network.Error{Code: network.CodeUnsupportedOperation, Message: "Juspay's APIs cannot suspend or resume a token"}
		}
		return &network.Error{Code: network.CodeInvalidStatus, Message: "Invalid Token Status"}
	}
	customer, ref, ok := splitID(id)
	if !ok {
		return fmt.Errorf("juspay delete: %w", network.ErrNotFound)
	}
	a, err := c.post(ctx, "/v4/card/delete", customer, map[string]string{"card_reference": ref, "customer_id": customer})
	if err != nil {
		return err
	}
	if a.Status != http.StatusOK || !strings.Contains(string(a.Body), `"SUCCESS"`) {
		return refusal(a, "delete")
	}
	return nil
}

// Interface guard.
var _ network.Service = (*Client)(nil)
