package lifecycle

import (
	"context"
	"time"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/vault"
)

// Reasons of a state change in the audit trail: ReasonAPI for a change a
// served API asked for, ReasonWebhook for one a provider's webhook
// reported; a change learned from a provider's answer (a cryptogram refused
// as suspended) has the provider's name.
const (
	ReasonAPI     = "api"
	ReasonWebhook = "webhook"
)

// StatusEntry is the audit entry of rec's token moving to status: the
// tenant, the token, the new status and why. The request's ids and the
// caller's API key id come from ctx (audit.Fill).
func StatusEntry(ctx context.Context, rec vault.Record, status, reason, outcome string) audit.Entry {
	e := audit.Entry{Time: time.Now().UTC(), Action: audit.ActionTokenStatus, Outcome: outcome, Tenant: rec.Tenant,
		Tokens: []audit.TokenUse{{Token: rec.Token, Became: status, Reason: reason}}}
	if rec.Network.Provider != "" {
		e.Detail = map[string]string{"provider": rec.Network.Provider}
	}
	audit.Fill(ctx, &e)
	return e
}

// auditStatus records a state change; the error is the recorder's.
func (m *Manager) auditStatus(ctx context.Context, rec vault.Record, status, reason, outcome string) error {
	if m.Audit == nil {
		return nil
	}
	return m.Audit.Record(ctx, StatusEntry(ctx, rec, status, reason, outcome))
}

// auditStatusBestEffort records a change that happened (or failed) either
// way: a recorder's failure goes to AuditFailed.
func (m *Manager) auditStatusBestEffort(ctx context.Context, rec vault.Record, status, reason, outcome string) {
	if err := m.auditStatus(ctx, rec, status, reason, outcome); err != nil && m.AuditFailed != nil {
		m.AuditFailed(ctx, audit.ActionTokenStatus, err)
	}
}
