package network

// Error codes of the token service. Codes are stable snake_case strings that
// an API can return as they are; messages are the networks' wording.
const (
	// CodeProvisionDataExpired means the provisioning data (card details) was
	// refused as expired.
	CodeProvisionDataExpired = "provision_data_expired"
	// CodeCardVerificationFailed means the issuer could not verify the card.
	CodeCardVerificationFailed = "card_verification_failed"
	// CodeCardNotEligible means the card's issuer or brand does not take part
	// in network tokenization.
	CodeCardNotEligible = "card_not_eligible"
	// CodeCardNotAllowed means the issuer does not allow this card to be
	// tokenized.
	CodeCardNotAllowed = "card_not_allowed"
	// CodeCardDeclined means the issuer declined the provisioning request.
	CodeCardDeclined = "card_declined"
	// CodeProvisionNotAllowed means the token requestor may not provision this
	// card.
	CodeProvisionNotAllowed = "provision_not_allowed"
	// CodeCardEligibilityError means the eligibility check itself failed.
	CodeCardEligibilityError = "card_eligibility_error"
	// CodeBrandMismatch means ProvisionRequest.Brand names another brand than
	// the card number's, which points at a caller bug.
	CodeBrandMismatch = "brand_mismatch"
	// CodeInvalidStatus means SetStatus was given a status that is not one of
	// the Status constants.
	CodeInvalidStatus = "invalid_status"
)

// testCardOutcomes are the Basis Theory network token test cards
// (seeds/003_c87c2d6d61ec623b.txt, "Test Cards"), each with the response
// Basis Theory documents for it. The builtin emulator reproduces them so that
// an integration written against the emulator behaves the same against Basis
// Theory's sandbox. They are public test numbers, never real cards, so
// keeping them in source is harmless. Success cards are absent: they simply
// provision.
var testCardOutcomes = map[string]Error{
	// Visa.
	"4012888888881881": {CodeProvisionDataExpired, "Provision Data Expired"},
	"4330251207506660": {CodeCardVerificationFailed, "Card Verification Failed"},
	"4539097887163333": {CodeCardNotEligible, "Card Not Eligible"},
	"4929980395567582": {CodeCardNotAllowed, "Card Not Allowed"},
	"4929544240318920": {CodeCardDeclined, "Card Declined"},
	"4916725297925395": {CodeProvisionNotAllowed, "Provision Not Allowed"},
	"4711358892785746": {CodeCardEligibilityError, "Card Eligibility Error"},
	// Mastercard.
	"5105105105105100": {CodeProvisionDataExpired, "Provision Data Expired"},
	"5461310156953048": {CodeCardVerificationFailed, "Card Verification Failed"},
	"5325191087030619": {CodeCardNotEligible, "Card Not Eligible"},
	"5580422612666704": {CodeCardNotAllowed, "Card Not Allowed"},
	"5157204564548129": {CodeCardDeclined, "Card Declined"},
	"5336475987107024": {CodeProvisionNotAllowed, "Provision Not Allowed"},
	"5233580618829955": {CodeCardEligibilityError, "Card Eligibility Error"},
	// Discover.
	"6011601160116611": {CodeProvisionDataExpired, "Provision Data Expired"},
	"6011168802268945": {CodeCardVerificationFailed, "Card Verification Failed"},
	"6011690151507086": {CodeCardNotEligible, "Card Not Eligible"},
	"6011444770992901": {CodeCardNotAllowed, "Card Not Allowed"},
	"6011760519541711": {CodeCardDeclined, "Card Declined"},
	"6011490740263725": {CodeProvisionNotAllowed, "Provision Not Allowed"},
	"6011000990139424": {CodeCardEligibilityError, "Card Eligibility Error"},
	// American Express.
	"371449635398431": {CodeProvisionDataExpired, "Provision Data Expired"},
	"370488998077498": {CodeCardVerificationFailed, "Card Verification Failed"},
	"373555735376156": {CodeCardNotEligible, "Card Not Eligible"},
	"378025849667382": {CodeCardNotAllowed, "Card Not Allowed"},
	"348322853530243": {CodeCardDeclined, "Card Declined"},
	"375155165213132": {CodeProvisionNotAllowed, "Provision Not Allowed"},
	"348835199015504": {CodeCardEligibilityError, "Card Eligibility Error"},
}

// testCardOutcome returns the documented refusal for a test PAN, or nil. It
// returns a fresh *Error each time so no caller can alter the table.
func testCardOutcome(pan string) *Error {
	e, ok := testCardOutcomes[pan]
	if !ok {
		return nil
	}
	return &e
}

// errNotEligible is the refusal for a brand without token BINs.
func errNotEligible() *Error {
	return &Error{Code: CodeCardNotEligible, Message: "Card Not Eligible"}
}
