// Package lifecycle keeps a card's network token in step between the token
// services and the vault: it provisions tokens for new cards, gives back
// tokens that ended up unused, provisions again for cards stored without one,
// fetches cryptograms from the service that issued each token, and records
// the state changes services report. Tokenize, detokenize, the served token
// APIs and webhooks all go through one Manager, so a state change is recorded
// the same way wherever it is learned.
package lifecycle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
)

// Reasons a card has no usable network token. They go into
// vault.NetworkToken.Error and the detokenize injection report; none holds
// card data.
const (
	ReasonNoTokenService      = "no_token_service"
	ReasonNoExpiry            = "no_expiry"
	ReasonTimeout             = "timeout"
	ReasonProviderError       = "provider_error"
	ReasonProviderUnavailable = "provider_unavailable"
	ReasonSuspended           = "suspended"
	ReasonDeleted             = "deleted"
	ReasonNoNetworkToken      = "no_network_token"
)

// Manager is safe for concurrent use.
type Manager struct {
	// Vault holds the records whose network token state Manager records.
	Vault vault.Vault
	// Keys seal a re-provisioned token's number into its record.
	Keys *keys.Keys
	// Networks are the configured token services by name.
	Networks network.Registry
	// Provisioner names the service that provisions new cards; "" means
	// new cards are vault-only.
	Provisioner string
	// ProvisionTimeout bounds a provisioning call; past it the card is
	// stored vault-only with the reason "timeout" (and tried again when it
	// comes back). Zero means no bound beyond ctx's.
	ProvisionTimeout time.Duration
	// Observe, when set, is told of every state change recorded (for
	// metrics and logs); it gets the provider and the new status only.
	Observe func(provider, status string)
	// Audit, when set, records every token state change (see audit.go);
	// AuditFailed is told of an entry it could not write for a change the
	// network had made already (the change stands).
	Audit       audit.Recorder
	AuditFailed func(ctx context.Context, action string, err error)
}

// Service returns the service that issued a token, if it is configured.
func (m *Manager) Service(provider string) (network.Service, bool) {
	return m.Networks.Lookup(provider)
}

// SupportsBrand reports whether new cards of the brand can get a network
// token: there is a provisioning service, and it tokenizes the brand (when
// it says which brands it does).
func (m *Manager) SupportsBrand(brand card.Brand) bool {
	svc, ok := m.Networks.Lookup(m.Provisioner)
	if !ok {
		return false
	}
	if bs, ok := svc.(network.BrandSupporter); ok {
		return bs.SupportsBrand(string(brand))
	}
	return true
}

// IdempotencyKey is the provisioning idempotency key for a card of a tenant:
// stable, so a retry after a timeout gets the token the first attempt made,
// and derived from the keyed fingerprint, so it reveals nothing of the card.
// previous is the card's former network token, when it had one that was
// deleted: provisioning anew must not replay the deleted token (providers
// replay an idempotent answer for a day).
func IdempotencyKey(tenant, fingerprint, previous string) string {
	sum := sha256.Sum256([]byte("tokengate provision|" + tenant + "|" + fingerprint + "|" + previous))
	return "tg_" + hex.EncodeToString(sum[:16])
}

// Provision asks the provisioning service for a token for the card within
// ctx's deadline. Any failure gives a vault-only card whose NetworkToken.Error
// says why; the DPAN is "" then.
func (m *Manager) Provision(ctx context.Context, req network.ProvisionRequest) (vault.NetworkToken, string) {
	return m.ProvisionWith(ctx, "", req)
}

