package rules

import (
	"slices"
	"strings"
)

// The braintree preset is kept in its own file and registered from init,
// so that each processor's table and citations stay beside each other.
func init() { presets["braintree"] = braintreePreset }

// Braintree GraphQL API, POST /graphql with a JSON body {"query",
// "variables"} (repository braintree/graphql-api, schema.graphql, commit
// 2252d472d6ed090f35fd509629bc0102701cc956):
//   - Mutation.tokenizeCreditCard(input: TokenizeCreditCardInput!):
//     TokenizeCreditCardPayload. TokenizeCreditCardInput: clientMutationId
//     (String), creditCard (CreditCardInput!), options
//     (TokenizeCreditCardOptionsInput). CreditCardInput: number,
//     expirationYear ("YYYY or YY"), expirationMonth ("MM"), cvv,
//     cardholderName (all String), billingAddress (AddressInput);
//   - Mutation.tokenizeNetworkToken(input: TokenizeNetworkTokenInput!):
//     TokenizeNetworkTokenPayload. TokenizeNetworkTokenInput:
//     clientMutationId (String), networkToken (NetworkTokenInput!); it has
//     no creditCard and no options. NetworkTokenInput: cryptogram
//     (String!), eCommerceIndicator (scalar ECommerceIndicator, "a card
//     brand-specific two-digit string"), expirationMonth (scalar Month!, "a
//     two-digit, zero-padded month"), expirationYear (scalar Year!, "a
//     four-digit year"), number (scalar CreditCardNumber!, the DPAN),
//     originDetails (NetworkTokenOriginDetailsInput!: origin
//     (NetworkTokenOrigin!: APPLE_PAY, GOOGLE_PAY, NETWORK_TOKEN),
//     sourceCardType (CreditCardBrandCode), ...). It has no cvv;
//   - TokenizeCreditCardPayload has clientMutationId, paymentMethod and the
//     deprecated token, creditCard, singleUseToken, authenticationInsight;
//     TokenizeNetworkTokenPayload has clientMutationId and paymentMethod;
//   - CreditCardInput is the only input with a raw card number:
//     chargeCreditCard (ChargeCreditCardInput) and chargePaymentMethod
//     (ChargePaymentMethodInput) take paymentMethodId (ID!), the single-use
//     payment method the tokenize mutation returned, and no card data, so
//     they pass through with no token in them.
//
// Chosen where the schema is silent: origin is NETWORK_TOKEN (the token is
// the card network's, provisioned by tokengate, not a wallet's); the
// query may select only clientMutationId and paymentMethod (and
// __typename), which both payloads have, so that one query is valid in
// either case (selecting a deprecated member is refused with a message
// naming it); the network token request drops the whole creditCard object
// (with a cardholderName or billingAddress the merchant wrote, which
// NetworkTokenInput cannot hold) and options; the PAN fallback year is
// four digits. cryptogram is non-null in NetworkTokenInput, so a set with
// initiator: mit, whose Mastercard network tokens go without one (MDES
// issues none for MITs), sends a request Braintree's schema refuses; the
// preset is for the default cit. sourceCardType is the brand's CreditCardBrandCode, UNKNOWN
// for a brand without one, so that no brand loses its network token.
var braintreePreset = preset{
	match:              Match{Methods: []string{"POST"}, Paths: []string{"/graphql"}},
	cryptogramRequired: true, // NetworkTokenInput.cryptogram is String!
	fields: []Field{
		{Kind: KindToken, JSON: "variables.input.creditCard.number"},
		{Kind: KindGraphQL, JSON: "query", Op: &GraphQLOp{
			From:   GraphQLCall{Name: "tokenizeCreditCard", Arg: "input", Type: "TokenizeCreditCardInput!"},
			To:     GraphQLCall{Name: "tokenizeNetworkToken", Arg: "input", Type: "TokenizeNetworkTokenInput!"},
			Select: []string{"clientMutationId", "paymentMethod"},
		}},
		{Kind: KindNumber, JSON: "variables.input.networkToken.number", When: WhenNetworkToken},
		{Kind: KindRemove, JSON: "variables.input.creditCard", When: WhenNetworkToken},
		{Kind: KindRemove, JSON: "variables.input.options", When: WhenNetworkToken},
		{Kind: KindCryptogram, JSON: "variables.input.networkToken.cryptogram", When: WhenNetworkToken},
		{Kind: KindECI, JSON: "variables.input.networkToken.eCommerceIndicator", When: WhenNetworkToken},
		{Kind: KindExpMonth, JSON: "variables.input.networkToken.expirationMonth", Format: ExpMM, As: AsString, When: WhenNetworkToken},
		{Kind: KindExpYear, JSON: "variables.input.networkToken.expirationYear", Format: ExpYYYY, As: AsString, When: WhenNetworkToken},
		{Kind: KindConstant, JSON: "variables.input.networkToken.originDetails.origin", Value: Scalar{Text: "NETWORK_TOKEN"}, When: WhenNetworkToken},
		{Kind: KindBrand, JSON: "variables.input.networkToken.originDetails.sourceCardType", When: WhenNetworkToken,
			Values: map[string]Scalar{"visa": {Text: "VISA"}, "mastercard": {Text: "MASTERCARD"}, "amex": {Text: "AMERICAN_EXPRESS"},
				"discover": {Text: "DISCOVER"}, "jcb": {Text: "JCB"}, "diners": {Text: "DINERS"}, "unionpay": {Text: "UNION_PAY"}},
			Default: &Scalar{Text: "UNKNOWN"}},
		{Kind: KindExpMonth, JSON: "variables.input.creditCard.expirationMonth", Format: ExpMM, As: AsString, When: WhenPAN},
		{Kind: KindExpYear, JSON: "variables.input.creditCard.expirationYear", Format: ExpYYYY, As: AsString, When: WhenPAN},
		{Kind: KindCVV, JSON: "variables.input.creditCard.cvv", When: WhenPAN},
	},
	// From the same schema. A GraphQL enum travels in the JSON variables as
	// a string of its value's name; the scalars Month, Year and
	// ECommerceIndicator are described as strings. CreditCardInput's
	// expirationYear takes "YYYY or YY", so its format is left open.
	schema: map[string]constraint{
		"variables.input.networkToken.expirationMonth": {typ: AsString, format: ExpMM,
			doc: "Braintree NetworkTokenInput: expirationMonth is a Month, a two-digit string, zero-padded"},
		"variables.input.networkToken.expirationYear": {typ: AsString, format: ExpYYYY,
			doc: "Braintree NetworkTokenInput: expirationYear is a Year, a four-digit string"},
		"variables.input.networkToken.eCommerceIndicator": {typ: AsString,
			doc: "Braintree NetworkTokenInput: eCommerceIndicator is an ECommerceIndicator, a two-digit string"},
		"variables.input.networkToken.originDetails.origin": {typ: AsString, values: bothCases([]string{"APPLE_PAY", "GOOGLE_PAY", "NETWORK_TOKEN"}),
			doc: "Braintree NetworkTokenOriginDetailsInput: origin is a NetworkTokenOrigin, one of APPLE_PAY, GOOGLE_PAY, NETWORK_TOKEN"},
		"variables.input.networkToken.originDetails.sourceCardType": {typ: AsString, values: bothCases(braintreeBrandCodes),
			doc: "Braintree NetworkTokenOriginDetailsInput: sourceCardType is a CreditCardBrandCode, one of its enum values"},
		"variables.input.creditCard.expirationMonth": {typ: AsString, format: ExpMM,
			doc: "Braintree CreditCardInput: expirationMonth is a String, formatted MM"},
		"variables.input.creditCard.expirationYear": {typ: AsString,
			doc: "Braintree CreditCardInput: expirationYear is a String, formatted YYYY or YY"},
	},
}

// braintreeBrandCodes are the values of the schema's enum
// CreditCardBrandCode, each in upper and in lower case as it lists them.
var braintreeBrandCodes = func() []string {
	up := []string{"AMERICAN_EXPRESS", "CITI", "DINERS", "DISCOVER", "ELO", "HIPER", "HIPERCARD", "INTERNATIONAL_MAESTRO",
		"JCB", "MASTERCARD", "SOLO", "SWITCH", "UK_MAESTRO", "UNION_PAY", "UNKNOWN", "VISA"}
	out := slices.Clone(up)
	for _, c := range up {
		out = append(out, strings.ToLower(c))
	}
	return out
}()
