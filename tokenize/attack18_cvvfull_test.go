package tokenize_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/cvv"
)

// TestAttackRefusedRequestLeavesCVVsHeld: a request of several cards whose
// CVVs do not all fit (max_held reached mid-request, or Redis failing
// half way) is refused 503 with nothing forwarded, yet the CVVs it had
// already put stayed held for their TTL: card security codes kept for a
// payment that will never be made, and room in the bounded store taken
// from the other merchants by a request that failed.
func TestAttackRefusedRequestLeavesCVVsHeld(t *testing.T) {
	e := newEnv(t)
	e.cvvs.SetMax(1)
	in := `{"cards":[{"number":"` + visaPAN + `","cvc":"111","exp_month":"12","exp_year":"2030"},` +
		`{"number":"` + amexPAN + `","cvc":"2222","exp_month":"01","exp_year":"2031"}],"amount":100}`
	_, err := e.tk.Apply(context.Background(), arraySet(t, tenantA, false), body.JSON, parseJSON(t, in))
	if !errors.Is(err, cvv.ErrFull) {
		t.Fatalf("Apply: %v; want the store full", err)
	}
	if n := e.cvvs.Len(); n != 0 {
		t.Fatalf("the refused request left %d CVV(s) held", n)
	}
}
