// Package rules reads the rules file: which fields of which requests hold
// card data (inbound), and where a token's network token, cryptogram and ECI
// go on the way to a payment processor (outbound).
//
// The file is YAML. It is decoded through yaml.Node rather than into structs
// so that every error names the file and line of the offending node, and so
// that unknown keys and duplicate keys are errors: a typo in a rules file
// must never silently leave a card number untokenized.
package rules

import (
	"time"

	"github.com/tokengate/tokengate/network"
)

// Kind says what a field holds.
type Kind string

// Inbound field kinds: where card data arrives from a browser or app.
const (
	// KindPAN is the card number. It is always replaced by a token.
	KindPAN Kind = "pan"
	// KindCVV is the card security code. It is held in memory for CVVTTL and
	// removed from the body (or masked, with Keep), never stored.
	KindCVV Kind = "cvv"
	// KindExpMonth is the card's expiry month. Outbound, it is the token's
	// expiry month (the card's on PAN fallback).
	KindExpMonth Kind = "exp_month"
	// KindExpYear is the card's expiry year. Outbound, it is the token's
	// expiry year (the card's on PAN fallback).
	KindExpYear Kind = "exp_year"
	// KindConsent (inbound) is the customer's consent to the card being
	// kept and tokenized with the network (RBI): true keeps the card and
	// provisions a network token; false keeps nothing after the payment (a
	// short-lived token that expires with the CVV); absent or null follows
	// the rule set's ConsentDefault. It stays in the body.
	KindConsent Kind = "consent"
	// KindName is the cardholder name. Outbound, it is the name kept with
	// the token.
	KindName Kind = "name"
)

// Outbound field kinds: where the merchant's token is read, and where values
// are injected on the way to a payment processor. KindExpMonth, KindExpYear,
// KindCVV and KindName are valid outbound too.
const (
	// KindToken is where the merchant's token reference is read.
	KindToken Kind = "token"
	// KindNumber is where the network token (DPAN), or the PAN on fallback,
	// is written. When a set has none, it defaults to the token's selectors,
	// so the number replaces the token in place.
	KindNumber Kind = "number"
	// KindCryptogram is where a fresh, single-use cryptogram is written.
	KindCryptogram Kind = "cryptogram"
	// KindECI is where the ECI returned with the cryptogram is written.
	KindECI Kind = "eci"
	// KindConstant writes Field.Value as it is: it switches a request's
	// shape (a source type) with When.
	KindConstant Kind = "constant"
	// KindBrand writes the value Field.Values gives the card's brand (or
	// Field.Default): a processor's name for the scheme.
	KindBrand Kind = "brand"
	// KindRemove deletes the member or form field at its place: with When,
	// it takes a value out of one case's request, such as the token's own
	// member when the network token goes in another one (Checkout.com's
	// source.number, which a network_token source does not have).
	KindRemove Kind = "remove"
	// KindGraphQL is a GraphQL request's query text (Field.Op): it is
	// checked to hold the one mutation the set knows, whose input comes
	// from a variable, and for a network token its mutation is switched
	// (Braintree's tokenizeCreditCard to tokenizeNetworkToken).
	KindGraphQL Kind = "graphql"
)

// When says for which injection an outbound field is written.
type When string

// Injection cases.
const (
	// WhenAlways (the default) writes the field for either injection.
	WhenAlways When = ""
	// WhenNetworkToken writes the field only when a network token is sent.
	WhenNetworkToken When = "network_token"
	// WhenPAN writes the field only on the PAN fallback.
	WhenPAN When = "pan"
)

// Applies reports whether a field with this When is written for injection
// c (WhenNetworkToken or WhenPAN).
func (w When) Applies(c When) bool { return w == WhenAlways || w == c }

// overlaps reports whether two fields' cases can both be written in one
// request.
func (w When) overlaps(v When) bool { return w == WhenAlways || v == WhenAlways || w == v }

// ExpFormat is how an outbound expiry month or year is written.
type ExpFormat string

// Expiry formats. The empty format writes the expiry as it is held ("03",
// "2030" as received inbound; the network's for a network token).
const (
	ExpMM   ExpFormat = "mm"   // month, zero-padded: "03"
	ExpM    ExpFormat = "m"    // month without padding: "3"
	ExpYYYY ExpFormat = "yyyy" // four-digit year: "2030"
	ExpYY   ExpFormat = "yy"   // two-digit year: "30"
)

