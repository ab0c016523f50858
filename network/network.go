// Package network talks to network token services (Visa VTS, Mastercard
// MDES, through a token service provider). Service is the contract; Builtin is
// the embedded emulator, and HTTP providers (Juspay, Basis Theory) implement
// the same interface.
package network

import (
	"context"
	"errors"
	"fmt"
)

// Token states, as the card networks name them.
const (
	StatusActive    = "ACTIVE"
	StatusSuspended = "SUSPENDED"
	StatusDeleted   = "DELETED"
)

// ProvisionRequest carries the card to provision. It holds a PAN and a CVV:
// never log it or put it in an error.
type ProvisionRequest struct {
	PAN      string
	ExpMonth string // "03"
	ExpYear  string // "2030"
	CVV      string // optional
	Brand    string // card.Brand as a string ("visa", "mastercard", ...)
	Name     string // optional cardholder name
}

// Token is a provisioned network token.
type Token struct {
	ID       string
	DPAN     string // the network token number: secret, never log it
	ExpMonth string
	ExpYear  string
	PAR      string
	Status   string
	Brand    string
}

// Cryptogram is a fresh, single-use cryptogram with its ECI.
type Cryptogram struct {
	Value string // base64, secret, never log it
	ECI   string
}

// Error is a token service's refusal, with a stable machine code and the
// service's human message (neither ever contains card data).
type Error struct {
	Code    string // e.g. "card_not_eligible"
	Message string // e.g. "Card Not Eligible"
}

// Error renders the code and message; neither holds card data.
func (e *Error) Error() string {
	return fmt.Sprintf("network token service: %s (%s)", e.Message, e.Code)
}

// Errors for token lifecycle states; Cryptogram and Get return them (wrapped).
var (
	ErrNotFound  = errors.New("network token not found")
	ErrSuspended = errors.New("network token suspended")
	ErrDeleted   = errors.New("network token deleted")
)

// Service is a network token service.
type Service interface {
	// Name identifies the provider ("builtin", "juspay", "basistheory").
	Name() string
	// Provision asks the network for a token for the card.
	Provision(ctx context.Context, req ProvisionRequest) (Token, error)
	// Get returns the token's current state and details.
	Get(ctx context.Context, id string) (Token, error)
	// Cryptogram returns a fresh cryptogram for an ACTIVE token; ErrSuspended
	// or ErrDeleted otherwise.
	Cryptogram(ctx context.Context, id string) (Cryptogram, error)
	// SetStatus moves a token through its lifecycle (ACTIVE <-> SUSPENDED,
	// -> DELETED which is final).
	SetStatus(ctx context.Context, id, status string) error
}
