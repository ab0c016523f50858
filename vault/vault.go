// Package vault stores tokenized cards. A Vault only ever sees sealed
// (encrypted) card data and keyed fingerprints: encryption and fingerprinting
// happen in Keys (Seal, Fingerprint) before a Record reaches a backend, so no backend can leak a
// PAN it never had.
package vault

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns, so callers can branch without knowing the backend.
var (
	// ErrNotFound means no record has that token (in that tenant).
	ErrNotFound = errors.New("vault: token not found")
	// ErrTokenTaken means another record in the tenant already uses the token
	// string; the caller picks a new token and tries again.
	ErrTokenTaken = errors.New("vault: token already in use")
)

// NetworkToken is what the vault remembers of the card's network token.
// The DPAN itself is kept inside Record.Sealed, never here.
type NetworkToken struct {
	// Provider names the token service that issued it ("builtin", "juspay", ...).
	Provider string `json:"provider,omitempty"`
	// ID is the provider's identifier for the network token.
	ID string `json:"id,omitempty"`
	// Status is the last known state: ACTIVE, SUSPENDED or DELETED.
	Status string `json:"status,omitempty"`
	// ExpMonth and ExpYear are the token's expiry ("03", "2030").
	ExpMonth string `json:"exp_month,omitempty"`
	ExpYear  string `json:"exp_year,omitempty"`
	// PAR is the Payment Account Reference (29 characters), not sensitive.
	PAR string `json:"par,omitempty"`
	// Last4 is the last four digits of the DPAN.
	Last4 string `json:"last4,omitempty"`
	// Error says why no usable network token exists ("card_not_eligible",
	// "timeout", ...); empty when provisioning succeeded.
	Error string `json:"error,omitempty"`
}

// Record is one tokenized card.
type Record struct {
	// Tenant scopes the token: tokens and fingerprints are unique per tenant.
	Tenant string `json:"tenant"`
	// Token is the reference the merchant holds.
	Token string `json:"token"`
	// Fingerprint is a keyed hash (hex) of the PAN, the same for the same PAN
	// in the same tenant.
	Fingerprint string `json:"fingerprint"`
	// Sealed is the AEAD ciphertext of the card's secrets (see Secrets).
	Sealed []byte `json:"sealed"`
	// Brand, BIN and Last4 are the non-secret card facts PCI DSS lets us show.
	Brand string `json:"brand"`
	BIN   string `json:"bin"`
	Last4 string `json:"last4"`
	// ExpMonth and ExpYear are the card's expiry as received.
	ExpMonth string `json:"exp_month,omitempty"`
	ExpYear  string `json:"exp_year,omitempty"`
	// Network is the card's network token, if any.
	Network NetworkToken `json:"network"`
	// CreatedAt and UpdatedAt are set by the backend.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Vault is the storage contract every backend (bbolt, PostgreSQL) meets; the
// conformance suite in vaulttest proves it.
type Vault interface {
	// Put stores rec durably (it is on disk when Put returns). If the tenant
	// already holds a record with the same Fingerprint, nothing is written
	// and that record is returned with created=false. If the token string is
	// already used in the tenant, it returns ErrTokenTaken.
	Put(ctx context.Context, rec Record) (stored Record, created bool, err error)
	// Get returns the record holding token in tenant, or ErrNotFound.
	Get(ctx context.Context, tenant, token string) (Record, error)
	// GetByFingerprint returns the tenant's record for a fingerprint, or ErrNotFound.
	GetByFingerprint(ctx context.Context, tenant, fingerprint string) (Record, error)
	// Update replaces an existing record (found by tenant and token), keeping
	// its CreatedAt; ErrNotFound if there is none.
	Update(ctx context.Context, rec Record) error
	// Delete removes a record; ErrNotFound if there is none.
	Delete(ctx context.Context, tenant, token string) error
	// Close releases the backend.
	Close() error
}
