package detokenize

import (
	"net/http"
	"strconv"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/rules"
)

// ReasonBrandNotSupported is the fallback reason of a card whose brand one
// of the rule set's network token brand fields has no value for (a
// processor with no network token type for Amex, say): its network token
// cannot be described, so the card takes the fallback.
const ReasonBrandNotSupported = "brand_not_supported"

// ReasonProcessorNoNetworkToken is the reason every card of a PAN-only set
// (rules.Outbound.PANOnly: a processor whose API takes no network token,
// such as Stripe's) goes as its PAN, even one with a network token.
const ReasonProcessorNoNetworkToken = "processor_takes_no_network_token"

// render returns what target t writes: v, the card's value for its kind,
// in the field's format and type; the literal for constant and brand
// fields. bare means JSON text written unquoted (an integer or a boolean).
// ok is false for a value that cannot take the format (an expiry or ECI
// that is not digits): the caller refuses rather than send it half-right.
func render(t target, v, brand string) (text string, bare, ok bool) {
	switch t.Kind {
	case rules.KindConstant:
		return t.Value.Text, t.Value.Bare, true
	case rules.KindBrand:
		s, found := t.Values[brand]
		if !found {
			s = *t.Default // brandless was checked first
		}
		return s.Text, s.Bare, true
	case rules.KindExpMonth:
		if t.Format == "" && t.As != rules.AsInteger || v == "" {
			return v, false, true
		}
		m, ok := card.ParseExpMonth(v)
		if !ok {
			return "", false, false
		}
		text = strconv.Itoa(m)
		if t.Format == rules.ExpMM || t.Format == "" && t.As != rules.AsInteger {
			text = pad2(m)
		}
		return text, t.As == rules.AsInteger, true
	case rules.KindExpYear:
		if t.Format == "" && t.As != rules.AsInteger || v == "" {
			return v, false, true
		}
		y, ok := card.ParseExpYear(v)
		if !ok {
			return "", false, false
		}
		if t.Format == rules.ExpYY || t.Format == "" && len(v) == 2 {
			y %= 100
			if t.As != rules.AsInteger {
				return pad2(y), false, true
			}
		}
		return strconv.Itoa(y), t.As == rules.AsInteger, true
	case rules.KindECI:
		if t.As != rules.AsInteger || v == "" {
			return v, false, true
		}
		n, err := strconv.ParseUint(v, 10, 8)
		if err != nil {
			return "", false, false
		}
		return strconv.FormatUint(n, 10), true, true
	}
	return v, false, true
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// unformattable is the answer for a held value the rule set's format
// cannot take; it names the field, never the value.
func unformattable(path string, k rules.Kind) error {
	return &body.FieldError{Status: http.StatusUnprocessableEntity, Field: path, Code: "unformattable_value",
		Reason: "the card's " + string(k) + " cannot be written in the rule set's format"}
}

// brandNotSupported is the PAN fallback's answer for a brand field with no
// value for the card's brand: the processor would get a request it cannot
// read. It names the field, never a value.
func brandNotSupported(path string) error {
	return &body.FieldError{Status: http.StatusUnprocessableEntity, Field: path, Code: ReasonBrandNotSupported,
		Reason: "the rule set's brand field has no value for this card's brand and no default"}
}
