package detokenize_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestDetokenizeRowSwap: two records of one tenant whose sealed data and
// fingerprints were swapped in the store. Token A paid with card B's DPAN
// (issue 15 item 12); now it is refused as an unreadable record whose key
// the keyset holds (altered or moved: possible tampering, which the caller
// logs), and nothing of either card reaches the processor.
func TestDetokenizeRowSwap(t *testing.T) {
	e := newEnv(t)
	a := e.issue(t, tenantA, visaPAN, "")
	b := e.issue(t, tenantA, mcPAN, "")
	var told []string
	e.d.Tampered = func(_ context.Context, tenant, field string) { told = append(told, tenant+" "+field) }
	if out, _, err := e.apply(t, tenantA, body.JSON, "pan", payment(a.token)); err != nil || !strings.Contains(string(out), a.dpan) {
		t.Fatalf("before the swap, token A does not pay with its card: %v", err)
	}
	vaulttest.SwapThroughUpdate(t, e.d.Vault, tenantA, a.token, b.token) // through the read cache, so it is seen at once
	for _, set := range []string{"pan", "reject"} {
		out, _, err := e.apply(t, tenantA, body.JSON, set, payment(a.token))
		var ur *detokenize.UnreadableError
		if !errors.As(err, &ur) || !ur.KeyHeld {
			t.Errorf("%s: token A after the swap: %v, want an UnreadableError whose key the keyset holds", set, err)
		}
		for _, secret := range []string{b.dpan, mcPAN, a.dpan, visaPAN} {
			if strings.Contains(string(out), secret) {
				t.Fatalf("%s: card data in the output after the swap", set)
			}
		}
	}
	if len(told) != 0 { // Apply's error says it; Tampered is for a record naming another tenant
		t.Errorf("tampering reported %d times, want 0", len(told))
	}
}
