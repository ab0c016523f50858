package network

import (
	"errors"
	"testing"
)

// seedTestCards is the whole test card table of seeds/003 (Basis Theory
// network tokens), written out again here rather than read from
// testCardOutcomes, so a typo in either shows up.
var seedTestCards = []struct{ pan, response string }{
	{"4111111111111111", "Success"},
	{"4012888888881881", "Provision Data Expired"},
	{"4330251207506660", "Card Verification Failed"},
	{"4539097887163333", "Card Not Eligible"},
	{"4929980395567582", "Card Not Allowed"},
	{"4929544240318920", "Card Declined"},
	{"4916725297925395", "Provision Not Allowed"},
	{"4711358892785746", "Card Eligibility Error"},
	{"5555555555554444", "Success"},
	{"5105105105105100", "Provision Data Expired"},
	{"5461310156953048", "Card Verification Failed"},
	{"5325191087030619", "Card Not Eligible"},
	{"5580422612666704", "Card Not Allowed"},
	{"5157204564548129", "Card Declined"},
	{"5336475987107024", "Provision Not Allowed"},
	{"5233580618829955", "Card Eligibility Error"},
	{"6011111111111117", "Success"},
	{"6011601160116611", "Provision Data Expired"},
	{"6011168802268945", "Card Verification Failed"},
	{"6011690151507086", "Card Not Eligible"},
	{"6011444770992901", "Card Not Allowed"},
	{"6011760519541711", "Card Declined"},
	{"6011490740263725", "Provision Not Allowed"},
	{"6011000990139424", "Card Eligibility Error"},
	{"378282246310005", "Success"},
	{"371449635398431", "Provision Data Expired"},
	{"370488998077498", "Card Verification Failed"},
	{"373555735376156", "Card Not Eligible"},
	{"378025849667382", "Card Not Allowed"},
	{"348322853530243", "Card Declined"},
	{"375155165213132", "Provision Not Allowed"},
	{"348835199015504", "Card Eligibility Error"},
}

var seedCodes = map[string]string{
	"Provision Data Expired":   "provision_data_expired",
	"Card Verification Failed": "card_verification_failed",
	"Card Not Eligible":        "card_not_eligible",
	"Card Not Allowed":         "card_not_allowed",
	"Card Declined":            "card_declined",
	"Provision Not Allowed":    "provision_not_allowed",
	"Card Eligibility Error":   "card_eligibility_error",
}

func TestSeedTestCards(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore())
	errorCards := 0
	for _, tc := range seedTestCards {
		req := provisionReq(tc.pan)
		tok, err := b.Provision(ctx, req)
		if tc.response == "Success" {
			if err != nil || tok.DPAN == "" || tok.Status != StatusActive {
				t.Errorf("%s…: want success, got %v", tc.pan[:6], err)
			}
			continue
		}
		errorCards++
		var ne *Error
		if !errors.As(err, &ne) {
			t.Errorf("%s…: want *Error %q, got %v", tc.pan[:6], tc.response, err)
			continue
		}
		if ne.Code != seedCodes[tc.response] || ne.Message != tc.response {
			t.Errorf("%s…: got %s/%q, want %s/%q", tc.pan[:6], ne.Code, ne.Message, seedCodes[tc.response], tc.response)
		}
		if tok != (Token{}) {
			t.Errorf("%s…: a refusal returned a token", tc.pan[:6])
		}
		assertClean(t, "error", err.Error(), tc.pan, tc.pan[len(tc.pan)-4:], req.CVV)
	}
	if errorCards != len(testCardOutcomes) {
		t.Errorf("seed table has %d error cards, testCardOutcomes %d", errorCards, len(testCardOutcomes))
	}
	// The outcome is a copy: changing it does not change the table.
	e := testCardOutcome("4012888888881881")
	e.Code = "changed"
	if testCardOutcome("4012888888881881").Code != CodeProvisionDataExpired {
		t.Error("testCardOutcome returned a shared *Error")
	}
}
