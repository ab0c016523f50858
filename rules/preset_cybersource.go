package rules

import "strings"

// The cybersource preset is kept in its own file and registered from init,
// so that each processor's table and citations stay beside each other.
func init() { presets["cybersource"] = cybersourcePreset }

// cybersourceTypes are Cybersource's three-digit card type codes
// (paymentInformation.card.type and tokenizedCard.type), for the brands
// tokengate knows that the list names (061 RuPay among them); a brand
// without one (Mir) takes the rule set's fallback.
var cybersourceTypes = map[string]Scalar{
	"visa": {Text: "001"}, "mastercard": {Text: "002"}, "amex": {Text: "003"}, "discover": {Text: "004"},
	"diners": {Text: "005"}, "jcb": {Text: "007"}, "maestro": {Text: "042"}, "rupay": {Text: "061"}, "unionpay": {Text: "062"},
}

// Cybersource REST API, POST /pts/v2/payments (the models generated from
// Cybersource's merged REST spec, repository
// CyberSource/cybersource-rest-client-python, commit 63ac484, CyberSource/models/):
//   - ptsv2payments_payment_information_card.py: number, expirationMonth,
//     expirationYear, type, securityCode (all str); expirationMonth
//     "Format: MM, 01 through 12", expirationYear "Format: YYYY";
//   - ptsv2payments_payment_information_tokenized_card.py: number ("the
//     customer's payment network token value"), expirationMonth (MM),
//     expirationYear (YYYY), type, cryptogram ("this field contains token
//     information"), transactionType (all str). type: "three-digit value
//     that indicates the card type": 001 Visa, 002 Mastercard, 003
//     American Express, 004 Discover, 005 Diners Club, 007 JCB, 042 Maestro
//     (International), 061 RuPay, 062 China UnionPay. transactionType: 3 is
//     "Card/Credential On File Tokenization" (1 is in-app, 2 NFC);
//   - ptsv2payments_consumer_authentication_information.py: eciRaw (str,
//     "raw electronic commerce indicator (ECI)"), cavv, ucafAuthenticationData;
//   - ptsv2payments_processing_information.py: commerceIndicator (str,
//     "the list of valid values in this field depends on your processor").
//   - Cybersource's own network token sample (repository
//     CyberSource/cybersource-rest-samples-python, commit 3f6320e,
//     samples/Payments/Payments/payment-network-tokenization.py) sends
//     tokenizedCard {number, expirationMonth, expirationYear,
//     transactionType "1"}, with a 3-D Secure cavv and xid and
//     commerceIndicator "vbv", and no cryptogram member.
//
// Chosen where the models are silent or leave a choice: the network token
// goes in tokenizedCard with its cryptogram in tokenizedCard.cryptogram
// and transactionType 3 (a merchant-held, credential-on-file network
// token, not a wallet's); its ECI in consumerAuthenticationInformation.eciRaw.
// cavv and ucafAuthenticationData are 3-D Secure's values and are left to
// the merchant. commerceIndicator says what kind of transaction it is
// (internet, moto, recurring...), which tokengate does not know, so it is
// left to the merchant's request. The card object is removed with the
// network token: the request carries one of the two (its number is removed
// first by name, as every set must remove the token's own member). A CVV goes only with
// the PAN, as in the other presets. Every card is sent with its type, as
// the model "strongly recommends".
var cybersourcePreset = preset{
	match: Match{Methods: []string{"POST"}, Paths: []string{"/pts/v2/payments"}},
	sign:  SignCybersource,
	fields: []Field{
		{Kind: KindToken, JSON: "paymentInformation.card.number"},
		// Network token: tokenizedCard in place of card.
		{Kind: KindNumber, JSON: "paymentInformation.tokenizedCard.number", When: WhenNetworkToken},
		{Kind: KindRemove, JSON: "paymentInformation.card.number", When: WhenNetworkToken},
		{Kind: KindRemove, JSON: "paymentInformation.card", When: WhenNetworkToken},
		{Kind: KindExpMonth, JSON: "paymentInformation.tokenizedCard.expirationMonth", Format: ExpMM, As: AsString, When: WhenNetworkToken},
		{Kind: KindExpYear, JSON: "paymentInformation.tokenizedCard.expirationYear", Format: ExpYYYY, As: AsString, When: WhenNetworkToken},
		{Kind: KindCryptogram, JSON: "paymentInformation.tokenizedCard.cryptogram", When: WhenNetworkToken},
		{Kind: KindConstant, JSON: "paymentInformation.tokenizedCard.transactionType", Value: Scalar{Text: "3"}, When: WhenNetworkToken},
		{Kind: KindBrand, JSON: "paymentInformation.tokenizedCard.type", Values: cybersourceTypes, When: WhenNetworkToken},
		{Kind: KindECI, JSON: "consumerAuthenticationInformation.eciRaw", When: WhenNetworkToken},
		// PAN fallback: the card request the merchant wrote, completed (the
		// load adds the PAN's number at the token's place).
		{Kind: KindExpMonth, JSON: "paymentInformation.card.expirationMonth", Format: ExpMM, As: AsString, When: WhenPAN},
		{Kind: KindExpYear, JSON: "paymentInformation.card.expirationYear", Format: ExpYYYY, As: AsString, When: WhenPAN},
		{Kind: KindCVV, JSON: "paymentInformation.card.securityCode", When: WhenPAN},
		{Kind: KindBrand, JSON: "paymentInformation.card.type", Values: cybersourceTypes, When: WhenPAN},
	},
	// From the same models, at commit 63ac484 (see cybersourceTypeCodes
	// for type). transactionType lists 1 (in-app, Visa Platform Connect),
	// 2 (NFC), 3 (card/credential on file, Visa Platform Connect and
	// RuPay), 4 (RuPay guest checkout); the other members' descriptions
	// give no enum, and the models make every one a string.
	schema: map[string]constraint{
		"paymentInformation.tokenizedCard.type": {typ: AsString, values: bothCases(cybersourceTypeCodes),
			doc: "Cybersource ptsv2payments_payment_information_tokenized_card: type is a string, one of the three-digit card type codes its description lists"},
		"paymentInformation.card.type": {typ: AsString, values: bothCases(cybersourceTypeCodes),
			doc: "Cybersource ptsv2payments_payment_information_card: type is a string, one of the three-digit card type codes its description lists"},
		"paymentInformation.tokenizedCard.expirationMonth": {typ: AsString, format: ExpMM,
			doc: "Cybersource ptsv2payments_payment_information_tokenized_card: expirationMonth is a string, Format: MM, 01 through 12"},
		"paymentInformation.tokenizedCard.expirationYear": {typ: AsString, format: ExpYYYY,
			doc: "Cybersource ptsv2payments_payment_information_tokenized_card: expirationYear is a string, Format: YYYY"},
		"paymentInformation.card.expirationMonth": {typ: AsString, format: ExpMM,
			doc: "Cybersource ptsv2payments_payment_information_card: expirationMonth is a string, Format: MM, leading 0 required"},
		"paymentInformation.card.expirationYear": {typ: AsString, format: ExpYYYY,
			doc: "Cybersource ptsv2payments_payment_information_card: expirationYear is a string, Format: YYYY"},
		"paymentInformation.tokenizedCard.transactionType": {typ: AsString, values: bothCases([]string{"1", "2", "3", "4"}),
			doc: "Cybersource ptsv2payments_payment_information_tokenized_card: transactionType is a string, one of 1, 2, 3, 4"},
		"consumerAuthenticationInformation.eciRaw": {typ: AsString,
			doc: "Cybersource ptsv2payments_consumer_authentication_information: eciRaw is a string"},
	},
}

// cybersourceTypeCodes are the card type codes the type descriptions of
// card and tokenizedCard list (the same list in both models at commit
// 63ac484: 001 through 081 but 022 and 069, which it does not name), less
// 033, Visa Electron, of which it says "Do not use this value. Use 001
// for all Visa card types". A brand field may write any of them, as a
// merchant whose acquirer takes another brand's code may need.
var cybersourceTypeCodes = strings.Fields(`
	001 002 003 004 005 006 007 008 009 010 011 012 013 014 015 016
	017 018 019 020 021 023 024 025 026 027 028 029 030 031 032 034
	035 036 037 038 039 040 041 042 043 044 045 046 047 048 049 050
	051 052 053 054 055 056 057 058 059 060 061 062 063 064 065 066
	067 068 070 071 072 073 074 075 076 077 078 079 080 081`)
