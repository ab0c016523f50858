// Package network talks to network token services (Visa VTS, Mastercard
// MDES, through a token service provider). Service is the contract; Builtin is
// the embedded emulator, and HTTP providers (Juspay, Basis Theory) implement
// the same interface.
package network

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokengate/tokengate/vault"
)

// Token states, as the card networks name them.
const (
	StatusActive    = "ACTIVE"
	StatusSuspended = "SUSPENDED"
	StatusDeleted   = "DELETED"
)

// ProvisionRequest carries the card to provision. It holds a PAN and a CVV:
// never log it or put it in an error. Its strings are valid only during the
// call: the CVV points into the request's body buffer, which the gateway
// zeroes and reuses for another customer's request once the call is over,
// so a service that keeps anything past its call (a queue, a retry, a
// cache) copies what it keeps, or better, keeps only what it derived.
type ProvisionRequest struct {
	// Tenant is the tokengate tenant the card belongs to; a provider that
	// serves several merchants keeps their tokens apart by it.
	Tenant string
	// CustomerID is the merchant's id for the cardholder, when it has one
	// (Juspay routes by it, as x-routing-id); empty otherwise.
	CustomerID string
	// IdempotencyKey makes provisioning safe to retry: a second request with
	// the same key returns the token the first created (unless it was
	// deleted since) instead of creating another, so a timed-out or retried
	// call never leaves an orphan token at the provider. tokengate derives it
	// from the tenant and the card's keyed fingerprint.
	IdempotencyKey string

	PAN      string
	ExpMonth string // "03"
	ExpYear  string // "2030"
	CVV      string // optional
	Brand    string // card.Brand as a string ("visa", "mastercard", ...)
	Name     string // optional cardholder name
	// Address is the cardholder's billing address, when known (Basis Theory
	// sends it to the network as cardholder_info).
	Address Address
	// Unit, when set, is the unit of work of the card this token is for: a
	// service that keeps state (the builtin) holds its writes there, to be
	// committed with the card's record, and keeps its claims on the new
	// token's id and number until the unit ends (see vault.Unit). Services
	// whose state lives at the provider ignore it. Nil means the state is
	// saved before Provision returns.
	Unit *vault.Unit
}

// Address is a cardholder's billing address; every field is optional.
type Address struct {
	Line1      string
	Line2      string
	City       string
	State      string
	PostalCode string
	Country    string // ISO 3166-1 alpha-2
}

// Initiator says who starts a transaction, which decides whether the network
// asks for a cryptogram.
type Initiator string

const (
	// CustomerInitiated (CIT): the cardholder is present and pays now; the
	// network token travels with a fresh cryptogram.
	CustomerInitiated Initiator = "cit"
	// MerchantInitiated (MIT): a subscription or instalment the merchant
	// charges on its own. A Mastercard MIT carries no cryptogram.
	MerchantInitiated Initiator = "mit"
)

// CryptogramRequest asks for the cryptogram of one transaction.
type CryptogramRequest struct {
	// TokenID is the provider's id of the network token.
	TokenID string
	// CustomerID is the merchant's id for the cardholder, for providers that
	// route by it; empty otherwise.
	CustomerID string
	// Initiator is CustomerInitiated (the default when empty) or
	// MerchantInitiated.
	Initiator Initiator
	// Amount, in minor units ("1000" for 10.00), and Currency (ISO 4217) bind
	// the cryptogram to the transaction for providers that support it;
	// both are optional.
	Amount   string
	Currency string
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
	Value string // base64, secret, never log it; empty when the transaction takes none
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
	// or ErrDeleted otherwise. For a transaction that takes none (a
	// Mastercard MIT) the Value is empty.
	Cryptogram(ctx context.Context, req CryptogramRequest) (Cryptogram, error)
	// SetStatus moves a token through its lifecycle (ACTIVE <-> SUSPENDED,
	// -> DELETED which is final).
	SetStatus(ctx context.Context, id, status string) error
}

// Registry holds the configured network token services by name, so that each
// vault record goes back to the service that issued its token
// (vault.NetworkToken.Provider).
type Registry map[string]Service

// Lookup returns the service called name, if it is configured.
func (r Registry) Lookup(name string) (Service, bool) {
	s, ok := r[name]
	return s, ok && s != nil
}

// BrandSupporter is implemented by a service that knows which card brands it
// can tokenize (the builtin: the brands with token BINs), for card info
// answers (Juspay's tokenize_support).
type BrandSupporter interface {
	SupportsBrand(brand string) bool
}
