package juspayapi

import (
	"context"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/vault"
)

// audit records that rec's network token number (reveal) or a cryptogram
// with it is about to be answered to merchant m; one the recorder cannot
// write is answered 503 with Juspay's envelope, and nothing is returned
// (fail closed). The request's ids and the caller's key id come from ctx.
func (s *Server) audit(ctx context.Context, action string, m Merchant, rec vault.Record) map[string]any {
	if s.Audit == nil {
		return nil
	}
	e := audit.Entry{Time: time.Now().UTC(), Action: action, Outcome: audit.OutcomeOK, Tenant: rec.Tenant,
		Tokens: []audit.TokenUse{{Token: rec.Token, Became: "network_token"}}, Detail: map[string]string{"merchant_id": m.ID}}
	audit.Fill(ctx, &e)
	if err := s.Audit.Record(ctx, e); err != nil {
		return s.unavailable(ctx, fmt.Errorf("the audit entry of a %s could not be written: %w", action, err))
	}
	return nil
}