// ProvisionWith is Provision through the named service ("" for the
// Provisioner), for rule sets that name theirs.
func (m *Manager) ProvisionWith(ctx context.Context, provider string, req network.ProvisionRequest) (vault.NetworkToken, string) {
	if provider == "" {
		provider = m.Provisioner
	}
	svc, ok := m.Networks.Lookup(provider)
	if !ok {
		return vault.NetworkToken{Error: ReasonNoTokenService}, ""
	}
	if req.ExpMonth == "" || req.ExpYear == "" {
		// A network token is provisioned for a card and its expiry; the
		// card is stored vault-only until it comes with one.
		return vault.NetworkToken{Error: ReasonNoExpiry}, ""
	}
	if m.ProvisionTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.ProvisionTimeout)
		defer cancel()
	}
	tok, err := svc.Provision(ctx, req)
	nt := vault.NetworkToken{Provider: svc.Name()}
	var nerr *network.Error
	switch {
	case err == nil:
		nt.ID, nt.Status, nt.ExpMonth, nt.ExpYear, nt.PAR = tok.ID, tok.Status, tok.ExpMonth, tok.ExpYear, tok.PAR
		nt.Last4 = card.Last4(tok.DPAN)
		return nt, tok.DPAN
	case errors.As(err, &nerr):
		nt.Error = nerr.Code
	case errors.Is(err, context.DeadlineExceeded):
		nt.Error = ReasonTimeout
	default:
		nt.Error = ReasonProviderError
	}
	return nt, ""
}

// Retryable says whether a card without a usable network token should get
// another try: after a timeout or a provider error the card itself was fine;
// a card first sent without an expiry, once it has one; a card whose token
// was deleted (through an API, or by the network), since a deleted token
// never comes back and a card presented again needs a new one.
func Retryable(nt vault.NetworkToken, hasExpiry bool) bool {
	if nt.ID != "" {
		return nt.Status == network.StatusDeleted && hasExpiry
	}
	return nt.Error == ReasonTimeout || nt.Error == ReasonProviderError || nt.Error == ReasonNoExpiry && hasExpiry
}

// SetStatus moves rec's network token to status (ACTIVE, SUSPENDED or
// DELETED) at the service that issued it, then records it in the vault. The
// error is the service's (a wrapped network.ErrDeleted when the token is
// already deleted, ErrProviderUnavailable when the service is not
// configured).
func (m *Manager) SetStatus(ctx context.Context, rec vault.Record, status string) error {
	svc, ok := m.Networks.Lookup(rec.Network.Provider)
	if !ok || rec.Network.ID == "" {
		return ErrProviderUnavailable
	}
	// Recorded before the change is asked for: a change the audit trail
	// cannot record is not made (the error is the recorder's).
	if err := m.auditStatus(ctx, rec, status, ReasonAPI, audit.OutcomeOK); err != nil {
		return err
	}
	if err := svc.SetStatus(ctx, rec.Network.ID, status); err != nil {
		m.auditStatusBestEffort(ctx, rec, status, ReasonAPI, audit.OutcomeFailed)
		return err
	}
	m.recordStatus(ctx, rec, status, false)
	return nil
}

// ErrProviderUnavailable means the record's network token was issued by a
// service that is not configured here (or it has none).
var ErrProviderUnavailable = errors.New("lifecycle: the network token's service is not configured")

// Reprovision tries again, through the named service ("" for the
// Provisioner), to get a network token for a known card and
// returns the record with the token and its number sealed in, or ok=false
// (the record unchanged). The caller stores it.
func (m *Manager) Reprovision(ctx context.Context, provider string, rec vault.Record, req network.ProvisionRequest) (vault.Record, bool) {
	nt, dpan := m.ProvisionWith(ctx, provider, req)
	if dpan == "" {
		return rec, false
	}
	secrets, err := m.Keys.Open(rec.Tenant, rec.Fingerprint, rec.Token, rec.Sealed)
	if err != nil {
		m.Discard(ctx, nt)
		return rec, false
	}
	secrets.DPAN = dpan
	sealed, err := m.Keys.Seal(rec.Tenant, rec.Fingerprint, rec.Token, secrets)
	if err != nil {
		m.Discard(ctx, nt)
		return rec, false
	}
	rec.Sealed, rec.Network = sealed, nt
	return rec, true
}

