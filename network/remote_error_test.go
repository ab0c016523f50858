package network_test

import (
	"strings"
	"testing"

	"github.com/tokengate/tokengate/network"
)

// A remote service's refusal is its own text: whatever it says, the error
// tokengate keeps (logged, served by its APIs, counted by code) holds no
// card number and no code it did not document.
func TestRemoteErrorIsSafeToLogAndCount(t *testing.T) {
	const pan = "4111111111111111"
	cases := []struct {
		name, code, msg string
		wantCode        string
	}{
		{"a documented code is kept", "CARD_NOT_ELIGIBLE", "Card Not Eligible", network.CodeCardNotEligible},
		{"an undocumented snake_case code is kept", "issuer_timeout", "slow", "issuer_timeout"},
		{"a code holding a card number is refused", "card_" + pan, "x", network.CodeRefused},
		{"a spaced code is refused", "not eligible", "x", network.CodeRefused},
		{"an empty code is refused", "", "x", network.CodeRefused},
		{"a message echoing the card is masked", "card_declined", "card " + pan + " declined", network.CodeCardDeclined},
		{"a message echoing a spaced card is masked", "card_declined", "card 4111 1111 1111 1111 declined", network.CodeCardDeclined},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := network.RemoteError(c.code, c.msg)
			if e.Code != c.wantCode {
				t.Fatalf("code %q, want %q", e.Code, c.wantCode)
			}
			if strings.Contains(strings.ReplaceAll(e.Error(), " ", ""), pan) {
				t.Fatal("the error holds the card number")
			}
		})
	}
	if e := network.RemoteError("card_declined", "Card Declined 3 times"); e.Message != "Card Declined 3 times" {
		t.Fatalf("a message without a card number changed: %q", e.Message)
	}
	long := network.RemoteError("card_declined", strings.Repeat("é", 300))
	if len(long.Message) > 210 || !strings.HasSuffix(long.Message, "…") || !strings.HasPrefix(long.Message, "é") {
		t.Fatalf("a long message is not cut on a character: %d bytes", len(long.Message))
	}
}

func TestKnownCodesAreBounded(t *testing.T) {
	if !network.KnownCode(network.CodeCardNotEligible) || !network.KnownCode(network.CodeRefused) {
		t.Fatal("a documented code is unknown")
	}
	if network.KnownCode("issuer_timeout") {
		t.Fatal("a remote's own code counts as documented")
	}
}

// A card number that straddles the cut of a long message is masked: the
// cut must not leave its first digits (too few to read as a card on their
// own) in the error.
func TestRemoteErrorCardAtTheCutIsMasked(t *testing.T) {
	const pan = "4111111111111111"
	for pad := 180; pad < 200; pad++ {
		e := network.RemoteError("card_declined", strings.Repeat("a", pad)+pan+" declined")
		if strings.Contains(e.Message, pan[:6]) {
			t.Fatalf("pad %d: the cut message keeps the card's leading digits: %q", pad, e.Message[pad-5:])
		}
	}
}
