package rules

// The cybersource preset is kept in its own file and registered from init,
// so that each processor's table and citations stay beside each other.
func init() { presets["cybersource"] = cybersourcePreset }

// cybersourceTypes are Cybersource's three-digit card type codes
// (paymentInformation.card.type and tokenizedCard.type), for the brands
// tokengate knows that the list names; a brand without one (RuPay, Mir)
// takes the rule set's fallback.
var cybersourceTypes = map[string]Scalar{
	"visa": {Text: "001"}, "mastercard": {Text: "002"}, "amex": {Text: "003"}, "discover": {Text: "004"},
	"diners": {Text: "005"}, "jcb": {Text: "007"}, "maestro": {Text: "042"}, "unionpay": {Text: "062"},
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
//     (International), 062 China UnionPay. transactionType: 3 is
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
}
