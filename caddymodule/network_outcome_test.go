package caddymodule

import (
	"context"
	"fmt"
	"testing"

	"github.com/tokengate/tokengate/network"
)

// The outcome label of tokengate_network_calls_total is a bounded set:
// a remote service's own refusal code is counted as "refused", so a
// provider cannot grow the series (or write its text into a label).
func TestNetworkOutcomeLabelIsBounded(t *testing.T) {
	cases := map[error]string{
		nil:                                      "ok",
		network.RemoteError("CARD_DECLINED", ""): network.CodeCardDeclined,
		network.RemoteError("issuer_said_no_today", ""):                   network.CodeRefused,
		fmt.Errorf("x: %w", network.RemoteError("whatever_it_likes", "")): network.CodeRefused,
		fmt.Errorf("x: %w", network.ErrSuspended):                         "suspended",
		context.DeadlineExceeded:                                          "timeout",
	}
	for err, want := range cases {
		if got := networkOutcome(err); got != want {
			t.Errorf("networkOutcome(%v) = %q, want %q", err, got, want)
		}
	}
}

// A fallback's reason label is bounded the same way: a record keeps the
// remote's own refusal code, which counts as "refused".
func TestFallbackReasonLabelIsBounded(t *testing.T) {
	for reason, want := range map[string]string{
		"no_expiry":                        "no_expiry",
		"processor_takes_no_network_token": "processor_takes_no_network_token",
		network.CodeCardNotEligible:        network.CodeCardNotEligible,
		"issuer_timeout":                   network.CodeRefused,
	} {
		if got := fallbackReason(reason); got != want {
			t.Errorf("fallbackReason(%q) = %q, want %q", reason, got, want)
		}
	}
}