// Discard deletes a network token that ended up unused, so the network does
// not keep a live credential nobody references. Best effort, and it outlives
// ctx's cancellation.
func (m *Manager) Discard(ctx context.Context, nt vault.NetworkToken) {
	if nt.ID == "" {
		return
	}
	if svc, ok := m.Networks.Lookup(nt.Provider); ok {
		_ = svc.SetStatus(context.WithoutCancel(ctx), nt.ID, network.StatusDeleted)
	}
}

// Cryptogram asks the service that issued rec's token for a cryptogram. On
// failure it records what the service said (suspended, deleted) and returns
// the reason for the fallback; on success it records that the token is
// active again if the vault thought otherwise.
func (m *Manager) Cryptogram(ctx context.Context, rec vault.Record, req network.CryptogramRequest) (network.Cryptogram, string) {
	if rec.Network.ID == "" {
		if rec.Network.Error != "" {
			return network.Cryptogram{}, rec.Network.Error
		}
		return network.Cryptogram{}, ReasonNoNetworkToken
	}
	svc, ok := m.Networks.Lookup(rec.Network.Provider)
	if !ok {
		return network.Cryptogram{}, ReasonProviderUnavailable
	}
	if req.Initiator == network.MerchantInitiated && card.Brand(rec.Brand) == card.Mastercard {
		// A Mastercard merchant-initiated transaction carries no cryptogram,
		// whatever the provider would issue.
		return network.Cryptogram{}, ""
	}
	req.TokenID = rec.Network.ID
	crypt, err := svc.Cryptogram(ctx, req)
	if err == nil {
		m.RecordStatus(ctx, rec, network.StatusActive) // a suspended token may have been resumed
		return crypt, ""
	}
	switch {
	case errors.Is(err, network.ErrSuspended):
		m.RecordStatus(ctx, rec, network.StatusSuspended)
		return network.Cryptogram{}, ReasonSuspended
	case errors.Is(err, network.ErrDeleted), errors.Is(err, network.ErrNotFound):
		m.RecordStatus(ctx, rec, network.StatusDeleted)
		return network.Cryptogram{}, ReasonDeleted
	}
	return network.Cryptogram{}, ReasonProviderError
}

// maxConflicts bounds RecordStatus's re-reads when other writers keep
// changing the record.
const maxConflicts = 3

// RecordStatus brings the vault's copy of rec's token status in line with
// what the network said. The write is a compare-and-set: if the record
// changed since rec was read (another gateway, a webhook), it is read again
// and the status applied to the current version, unless the token there is
// another one by now. Best effort: the network stays the source of truth.
func (m *Manager) RecordStatus(ctx context.Context, rec vault.Record, status string) {
	m.recordStatus(ctx, rec, status, true)
}

// recordStatus is RecordStatus; audited says to record the change it
// makes in the audit trail, with the provider as its reason (SetStatus
// recorded its own).
func (m *Manager) recordStatus(ctx context.Context, rec vault.Record, status string, audited bool) {
	if rec.Network.Status == status {
		return // the usual case, every cryptogram: no context built for nothing
	}
	ctx = context.WithoutCancel(ctx)
	id := rec.Network.ID
	for range maxConflicts {
		if rec.Network.ID != id || rec.Network.Status == status {
			return
		}
		rec.Network.Status = status
		_, err := m.Vault.Update(ctx, rec)
		if err == nil {
			if m.Observe != nil {
				m.Observe(rec.Network.Provider, status)
			}
			if audited {
				m.auditStatusBestEffort(ctx, rec, status, rec.Network.Provider, audit.OutcomeOK)
			}
			return
		}
		if !errors.Is(err, vault.ErrConflict) {
			return
		}
		vault.Invalidate(m.Vault, rec.Tenant, rec.Token)
		if rec, err = m.Vault.Get(ctx, rec.Tenant, rec.Token); err != nil {
			return
		}
	}
}
