package basistheory

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/network"
)

// object is the part of Basis Theory's network token object tokengate reads.
type object struct {
	ID   string `json:"id"`
	Data struct {
		Number string `json:"number"`
	} `json:"data"`
	NetworkToken struct {
		ExpirationMonth int    `json:"expiration_month"`
		ExpirationYear  int    `json:"expiration_year"`
		Brand           string `json:"brand"`
	} `json:"network_token"`
	PAR    string `json:"par"`
	Status string `json:"status"`
}

// problem is the part of an RFC 7807 answer tokengate reads.
type problem struct {
	Title  string              `json:"title"`
	Detail string              `json:"detail"`
	Errors map[string][]string `json:"errors"`
}

// token reads an object answer into a network.Token. A number that is
// masked (the key lacks network-token:reveal) is not a DPAN.
func token(data []byte) (network.Token, error) {
	var o object
	if err := json.Unmarshal(data, &o); err != nil || o.ID == "" {
		return network.Token{}, fmt.Errorf("%w: a malformed network token object", errUnavailable)
	}
	t := network.Token{
		ID:       o.ID,
		DPAN:     o.Data.Number,
		ExpMonth: fmt.Sprintf("%02d", o.NetworkToken.ExpirationMonth),
		ExpYear:  strconv.Itoa(o.NetworkToken.ExpirationYear),
		PAR:      o.PAR,
		Status:   statusOf(o.Status),
		Brand:    brandOf(o.NetworkToken.Brand),
	}
	if strings.ContainsAny(t.DPAN, "Xx*") || t.Status == network.StatusDeleted {
		t.DPAN = ""
	}
	return t, nil
}

func statusOf(s string) string {
	switch s {
	case "active":
		return network.StatusActive
	case "suspended":
		return network.StatusSuspended
	}
	return network.StatusDeleted // inactive
}

// brandOf maps Basis Theory's brand names to tokengate's.
func brandOf(b string) string {
	switch b {
	case "american-express":
		return "amex"
	case "diners-club":
		return "diners"
	}
	return b
}

// refusal reads a problem answer: a 422 titled with a network's refusal is
// a *network.Error with the builtin's code (CARD_NOT_ELIGIBLE is
// card_not_eligible); the lifecycle titles are ErrSuspended and ErrDeleted.
func refusal(a answer, op string) error {
	var p problem
	_ = json.Unmarshal(a.body, &p)
	switch {
	case a.status == http.StatusNotFound:
		return fmt.Errorf("basistheory: %s: %w", op, network.ErrNotFound)
	case p.Title == "NETWORK_TOKEN_SUSPENDED":
		return fmt.Errorf("basistheory: %s: %w", op, network.ErrSuspended)
	case p.Title == "NETWORK_TOKEN_INACTIVE":
		return fmt.Errorf("basistheory: %s: %w", op, network.ErrDeleted)
	case a.status == http.StatusUnprocessableEntity && p.Title != "":
		return network.RemoteError(p.Title, p.Detail)
	case a.status == http.StatusBadRequest:
		fields := make([]string, 0, len(p.Errors))
		for f := range p.Errors {
			fields = append(fields, f)
		}
		return &network.Error{Code: network.CodeInvalidCard, Message: "Basis Theory refused the card data (" + strings.Join(fields, ", ") + ")"}
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		return fmt.Errorf("%w: %s: the API key is refused (status %d): check api_key and its network-token permissions", errUnavailable, op, a.status)
	}
	return fmt.Errorf("%w: %s: status %d", errUnavailable, op, a.status)
}

// createRequest is POST /network-tokens from raw card data.
type createRequest struct {
	Data           cardData        `json:"data"`
	CardholderInfo *cardholderInfo `json:"cardholder_info,omitempty"`
}

type cardData struct {
	Number          string `json:"number"`
	ExpirationMonth string `json:"expiration_month"`
	ExpirationYear  string `json:"expiration_year"`
	CVC             string `json:"cvc,omitempty"`
}

type cardholderInfo struct {
	Name    string   `json:"name,omitempty"`
	Address *address `json:"address,omitempty"`
}