// As is the JSON type an outbound value is written as.
type As string

// JSON output types. The empty As writes strings, except constants and
// brand values, which keep their YAML type.
const (
	AsString  As = "string"
	AsInteger As = "integer"
)

// Scalar is a literal an outbound field writes (constant, brand).
type Scalar struct {
	// Text is the value as text: a form value, or a JSON string's content.
	Text string
	// Bare writes Text in JSON without quotes: it is a decimal integer or
	// true/false (checked at load).
	Bare bool
}

// TokenFormat is the shape of the token the merchant receives.
type TokenFormat string

// Token formats.
const (
	// FormatPrefixed is Prefix followed by 24 random base62 characters.
	FormatPrefixed TokenFormat = "prefixed"
	// FormatUUID is a random UUID v4.
	FormatUUID TokenFormat = "uuid"
	// FormatAlias keeps the first 6 and last 4 digits and the length of the
	// PAN, and is Luhn-invalid so it can never be mistaken for a card.
	FormatAlias TokenFormat = "alias"
	// FormatNetworkToken is the network token (DPAN) itself.
	FormatNetworkToken TokenFormat = "network_token"
)

// Fallback is what outbound does when a card has no usable network token.
type Fallback string

// PANGuard is what inbound does with card numbers no field names.
type PANGuard string

// CVVStoreDown is a rule set's policy for a CVV that cannot be held.
type CVVStoreDown string

// CVV store outage policies.
const (
	// CVVStoreDownReject answers 503 and forwards nothing: the payment is
	// retried when the store is back, with its CVV.
	CVVStoreDownReject CVVStoreDown = "reject"
	// CVVStoreDownDrop tokenizes the card, drops its CVV (not held, and
	// removed from the body) and forwards the request with the header
	// Tokengate-Cvv-Not-Held naming the fields: the payment goes on without
	// a CVV, as a network token payment with a cryptogram does anyway.
	CVVStoreDownDrop CVVStoreDown = "drop"
)

// PAN guard policies.
const (
	// PANReject refuses the request with 400, naming where the number is.
	PANReject PANGuard = "reject"
	// PANTokenize tokenizes the number where it is.
	PANTokenize PANGuard = "tokenize"
	// PANLog forwards the request and logs where the number is.
	PANLog PANGuard = "log"
	// PANOff does not look.
	PANOff PANGuard = "off"
)

// DefaultMaxCards is the most cards a request may carry unless the rule set
// says otherwise: a checkout has one to three; bulk imports raise it.
const DefaultMaxCards = 50

// ResponseGuard is what outbound does with the processor's response.
type ResponseGuard string

// Response guard policies.
const (
	// GuardRedact removes injected values and masks card numbers.
	GuardRedact ResponseGuard = "redact"
	// GuardOff passes the response on untouched.
	GuardOff ResponseGuard = "off"
)

// Fallback policies.
const (
	// FallbackPAN sends the PAN (and the CVV while it is held) instead.
	FallbackPAN Fallback = "pan"
	// FallbackReject refuses the request.
	FallbackReject Fallback = "reject"
)

// Field names one field of a body. At least one of JSON and Form is set.
type Field struct {
	// Kind says what the field holds.
	Kind Kind
	// JSON is a plain gjson path ("card.number", "cards.#.number"): keys,
	// numeric indexes, and "#" as a whole segment for every element of an
	// array. Queries and modifiers are rejected because they cannot be
	// written back.
	JSON string
	// Form is a field name for urlencoded and multipart bodies.
	Form string
	// Keep, for inbound cvv/exp/name fields, leaves the value in the body
	// (a CVV is then replaced by a mask rather than removed).
	Keep bool
	// When (outbound) limits the field to one injection case.
	When When
	// Format (outbound exp_month, exp_year) reformats the expiry.
	Format ExpFormat
	// As (outbound exp_month, exp_year, eci, constant, brand) is the JSON
	// type written; "" is the default (see As).
	As As
	// Value is a constant field's value.
	Value Scalar
	// Values maps a brand field's card brands (card.Brand names) to the
	// value written for them; Default, when not nil, is written for any
	// other brand.
	Values  map[string]Scalar
	Default *Scalar
	// Op is a graphql field's operation.
	Op *GraphQLOp
	// Line is where the field is declared in the rules file, for errors.
	Line int
}

