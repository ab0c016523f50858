package rules

import (
	"slices"
	"strings"
)

// A preset is one processor endpoint's outbound fields and match, so that
// a merchant names its processor (preset: checkout_com) instead of writing
// the field paths. The merchant writes the processor's ordinary card
// request with its token where the card number goes; the preset's fields
// turn it into the processor's network token request when one can be sent
// and leave it a card request on the PAN fallback.
type preset struct {
	match  Match
	fields []Field
	// panOnly marks a processor that takes no network token: every card
	// goes as its PAN, and the set must say fallback: pan.
	panOnly bool
	// schema is optional: what the processor's API document allows at
	// places the preset writes, keyed by the place (a field's json path or
	// form name). rules lint, and so the config load, refuses a field of
	// the set at such a place whose value falls outside it (lintPreset), so
	// that an override a user writes to change a format or a value cannot
	// change it to one the processor refuses. A preset without it still
	// gets the checks every preset gets: an override keeps the kind of the
	// field it replaces, and the token stays where the preset reads it.
	// The preset's own fields must meet it (TestPresetsMeetTheirSchema).
	schema map[string]constraint
	// sign is the signing scheme the processor checks over the body: the
	// set must have a sign block of that scheme.
	sign SignScheme
	// cryptogramRequired marks a processor whose network token request
	// must carry a cryptogram: a Mastercard merchant-initiated payment has
	// none (MDES issues none for MITs), so lint warns on initiator: mit.
	cryptogramRequired bool
}

// constraint is what a processor's API document allows at one place of
// the request; each part is optional (its zero value leaves it open), and
// doc cites the rule, as the lint message shows it to the user.
type constraint struct {
	// typ is the document's JSON type for the member: AsString or
	// AsInteger. In a form body every value is text, and AsInteger asks
	// for decimal digits of constants and brand values.
	typ As
	// format is the expiry format the document asks for (ExpYYYY for "4
	// digits"). An expiry field without format writes the expiry as it is
	// held, which may have two digits, so it does not meet ExpYYYY.
	format ExpFormat
	// values lists, per case (WhenNetworkToken, WhenPAN), the values the
	// member may hold in that case: the discriminator value that selects
	// the schema the preset writes in that case, or the document's enum.
	// A case not in the map is open.
	values map[When][]string
	// doc names the document and its rule: "Checkout.com
	// PaymentRequestCardSource: expiry_month is an integer".
	doc string
}

// bothCases is values for a member whose enum is the same in either case:
// an enum, unlike a discriminator, holds wherever the member is written.
func bothCases(enum []string) map[When][]string {
	return map[When][]string{WhenNetworkToken: enum, WhenPAN: enum}
}

