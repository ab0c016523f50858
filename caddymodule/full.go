package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/vault"
)

// storeFull is the answer to a card refused because a bounded in-memory
// store holds all it may (a CVV past the memory store's max_held or its
// tenant's max_held_per_tenant, a short-lived card past
// vault.MaxShortLived), or ok=false for any other failure. It is a 503 like a store that is down, because it is the same
// for the client (nothing was forwarded; retry), but it names the store
// and the bound, so an operator reading the answer or the log knows it is
// load, not an outage, and which limit to raise.
func (a *App) storeFull(err error) (gatewayError, bool) {
	switch {
	case errors.Is(err, cvv.ErrFull):
		name := "the CVV store"
		if a != nil && a.cvvBackend != nil {
			name = "the CVV store (cvv_store " + caddy.GetModuleName(a.cvvBackend) + ")"
		}
		held := " holds as many CVVs as it is allowed (max_held)"
		if errors.Is(err, cvvmem.ErrShareFull) { // the store has room, this merchant's share has not
			held = " holds as many of this merchant's CVVs as it is allowed (max_held_per_tenant)"
		}
		return gatewayError{status: http.StatusServiceUnavailable, code: "cvv_store_full", category: "SERVER_ERROR", infoCode: "SERVICE_UNAVAILABLE",
			message: "The card's CVV could not be held: " + name + held + "; nothing was forwarded. Retry later.",
			cause:   err}, true
	case errors.Is(err, vault.ErrShortLivedFull):
		return gatewayError{status: http.StatusServiceUnavailable, code: "short_lived_store_full", category: "SERVER_ERROR", infoCode: "SERVICE_UNAVAILABLE",
			message: "The card could not be kept: the short-lived card store holds as many cards as it is allowed; nothing was forwarded. Retry later.",
			cause:   err}, true
	}
	return gatewayError{}, false
}