// Match limits a rule set to some requests. Empty lists match everything.
type Match struct {
	// Methods are HTTP methods, upper case (e.g. POST); matching ignores case.
	Methods []string
	// Paths are patterns as Caddy's path matcher reads them: exact, prefix
	// ("/api/*"), suffix ("*.json"), substring ("*/pay/*") or a path.Match
	// glob. Matching ignores case and cleans the request path first.
	Paths []string
}

// Inbound is a named inbound rule set (customer -> merchant).
type Inbound struct {
	// Name is the rule set's name, as the Caddyfile refers to it.
	Name string
	// Tenant scopes tokens in the vault; it defaults to "default".
	Tenant string
	// Match limits the set to some requests.
	Match Match
	// Format is the shape of the tokens issued; it defaults to prefixed.
	Format TokenFormat
	// Prefix starts every FormatPrefixed token; it defaults to "tok_".
	Prefix string
	// CVVTTL is how long a CVV is held in memory; it defaults to 15m.
	CVVTTL time.Duration
	// Network names the network token service that provisions this set's
	// cards, when several are configured; "" means the first configured.
	Network string
	// ConsentDefault is the consent of a card whose consent field is absent
	// (or when the set has none): true (the default) keeps the card.
	ConsentDefault bool
	// PANGuard is what happens to a card number the fields did not name,
	// found anywhere else in the body or the query string; it defaults to
	// reject.
	PANGuard PANGuard
	// CVVStoreDown is what happens to a card whose CVV cannot be held
	// because the CVV store (Redis) is failing; it defaults to reject.
	CVVStoreDown CVVStoreDown
	// MaxCards is the most cards one request may carry, counted before
	// anything is stored; it defaults to DefaultMaxCards.
	MaxCards int
	// Fields are the set's fields, in the order of the file.
	Fields []Field
	// Line is where the set is declared in the rules file, for errors.
	Line int
}

// Outbound is a named outbound rule set (merchant -> payment processor).
type Outbound struct {
	// Name is the rule set's name, as the Caddyfile refers to it.
	Name string
	// Preset is the processor preset the set's fields start from ("" for
	// none); Fields and Match hold it expanded.
	Preset string
	// Match limits the set to some requests; with a preset and no match of
	// its own, the preset's.
	Match Match
	// Destinations are the host:port pairs a detokenized request may be
	// sent to; there is at least one, so card data never goes elsewhere.
	Destinations []string
	// Fallback is what to do without a usable network token; it defaults
	// to reject.
	Fallback Fallback
	// ResponseGuard says what happens to the processor's response: redact
	// (the default) removes every value the request carried out and masks
	// any other card number before the merchant sees it; off passes it on.
	ResponseGuard ResponseGuard
	// MaxCards is the most tokens one request may detokenize; it defaults
	// to DefaultMaxCards.
	MaxCards int
	// AllowPlaintext lets detokenized requests go to destinations that are
	// not loopback without TLS. It is false by default: card data crosses a
	// network only encrypted, to a server whose certificate was verified.
	AllowPlaintext bool
	// PANGuard is what happens to a card number anywhere in the merchant's
	// request but the token fields (body values and member names, query
	// string, path, header values): reject (the default) refuses it with
	// 400, log forwards it and logs where it is, off does not look. A
	// merchant holds tokens, so a card number there is a mistake or a
	// probe of the response guard.
	PANGuard PANGuard
	// Initiator says who initiates the set's transactions: cit (the
	// default, "" counts as cit) or mit, for which a Mastercard network
	// token goes without a cryptogram.
	Initiator network.Initiator
	// Fields are the set's fields, in the order of the file, with a number
	// field added after the token field when the file has none.
	Fields []Field
	// PANOnly is set by a preset whose processor takes no network token
	// (stripe): every card goes as its PAN, even one with a network
	// token, and no cryptogram is requested. Load requires fallback: pan.
	PANOnly bool
	// Sign, when set, has tokengate sign the request it sends, after
	// detokenization, in place of the merchant's signature headers.
	Sign *Sign
	// Line is where the set is declared in the rules file, for errors.
	Line int
}

// File is a parsed rules file. Sets keep the order of the file.
type File struct {
	// Path is the name the file was parsed under, as errors show it.
	Path string
	// Inbound are the inbound rule sets.
	Inbound []*Inbound
	// Outbound are the outbound rule sets.
	Outbound []*Outbound
}