// presets are the named presets. Every name, type and enum below is the
// processor's published API document's, cited beside each; where the
// document leaves a choice, the comment says what was chosen.
var presets = map[string]preset{
	// Checkout.com, POST /payments (the current platform's API reference,
	// repository checkout/checkout-api-reference, commit 0588d54,
	// nas_spec/components/schemas/Payments/):
	//   - PaymentRequest.yaml: source is PaymentRequestSource;
	//   - PaymentRequestSource.yaml: source.type (string, required) picks
	//     the source schema: card, network_token (discriminator mapping);
	//   - RequestSources/03_PaymentRequestCardSource.yaml: card requires
	//     number (string), expiry_month (integer, minimum 1), expiry_year
	//     (integer, 4 digits); cvv (string, 3-4 characters) is optional;
	//   - RequestSources/04_PaymentRequestNetworkTokenSource.yaml:
	//     network_token requires token (string, the network token PAN),
	//     expiry_month, expiry_year (integers as above), token_type (enum
	//     vts, mdes, applepay, googlepay), cryptogram (string, at most 50),
	//     eci (string, at most 2); it has no number. It allows cvv, but a
	//     network token goes with its cryptogram and tokengate sends a
	//     held CVV only with the PAN, so a cvv the merchant wrote is
	//     removed from the network token source.
	// token_type has no value for Amex (nor other brands): such a card
	// takes the rule set's fallback (reason brand_not_supported).
	"checkout_com": {
		match: Match{Methods: []string{"POST"}, Paths: []string{"/payments"}},
		fields: []Field{
			{Kind: KindToken, JSON: "source.number"},
			{Kind: KindNumber, JSON: "source.token", When: WhenNetworkToken},
			{Kind: KindRemove, JSON: "source.number", When: WhenNetworkToken},
			{Kind: KindConstant, JSON: "source.type", Value: Scalar{Text: "network_token"}, When: WhenNetworkToken},
			{Kind: KindConstant, JSON: "source.type", Value: Scalar{Text: "card"}, When: WhenPAN},
			{Kind: KindBrand, JSON: "source.token_type", Values: map[string]Scalar{"visa": {Text: "vts"}, "mastercard": {Text: "mdes"}}, When: WhenNetworkToken},
			{Kind: KindCryptogram, JSON: "source.cryptogram", When: WhenNetworkToken},
			{Kind: KindECI, JSON: "source.eci", When: WhenNetworkToken},
			{Kind: KindExpMonth, JSON: "source.expiry_month", As: AsInteger},
			{Kind: KindExpYear, JSON: "source.expiry_year", Format: ExpYYYY, As: AsInteger},
			{Kind: KindCVV, JSON: "source.cvv", When: WhenPAN},
			{Kind: KindRemove, JSON: "source.cvv", When: WhenNetworkToken},
		},
		// From the same documents as the fields above.
		schema: map[string]constraint{
			"source.type": {typ: AsString, values: map[When][]string{WhenNetworkToken: {"network_token"}, WhenPAN: {"card"}},
				doc: "Checkout.com PaymentRequestSource: type is the discriminator, network_token for the network token source and card for the card source"},
			"source.token_type": {typ: AsString, values: map[When][]string{WhenNetworkToken: {"vts", "mdes", "applepay", "googlepay"}},
				doc: "Checkout.com PaymentRequestNetworkTokenSource: token_type is one of vts, mdes, applepay, googlepay"},
			"source.expiry_month": {typ: AsInteger,
				doc: "Checkout.com PaymentRequestCardSource and PaymentRequestNetworkTokenSource: expiry_month is an integer"},
			"source.expiry_year": {typ: AsInteger, format: ExpYYYY,
				doc: "Checkout.com PaymentRequestCardSource and PaymentRequestNetworkTokenSource: expiry_year is an integer of 4 digits"},
			"source.eci": {typ: AsString,
				doc: "Checkout.com PaymentRequestNetworkTokenSource: eci is a string of at most 2 characters"},
		},
	},
}

// presetNames lists the presets for an error message.
func presetNames() string {
	var s []string
	for n := range presets {
		s = append(s, n)
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

// withPreset returns the preset's fields, each at line, with the user's
// fields added. A user field replaces the preset's field at the same place
// (json or form) written in the same case (when), and a user token field
// replaces the preset's: that is how a user changes a preset field's
// format or value. Any other user field is added, so one at a preset
// field's place in another case, or a second field of a kind, meets the
// load's checks and is refused as a contradiction.
func withPreset(p preset, line int, user []Field) []Field {
	out := make([]Field, 0, len(p.fields)+len(user))
	for _, f := range p.fields {
		if slices.ContainsFunc(user, func(u Field) bool { return overrides(u, f) }) {
			continue
		}
		f.Line = line
		if f.Values != nil {
			f.Values = maps(f.Values)
		}
		out = append(out, f)
	}
	return append(out, user...)
}

// overrides reports whether user field u replaces preset field f.
func overrides(u, f Field) bool {
	if u.Kind == KindToken || f.Kind == KindToken {
		return u.Kind == f.Kind
	}
	return u.When == f.When && (u.JSON != "" && u.JSON == f.JSON || u.Form != "" && u.Form == f.Form)
}

// maps copies a brand field's values, so that a set never shares the
// preset table's map.
func maps(m map[string]Scalar) map[string]Scalar {
	c := make(map[string]Scalar, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
