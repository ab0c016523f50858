// Package cvv is the contract for CVV stores. PCI DSS forbids storing a CVV
// after authorization, even encrypted: a CVV is held briefly, in memory (or a
// memory-only shared store, sealed), linked to the token it came with, and
// used once.
package cvv

import (
	"context"
	"time"
)

// Store holds card verification values for a short while, linked to a
// token. PCI DSS forbids storing a CVV after authorization, even encrypted, so
// implementations keep it in memory only (or in a memory-only shared store)
// and never on disk.
type Store interface {
	// PutCVV holds cvv for the token until ttl passes, replacing any earlier one.
	PutCVV(ctx context.Context, tenant, token, cvv string, ttl time.Duration) error
	// TakeCVV returns the held CVV and forgets it: a CVV serves one
	// authorization. ok is false when none is held (never sent, or expired).
	TakeCVV(ctx context.Context, tenant, token string) (cvv string, ok bool, err error)
}
