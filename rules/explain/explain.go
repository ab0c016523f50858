// Package explain shows what a rule set does to a request body before any
// traffic is sent: what the merchant receives (inbound) or what the
// processor receives with a network token and on the PAN fallback
// (outbound). It needs no vault, keys, network or running gateway.
//
// It is faithful by construction: it runs the real tokenize.Tokenizer and
// detokenize.Detokenizer, wired by stack.New as the gateway wires them,
// over throwaway in-memory parts (a memory vault, a fresh development
// keyset, the builtin network token service on a memory store, the
// in-memory CVV store). Only the values differ: the secrets the fakes hold
// are placeholders (<pan>, <network_token>, <cryptogram>, <cvv>...), so the
// real field writer writes the placeholders itself, and the tokens the real
// tokenizer draws are replaced by <token> after the fact.
package explain

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/rules"
)

// Placeholders the outbound fakes hold instead of real values. They are
// strings, as the values they stand for are always written as strings.
// Values whose JSON type a rule set may change (expiry, ECI) are not
// placeholders but fixed, obviously synthetic values, so that "as:
// integer" and "format: yy" show in the output (see SampleCard).
const (
	PlaceholderToken        = "<token>"
	PlaceholderPAN          = "<pan>"
	PlaceholderNetworkToken = "<network_token>"
	PlaceholderCryptogram   = "<cryptogram>"
	PlaceholderCVV          = "<cvv>"
	PlaceholderName         = "<cardholder_name>"
)

// SampleCard is the synthetic card an outbound explanation detokenizes:
// its expiry is 03/2034, its network token's 08/2033 (the builtin service
// issues tokens for 36 months, on a clock fixed at 2030-08-01), so that
// the output shows which expiry went where and in what format. The
// builtin's ECI (07) is written as it is.
const (
	SampleExpMonth      = "03"
	SampleExpYear       = "2034"
	SampleTokenExpMonth = "08"
	SampleTokenExpYear  = "2033"
)

// DefaultContentType is the body's type when the caller gives none.
const DefaultContentType = "application/json"

// DefaultBrand is the card's brand when the caller gives none.
const DefaultBrand = "visa"

// tenant is the tenant records are stored under: one explanation has one.
const tenant = "explain"

// Options tune an explanation.
type Options struct {
	// ContentType is the body's Content-Type; "" is DefaultContentType.
	ContentType string
	// Brand is the card's brand for outbound sets; "" is DefaultBrand.
	Brand string
	// Header, when set, renders the Tokengate-Injected header value the
	// gateway would answer with, from what the detokenizer reports.
	Header func([]detokenize.Injection) string
	// OutboundGuard, when set, is the gateway's outbound PAN guard over a
	// body (it lives with the Caddy handler): the place of a card number
	// outside the set's token fields, if any. Without it, explain does not
	// look.
	OutboundGuard func(set *rules.Outbound, kind body.Kind, doc body.Doc) (place string, found bool)
}

// Case names.
const (
	CaseInbound      = "inbound"
	CaseNetworkToken = "network_token"
	CasePAN          = "pan"
)

// Change is one body field the rule set touched.
type Change struct {
	// Op is "replaced", "added" or "removed".
	Op string `json:"op"`
	// Path is the field's concrete path (JSON) or name (forms).
	Path string `json:"path"`
	// Value is what the field holds now: JSON text for JSON bodies, the
	// decoded value for forms; empty when removed. Never a received value.
	Value string `json:"value,omitempty"`
}

// Case is the request as it would leave in one case.
type Case struct {
	// Name is CaseInbound, CaseNetworkToken or CasePAN.
	Name string `json:"case"`
	// Refused is the gateway's answer when it would forward nothing (the
	// fallback is reject, the brand has no value...); Body and Changes are
	// then empty.
	Refused string `json:"refused,omitempty"`
	// Body is the body as it would leave, with placeholders.
	Body string `json:"body,omitempty"`
	// Changes are the fields touched, in body order, removals last.
	Changes []Change `json:"changes"`
	// Injections (outbound) say what each token field became.
	Injections []detokenize.Injection `json:"injections,omitempty"`
	// Injected is the Tokengate-Injected header value (outbound), when
	// Options.Header was given.
	Injected string `json:"injected,omitempty"`
	// Notes say what else the gateway would do or log.
	Notes []string `json:"notes,omitempty"`
}