type address struct {
	Line1       string `json:"line1,omitempty"`
	Line2       string `json:"line2,omitempty"`
	PostalCode  string `json:"postal_code,omitempty"`
	City        string `json:"city,omitempty"`
	StateCode   string `json:"state_code,omitempty"`
	CountryCode string `json:"country_code,omitempty"`
}

// Provision creates the network token, then reads it back for its number
// (the create answer shows it masked). The idempotency key makes the create
// safe to retry: a timed-out first attempt leaves no orphan token.
func (c *Client) Provision(ctx context.Context, req network.ProvisionRequest) (network.Token, error) {
	body := createRequest{Data: cardData{Number: req.PAN, ExpirationMonth: req.ExpMonth, ExpirationYear: req.ExpYear, CVC: req.CVV}}
	a := req.Address
	if req.Name != "" || a != (network.Address{}) {
		body.CardholderInfo = &cardholderInfo{Name: req.Name}
		if a != (network.Address{}) {
			body.CardholderInfo.Address = &address{Line1: a.Line1, Line2: a.Line2, PostalCode: a.PostalCode, City: a.City, StateCode: a.State, CountryCode: a.Country}
		}
	}
	key := ""
	if req.IdempotencyKey != "" {
		key = "tokengate-" + req.IdempotencyKey
	}
	ans, err := c.call(ctx, http.MethodPost, "/network-tokens", body, key, key != "")
	if err != nil {
		return network.Token{}, err
	}
	if ans.status != http.StatusCreated && ans.status != http.StatusOK {
		return network.Token{}, refusal(ans, "create")
	}
	created, err := token(ans.body)
	if err != nil {
		return network.Token{}, err
	}
	got, err := c.Get(ctx, created.ID)
	if err != nil {
		return network.Token{}, err
	}
	if got.DPAN == "" && got.Status != network.StatusDeleted {
		return network.Token{}, fmt.Errorf("%w: the network token's number is masked: the API key needs the network-token:reveal permission", errUnavailable)
	}
	return got, nil
}

// Get reads the token.
func (c *Client) Get(ctx context.Context, id string) (network.Token, error) {
	ans, err := c.call(ctx, http.MethodGet, "/network-tokens/"+url.PathEscape(id), nil, "", true)
	if err != nil {
		return network.Token{}, err
	}
	if ans.status != http.StatusOK {
		return network.Token{}, refusal(ans, "get")
	}
	return token(ans.body)
}

// Cryptogram asks for a cryptogram. Basis Theory takes no transaction
// details: a merchant-initiated transaction gets one too, and the network
// rules decide whether it is sent (see lifecycle).
func (c *Client) Cryptogram(ctx context.Context, req network.CryptogramRequest) (network.Cryptogram, error) {
	ans, err := c.call(ctx, http.MethodPost, "/network-tokens/"+url.PathEscape(req.TokenID)+"/cryptogram", nil, newKey(), true)
	if err != nil {
		return network.Cryptogram{}, err
	}
	if ans.status != http.StatusOK {
		return network.Cryptogram{}, refusal(ans, "cryptogram")
	}
	var out struct {
		Cryptogram string `json:"cryptogram"`
		ECI        string `json:"eci"`
	}
	if err := json.Unmarshal(ans.body, &out); err != nil || out.Cryptogram == "" {
		return network.Cryptogram{}, fmt.Errorf("%w: a malformed cryptogram answer", errUnavailable)
	}
	return network.Cryptogram{Value: out.Cryptogram, ECI: out.ECI}, nil
}

// SetStatus suspends (PUT /suspend), resumes (PUT /resume) or deletes
// (DELETE) the token; all three are idempotent, so they are retried.
func (c *Client) SetStatus(ctx context.Context, id, status string) error {
	path := "/network-tokens/" + url.PathEscape(id)
	method := http.MethodPut
	switch status {
	case network.StatusActive:
		path += "/resume"
	case network.StatusSuspended:
		path += "/suspend"
	case network.StatusDeleted:
		method = http.MethodDelete
	default:
		return &network.Error{Code: network.CodeInvalidStatus, Message: "Invalid Token Status"}
	}
	ans, err := c.call(ctx, method, path, nil, "", true)
	if err != nil {
		return err
	}
	if ans.status/100 != 2 {
		return refusal(ans, strings.ToLower(status))
	}
	return nil
}

// Interface guard.
var _ network.Service = (*Client)(nil)
