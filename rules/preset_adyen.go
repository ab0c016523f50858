package rules

// The adyen preset is kept in its own file and registered from init, so
// that each processor's table and citations stay beside each other.
func init() { presets["adyen"] = adyenPreset }

// Adyen, Checkout API v71, POST /payments (repository Adyen/adyen-openapi,
// json/CheckoutService-v71.json, commit 74fabab0628019206b77c4823776b726345a035d,
// OpenAPI 3.1.0):
//   - the document's server is https://checkout-test.adyen.com/v71, so the
//     endpoint's path is /v71/payments (the preset's match); a merchant on
//     another API version writes its own match;
//   - PaymentRequest requires amount, merchantAccount, paymentMethod,
//     reference, returnUrl; paymentMethod is a oneOf of the payment method
//     details, of which CardDetails is the card's; mpiData is
//     ThreeDSecureData;
//   - CardDetails (additionalProperties false): type (string, enum bcmc,
//     scheme, networkToken, giftcard, card, clicktopay; default scheme),
//     number, expiryMonth, expiryYear, cvc, holderName (all strings). The
//     same object carries a network token: type networkToken with the
//     token's number in number; it has no member of its own for it;
//   - ThreeDSecureData: tokenAuthenticationVerificationValue (string,
//     format byte: the network token cryptogram, TAVV; the cryptograms
//     tokengate gets are base64), eci (string);
//   - the document's card example (post-payments-card-direct) writes
//     expiryMonth "03" and expiryYear "2030": so a zero-padded month and a
//     four-digit year, as strings.
//
// Chosen where the document is silent: the document sets no brand limit on
// networkToken, so Visa, Mastercard and Amex all take the network token
// path. shopperInteraction and recurringProcessingModel are optional in
// PaymentRequest and say what the merchant's transaction is, which
// tokengate does not know: the preset leaves them to the merchant's
// request. A network token goes with its cryptogram and tokengate sends a
// held CVV only with the PAN, so a cvc the merchant wrote is removed from
// the networkToken request.
var adyenPreset = preset{
	match: Match{Methods: []string{"POST"}, Paths: []string{"/v71/payments"}},
	fields: []Field{
		// The DPAN and the PAN both go in paymentMethod.number, the token's
		// place: withNumber writes the number there in both cases.
		{Kind: KindToken, JSON: "paymentMethod.number"},
		{Kind: KindConstant, JSON: "paymentMethod.type", Value: Scalar{Text: "networkToken"}, When: WhenNetworkToken},
		{Kind: KindConstant, JSON: "paymentMethod.type", Value: Scalar{Text: "scheme"}, When: WhenPAN},
		{Kind: KindCryptogram, JSON: "mpiData.tokenAuthenticationVerificationValue", When: WhenNetworkToken},
		{Kind: KindECI, JSON: "mpiData.eci", When: WhenNetworkToken},
		{Kind: KindExpMonth, JSON: "paymentMethod.expiryMonth", Format: ExpMM, As: AsString},
		{Kind: KindExpYear, JSON: "paymentMethod.expiryYear", Format: ExpYYYY, As: AsString},
		{Kind: KindCVV, JSON: "paymentMethod.cvc", When: WhenPAN},
		{Kind: KindRemove, JSON: "paymentMethod.cvc", When: WhenNetworkToken},
	},
	// From the same document. CardDetails.type's enum has other values
	// (card, bcmc, ...), but only networkToken says the number is a network
	// token, and scheme is the document's default for a card.
	schema: map[string]constraint{
		"paymentMethod.type": {typ: AsString, values: map[When][]string{WhenNetworkToken: {"networkToken"}, WhenPAN: {"scheme"}},
			doc: "Adyen CardDetails: type networkToken for a network token, scheme (the default) for a card"},
		"paymentMethod.expiryMonth": {typ: AsString, doc: "Adyen CardDetails: expiryMonth is a string"},
		"paymentMethod.expiryYear":  {typ: AsString, doc: "Adyen CardDetails: expiryYear is a string"},
		"mpiData.eci":               {typ: AsString, doc: "Adyen ThreeDSecureData: eci is a string"},
	},
}
