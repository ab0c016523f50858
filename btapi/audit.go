package btapi

import (
	"context"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/vault"
)

// audit records that rec's network token number (reveal) or a cryptogram
// for it is about to be answered; one the recorder cannot write is answered
// 503, and nothing is returned (fail closed). The request's ids and the
// caller's key id come from ctx.
func (s *Server) audit(ctx context.Context, action string, rec vault.Record) *problem {
	if s.Audit == nil {
		return nil
	}
	e := audit.Entry{Time: time.Now().UTC(), Action: action, Outcome: audit.OutcomeOK, Tenant: rec.Tenant,
		Tokens: []audit.TokenUse{{Token: rec.Token, Became: "network_token"}}}
	audit.Fill(ctx, &e)
	if err := s.Audit.Record(ctx, e); err != nil {
		return s.unavailable(ctx, fmt.Errorf("the audit entry of a %s could not be written: %w", action, err))
	}
	return nil
}
