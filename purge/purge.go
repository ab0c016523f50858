// Package purge erases cards: the retention sweep (cards not used for
// longer than their tenant's period), `caddy tokengate purge` (a tenant, a
// Juspay customer, a token list) and the served APIs' deletes (Basis
// Theory's DELETE /network-tokens/{id}, Juspay's /v4/card/delete of the
// last customer) all go through Eraser.Erase, so an erased card is erased
// the same way wherever the erasure comes from (PCI DSS v4.0 3.2.1: account
// data kept no longer than needed, and deleted securely when no longer
// needed).
//
// Erasing a card, in order: its network token is deleted at the service
// that issued it (if that fails, nothing else happens: the card is kept,
// and the next sweep, purge or delete tries again, rather than leave a live
// network credential nobody can reach); then the record is deleted from the
// vault through the stack's vault (the read cache forgets it, a short-lived
// copy goes with it); then any CVV still held for the token is taken and
// dropped. After that nothing in the gateway opens the card: the token
// answers as unknown. It is free of Caddy.
package purge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
)

// Reasons an erasure is made: the label of tokengate_purged_records_total
// and the audit entry's detail.
const (
	ReasonRetention = "retention" // the retention sweep
	ReasonPurge     = "purge"     // caddy tokengate purge
	ReasonAPI       = "api"       // a served API's delete
)

// Eraser erases cards from the running stack.
type Eraser struct {
	// Vault is the stack's vault (short-lived layer over the read cache):
	// deleting through it drops every copy the gateway holds.
	Vault vault.Vault
	// Lifecycle deletes network tokens at their services.
	Lifecycle *lifecycle.Manager
	// CVVs is the CVV store; a CVV held for an erased token is dropped.
	CVVs cvv.Store
	// Audit records each erasure (nil: audit.Discard).
	Audit audit.Recorder
	// Observe, when set, is told of each card erased (ok) or kept because
	// its network token could not be deleted (!ok), with the reason.
	Observe func(reason string, ok bool)
}

// ErrNetworkToken wraps the failure to delete a card's network token at its
// service: the card was kept.
var ErrNetworkToken = errors.New("purge: the network token could not be deleted at its service; the card is kept")

// Erase erases the card filed under tenant and token. It reads the record
// again first, so what is erased is what is stored now. A record already
// gone is not an error (two gateways sweeping the same database do the
// same work twice, harmlessly).
func (e *Eraser) Erase(ctx context.Context, tenant, token, reason string) (erased bool, err error) {
	return e.EraseIf(ctx, tenant, token, reason, nil)
}

// EraseIf is Erase of a record that still meets cond as it is read now
// (nil: any): the sweep erases a card only if it was not used since the
// page it was found on was read.
func (e *Eraser) EraseIf(ctx context.Context, tenant, token, reason string, cond func(vault.Record) bool) (erased bool, err error) {
	ctx = vault.WithoutTouch(ctx)
	vault.Invalidate(e.Vault, tenant, token)
	rec, err := e.Vault.Get(ctx, tenant, token)
	if errors.Is(err, vault.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("purge: reading the record: %w", err)
	}
	if vault.IsShortLived(rec) || cond != nil && !cond(rec) {
		return false, nil
	}
	if err := e.deleteNetworkToken(ctx, rec); err != nil {
		if e.Observe != nil {
			e.Observe(reason, false)
		}
		_ = e.recorder().Record(ctx, entry(ctx, rec, reason, audit.OutcomeFailed, "network_token_kept"))
		return false, err
	}
	// Audited before the record goes: an erasure the trail cannot record
	// does not happen (fail closed), and is tried again.
	if err := e.recorder().Record(ctx, entry(ctx, rec, reason, audit.OutcomeOK, "erased")); err != nil {
		return false, fmt.Errorf("purge: audit: %w", err)
	}
	err = e.Vault.Delete(ctx, tenant, token)
	vault.Invalidate(e.Vault, tenant, token)
	if errors.Is(err, vault.ErrNotFound) {
		// Another gateway sweeping the same database erased it meanwhile:
		// counted there.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("purge: deleting the record: %w", err)
	}
	if e.CVVs != nil {
		_, _, _ = e.CVVs.TakeCVV(context.WithoutCancel(ctx), tenant, token) // dropped, never used
	}
	if e.Observe != nil {
		e.Observe(reason, true)
	}
	return true, nil
}

