package rules

// stripe is the preset for Stripe's POST /v1/payment_methods with raw card
// data, form encoded. Facts from Stripe's OpenAPI document spec3.json
// (API version 2026-08-26.dahlia) as embedded in the Go module
// github.com/stripe/stripe-mock@v0.203.0 (embedded/openapi/spec3.json),
// and from the client github.com/stripe/stripe-go/v82@v82.5.1:
//   - POST /v1/payment_methods, application/x-www-form-urlencoded: card is
//     anyOf card_details_params (number string, exp_month integer,
//     exp_year integer, all three required; cvc string, optional) or
//     token_params (a Stripe token): there is no member for a
//     merchant-held network token or a cryptogram anywhere in it;
//   - stripe-go's PaymentMethodCardParams (paymentmethod.go) carries
//     Number, ExpMonth, ExpYear (int64: the form holds decimal digits),
//     CVC under form tags card[number], card[exp_month], card[exp_year],
//     card[cvc] (form/form.go keeps the brackets literal): it writes the
//     month as "3", not "03", and documents exp_year as four digits, so
//     the preset writes formats m and yyyy.
//
// Stripe's public API takes no network token, so the preset never sends
// one: every card goes as its PAN (panOnly), the set must allow it
// (fallback: pan) and Tokengate-Injected gives the reason
// processor_takes_no_network_token.
//
// Endpoints: only /v1/payment_methods. PaymentIntents' payment_method_data
// (payment_method_data_params in the same document) has no card member:
// raw card data on PaymentIntents is gated per account, stripe-go has no
// field for it, and the document cannot say what Stripe expects there.
// A merchant creates the PaymentMethod through the gateway and confirms
// the PaymentIntent with its pm_ id, which carries no card data. A
// merchant whose account has the feature writes its own fields
// (form: payment_method_data[card][number] ...) and match.
var stripe = preset{
	match:   Match{Methods: []string{"POST"}, Paths: []string{"/v1/payment_methods"}},
	panOnly: true,
	fields: []Field{
		{Kind: KindToken, Form: "card[number]"},
		{Kind: KindExpMonth, Form: "card[exp_month]", Format: ExpM},
		{Kind: KindExpYear, Form: "card[exp_year]", Format: ExpYYYY},
		{Kind: KindCVV, Form: "card[cvc]", When: WhenPAN},
	},
	// From the same document: card_details_params.
	schema: map[string]constraint{
		"card[exp_month]": {typ: AsInteger, doc: "Stripe card_details_params: exp_month is an integer"},
		"card[exp_year]":  {typ: AsInteger, format: ExpYYYY, doc: "Stripe card_details_params: exp_year is an integer (stripe-go: a four-digit year)"},
	},
}

// Registered here rather than in the presets table, so that each
// processor's preset stays in its own file.
func init() { presets["stripe"] = stripe }
