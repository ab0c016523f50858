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
	// ErrConflict means Update lost a race: the record changed (its Version
	// moved on) since the caller read it. The caller reads it again and
	// decides anew; two gateways sharing a store never overwrite each
	// other's changes.
	ErrConflict = errors.New("vault: record changed since it was read")
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
	// EventAt is the provider's time of the last lifecycle event applied
	// to this network token (Basis Theory's event timestamp). An event
	// older than it arrived out of order and is ignored. It is compared
	// with the provider's own clock, never with UpdatedAt: a local write
	// (a new expiry, a re-seal) says nothing about the network's order. It
	// is part of the record, so it survives restarts, gateways sharing a
	// database see the same one, and it changes compare-and-set with the
	// status. A new network token starts without one.
	EventAt time.Time `json:"event_at,omitzero"`
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
	// A record read through the read cache shares these bytes with it and
	// with every other hit: never change them in place.
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
	// Metadata holds what the served token APIs keep with a card, never
	// card data: the Juspay customers the card is saved for, say. Keys are
	// namespaced by the API ("juspay.customer:<id>"). A record read from a
	// vault may share its map with the read cache and with other records
	// (dayMaps): never change it in place; clone it first (maps.Clone).
	Metadata map[string]string `json:"metadata,omitempty"`
	// CreatedAt and UpdatedAt are set by the backend.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version counts the record's writes: 1 when it is stored, one more on
	// every Update. The backend sets it; Update compares it.
	Version int64 `json:"version"`
}

// ListOptions pages through a tenant's records in token order.
type ListOptions struct {
	// After is the token the previous page ended with ("" for the first).
	After string
	// Limit is the most records a page holds; 0 or less means 100, and a
	// backend may cap it (MaxListLimit).
	Limit int
}

// MaxListLimit is the largest page List returns.
const MaxListLimit = 1000

// Page is one page of List.
type Page struct {
	Records []Record
	// Next is the After of the next page, "" when this is the last.
	Next string
}

// PageLimit returns the page size List uses for o.
func (o ListOptions) PageLimit() int {
	switch {
	case o.Limit <= 0:
		return 100
	case o.Limit > MaxListLimit:
		return MaxListLimit
	}
	return o.Limit
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
	// Update replaces an existing record (found by tenant and token) if its
	// Version is still rec.Version, keeping its CreatedAt, and returns it as
	// stored (Version one more). ErrConflict if the record changed since it
	// was read, ErrNotFound if there is none.
	Update(ctx context.Context, rec Record) (Record, error)
	// GetByNetworkToken returns the record holding the network token id that
	// provider issued, whatever its tenant (a provider's webhook names only
	// the token), or ErrNotFound.
	GetByNetworkToken(ctx context.Context, provider, id string) (Record, error)
	// List returns one page of the tenant's records, in token order.
	List(ctx context.Context, tenant string, opts ListOptions) (Page, error)
	// Delete removes a record; ErrNotFound if there is none.
	Delete(ctx context.Context, tenant, token string) error
	// Close releases the backend.
	Close() error
}

// Invalidator is implemented by a vault that keeps records in memory (Cache):
// Invalidate makes the next read of the record go to the store, for a change
// this process learned of from elsewhere (a webhook, another gateway).
type Invalidator interface {
	Invalidate(tenant, token string)
}

// Invalidate forgets any copy v keeps of the record in memory; it does
// nothing for a vault without one.
func Invalidate(v Vault, tenant, token string) {
	if i, ok := v.(Invalidator); ok {
		i.Invalidate(tenant, token)
	}
}