// deleteNetworkToken deletes rec's network token at its service, unless it
// has none or it is deleted already.
func (e *Eraser) deleteNetworkToken(ctx context.Context, rec vault.Record) error {
	if rec.Network.ID == "" || rec.Network.Status == network.StatusDeleted {
		return nil
	}
	err := e.Lifecycle.SetStatus(ctx, rec, network.StatusDeleted)
	switch {
	case err == nil, errors.Is(err, network.ErrDeleted), errors.Is(err, network.ErrNotFound):
		return nil
	case errors.Is(err, lifecycle.ErrProviderUnavailable):
		return fmt.Errorf("%w (service %q is not configured)", ErrNetworkToken, rec.Network.Provider)
	}
	return fmt.Errorf("%w (service %q): %w", ErrNetworkToken, rec.Network.Provider, err)
}

func (e *Eraser) recorder() audit.Recorder {
	if e.Audit == nil {
		return audit.Discard
	}
	return e.Audit
}

// entry is the audit entry of one erasure: tenant, token, reason; never
// card data. A served API's delete adds its request id and the caller's
// API key id from ctx (audit.Fill); a sweep's ctx has none.
func entry(ctx context.Context, rec vault.Record, reason, outcome, became string) audit.Entry {
	d := map[string]string{"reason": reason}
	if rec.Network.Provider != "" {
		d["network_provider"] = rec.Network.Provider
	}
	e := audit.Entry{Time: time.Now().UTC(), Action: audit.ActionPurge, Outcome: outcome, Tenant: rec.Tenant,
		Tokens: []audit.TokenUse{{Token: rec.Token, Became: became, Reason: reason}}, Detail: d}
	audit.Fill(ctx, &e)
	return e
}

// CustomerKey is the Metadata key the Juspay API saves a card for a
// customer under.
func CustomerKey(customer string) string { return "juspay.customer:" + customer }

// savedForOthers reports whether rec is saved for a Juspay customer other
// than customer.
func savedForOthers(rec vault.Record, customer string) bool {
	for k := range rec.Metadata {
		if strings.HasPrefix(k, "juspay.customer:") && k != CustomerKey(customer) {
			return true
		}
	}
	return false
}

// ForgetCustomer erases the card filed under tenant and token for a
// customer: the customer's mark is removed, and the card itself is erased
// (for reason: ReasonPurge for `caddy tokengate purge --customer`,
// ReasonAPI for Juspay's /v4/card/delete) unless another customer has it
// saved too (their copy is theirs). It returns false and no error when the
// card is not saved for customer (any more).
func (e *Eraser) ForgetCustomer(ctx context.Context, tenant, token, customer, reason string) (erased bool, err error) {
	ctx = vault.WithoutTouch(ctx)
	for range 3 {
		vault.Invalidate(e.Vault, tenant, token)
		rec, err := e.Vault.Get(ctx, tenant, token)
		if errors.Is(err, vault.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("purge: reading the record: %w", err)
		}
		if _, ok := rec.Metadata[CustomerKey(customer)]; !ok {
			return false, nil
		}
		if !savedForOthers(rec, customer) {
			// Checked again on the record the erase reads: another
			// customer may have saved the card since.
			return e.EraseIf(ctx, tenant, token, reason, func(r vault.Record) bool {
				_, mine := r.Metadata[CustomerKey(customer)]
				return mine && !savedForOthers(r, customer)
			})
		}
		next := rec
		next.Metadata = maps.Clone(rec.Metadata)
		delete(next.Metadata, CustomerKey(customer))
		_, err = e.Vault.Update(ctx, next)
		if errors.Is(err, vault.ErrConflict) {
			continue
		}
		return false, err
	}
	return false, errors.New("purge: the record kept changing (3 conflicts)")
}