// Report is an explanation.
type Report struct {
	Set         string `json:"set"`
	Direction   string `json:"direction"` // "inbound" or "outbound"
	ContentType string `json:"content_type"`
	Brand       string `json:"brand,omitempty"` // outbound only
	Cases       []Case `json:"cases"`
}

// Explain runs the rule set called set of f over data, a request body, and
// reports what would leave. An error means the body cannot be explained
// (unknown set, unsupported type, unparsable body) or, inbound, that the
// gateway would refuse it; errors name fields, never values.
func Explain(ctx context.Context, f *rules.File, set string, data []byte, o Options) (*Report, error) {
	if o.ContentType == "" {
		o.ContentType = DefaultContentType
	}
	kind := body.KindOf(o.ContentType)
	if kind == body.Other {
		return nil, fmt.Errorf("content type %q: the gateway edits only JSON, urlencoded form and multipart bodies", o.ContentType)
	}
	if _, err := body.Parse(kind, o.ContentType, data); err != nil {
		return nil, fmt.Errorf("the %s body does not parse: %w", kind, err)
	}
	if in, ok := f.InboundSet(set); ok {
		c, err := explainInbound(ctx, in, kind, o.ContentType, data)
		if err != nil {
			return nil, err
		}
		return &Report{Set: set, Direction: "inbound", ContentType: o.ContentType, Cases: []Case{c}}, nil
	}
	out, ok := f.OutboundSet(set)
	if !ok {
		return nil, fmt.Errorf("no rule set %q in %s (sets: %s)", set, f.Path, strings.Join(setNames(f), ", "))
	}
	if o.Brand == "" {
		o.Brand = DefaultBrand
	}
	pan, ok := samplePANs[card.Brand(o.Brand)]
	if !ok {
		return nil, fmt.Errorf("brand %q: want one of %s", o.Brand, strings.Join(Brands(), ", "))
	}
	r := &Report{Set: set, Direction: "outbound", ContentType: o.ContentType, Brand: o.Brand}
	for _, withNT := range []bool{true, false} {
		c, err := explainOutbound(ctx, out, kind, o, data, pan, withNT)
		if err != nil {
			return nil, err
		}
		r.Cases = append(r.Cases, c)
	}
	return r, nil
}

func setNames(f *rules.File) []string {
	var names []string
	for _, s := range f.Inbound {
		names = append(names, s.Name)
	}
	for _, s := range f.Outbound {
		names = append(names, s.Name)
	}
	return names
}

// samplePANs are public test card numbers, one per brand --brand accepts.
var samplePANs = map[card.Brand]string{
	card.Visa:       "4111111111111111",
	card.Mastercard: "5555555555554444",
	card.Amex:       "378282246310005",
	card.Discover:   "6011111111111117",
	card.JCB:        "3530111333300000",
	card.Diners:     "36227206271667",
	card.UnionPay:   "6200000000000005",
}

// Brands lists the brands an outbound explanation can use, sorted.
func Brands() []string {
	var out []string
	for b := range samplePANs {
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// refusal turns the gateway's refusal of a request into what a case shows;
// other errors (the fakes failing) are returned.
func refusal(err error) (string, bool) {
	var fe *body.FieldError
	var nr *detokenize.NotReplacedError
	switch {
	case errors.As(err, &fe):
		return fmt.Sprintf("%d %s", fe.Status, fe.Error()), true
	case errors.As(err, &nr):
		return "500 " + nr.Error(), true
	}
	return "", false
}

// clock is the builtin network service's clock (see SampleCard).
func clock() time.Time { return time.Date(2030, time.August, 1, 12, 0, 0, 0, time.UTC) }
