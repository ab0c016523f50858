// Package juspay is a network token service backed by Juspay's tokenization
// APIs (seeds 000, 002): generateToken with the card as a JWE, /v4/card/get
// for each payment's cryptogram, the status check and /v4/card/delete. Its
// answers read as the builtin emulator's (the same refusal codes, the same
// states). Juspay keeps cards per customer: a token id here is the customer
// id and Juspay's cardReference together, since every call needs both.
package juspay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokengate/tokengate/jwe"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/network/providerhttp"
)

// Config configures a client.
type Config struct {
	// BaseURL is the API's base, e.g. https://sandbox.juspay.in.
	BaseURL string
	// APIKey is the merchant's API key (sent as the Basic auth user).
	APIKey string
	// MerchantID is sent as x-merchantid.
	MerchantID string
	// JWEKeyID and JWEKey are Juspay's public key the card data is
	// encrypted to, and the kid that names it.
	JWEKeyID string
	JWEKey   *rsa.PublicKey
	// PrivateKeyID names the merchant key pair Juspay encrypts answers to
	// (keyId); PrivateKey decrypts them.
	PrivateKeyID string
	PrivateKey   *rsa.PrivateKey
	// CustomerID is the Juspay customer cards are saved for (x-routing-id,
	// customerId) when the request names none; the default is the tenant.
	CustomerID string
	// Timeout bounds one HTTP attempt (default 5s).
	Timeout time.Duration
	// MaxTries bounds the attempts of a retryable call (default 3).
	MaxTries uint
	// Transport is the HTTP transport (default: http.DefaultTransport).
	Transport http.RoundTripper
}

// Client is safe for concurrent use.
type Client struct {
	cfg    Config
	base   *url.URL
	caller *providerhttp.Caller
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	base, err := providerhttp.CheckBaseURL("juspay", cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.APIKey == "" || cfg.MerchantID == "":
		return nil, errors.New("juspay: api_key and merchant_id are required")
	case cfg.JWEKey == nil || cfg.JWEKeyID == "":
		return nil, errors.New("juspay: jwe_key (Juspay's public key and its kid) is required")
	case cfg.PrivateKey == nil:
		return nil, errors.New("juspay: private_key (the merchant key Juspay encrypts answers to) is required")
	}
	return &Client{cfg: cfg, base: base, caller: providerhttp.New(providerhttp.Config{
		Name: "juspay", Timeout: cfg.Timeout, MaxTries: cfg.MaxTries, Transport: cfg.Transport})}, nil
}

// Name returns "juspay".
func (c *Client) Name() string { return "juspay" }

// tokenID joins a customer and a card reference into one token id.
func tokenID(customer, reference string) string {
	return url.PathEscape(customer) + "/" + reference
}

// splitID splits a token id into customer and card reference.
func splitID(id string) (customer, reference string, ok bool) {
	i := strings.LastIndex(id, "/")
	if i <= 0 || i == len(id)-1 {
		return "", "", false
	}
	customer, err := url.PathUnescape(id[:i])
	return customer, id[i+1:], err == nil
}

// post sends a JSON body to path and returns the answer.
func (c *Client) post(ctx context.Context, path, customer string, body any) (providerhttp.Answer, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return providerhttp.Answer{}, err
	}
	return c.caller.Do(ctx, "POST "+path, true, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth(c.cfg.APIKey, "")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-merchantid", c.cfg.MerchantID)
		req.Header.Set("x-routing-id", customer)
		req.Header.Set("version", "2024-01-01")
		return req, nil
	})
}

// failure reads Juspay's error answers: seed 002's {error, user_message,
// error_message}, and seed 001's {error_code, error_info}.
type failure struct {
	Error        bool   `json:"error"`
	UserMessage  string `json:"user_message"`
	ErrorMessage string `json:"error_message"`
	ErrorCode    string `json:"error_code"`
	Status       string `json:"status"`
}

// refusal maps an answer that is not a success to tokengate's errors.
func refusal(a providerhttp.Answer, op string) error {
	var f failure
	_ = json.Unmarshal(a.Body, &f)
	switch {
	case a.Status == http.StatusUnauthorized || f.ErrorCode == "access_denied":
		return fmt.Errorf("%w: juspay %s: the API key is refused: check api_key and merchant_id", providerhttp.ErrUnavailable, op)
	case f.ErrorMessage == "TOKEN_SUSPENDED":
		return fmt.Errorf("juspay %s: %w", op, network.ErrSuspended)
	case f.ErrorMessage == "TOKEN_DELETED":
		return fmt.Errorf("juspay %s: %w", op, network.ErrDeleted)
	case f.UserMessage == "Stored Card Entry Not Found" || f.ErrorMessage == "INVALID_REQUEST" || a.Status == http.StatusNotFound:
		return fmt.Errorf("juspay %s: %w", op, network.ErrNotFound)
	case a.Status == http.StatusBadRequest:
		return &network.Error{Code: network.CodeInvalidCard, Message: "Juspay refused the card data"}
	}
	return fmt.Errorf("%w: juspay %s: status %d", providerhttp.ErrUnavailable, op, a.Status)
}

// encryptCard makes cardData as Juspay's own clients do: the card JSON,
// encoded once more as a JSON string, in a compact JWE to Juspay's key.
func (c *Client) encryptCard(req network.ProvisionRequest) (string, error) {
	card := map[string]string{"cardNumber": req.PAN, "expMonth": req.ExpMonth, "expYear": req.ExpYear}
	if req.CVV != "" {
		card["cardSecurityCode"] = req.CVV
	}
	if req.Name != "" {
		card["nameOnCard"] = req.Name
	}
	inner, _ := json.Marshal(card)
	plain, _ := json.Marshal(string(inner))
	clear(inner)
	defer clear(plain)
	return jwe.Encrypt(c.cfg.JWEKey, c.cfg.JWEKeyID, plain)
}

// customer is the Juspay customer a request's card is saved for.
func (c *Client) customer(req network.ProvisionRequest) string {
	switch {
	case req.CustomerID != "":
		return req.CustomerID
	case c.cfg.CustomerID != "":
		return c.cfg.CustomerID
	}
	return req.Tenant
}

// BreakerState names the state of the client's circuit breaker (see
// providerhttp.Caller.BreakerState).
func (c *Client) BreakerState() string { return c.caller.BreakerState() }
