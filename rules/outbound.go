package rules

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// outbound decodes and checks one outbound rule set.
func (p *parser) outbound(key, n *yaml.Node) (*Outbound, error) {
	ctx := fmt.Sprintf("outbound %q", key.Value)
	s := &Outbound{Name: key.Value, Fallback: FallbackReject, ResponseGuard: GuardRedact, PANGuard: PANReject, MaxCards: DefaultMaxCards, Line: key.Line}
	es, err := p.entries(n, ctx, []string{"match", "destinations", "fallback", "response_guard", "allow_plaintext", "max_cards", "initiator", "fields", "pan_guard"})
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		switch e.key.Value {
		case "match":
			if s.Match, err = p.match(e.val, ctx); err != nil {
				return nil, err
			}
		case "destinations":
			if s.Destinations, err = p.destinations(e.val, ctx); err != nil {
				return nil, err
			}
		case "fallback":
			if s.Fallback, err = p.fallback(e.val, ctx); err != nil {
				return nil, err
			}
		case "response_guard":
			if s.ResponseGuard, err = p.responseGuard(e.val, ctx); err != nil {
				return nil, err
			}
		case "max_cards":
			if s.MaxCards, err = p.maxCards(e.val, ctx); err != nil {
				return nil, err
			}
		case "initiator":
			if s.Initiator, err = p.initiator(e.val, ctx); err != nil {
				return nil, err
			}
		case "allow_plaintext":
			if s.AllowPlaintext, err = p.boolean(e.val, ctx, "allow_plaintext"); err != nil {
				return nil, err
			}
		case "fields":
			if s.Fields, err = p.fields(e.val, ctx, outboundDir); err != nil {
				return nil, err
			}
		case "pan_guard":
			if s.PANGuard, err = p.outboundPANGuard(e.val, ctx); err != nil {
				return nil, err
			}
		}
	}
	if len(s.Destinations) == 0 {
		return nil, p.errAt(key, ctx, "needs at least one destination (host:port), so card data can only go where it is meant to")
	}
	if err := p.checkFields(key, ctx, s.Fields, outboundDir); err != nil {
		return nil, err
	}
	s.Fields = withNumber(s.Fields)
	return s, nil
}

// withNumber adds, when fields have no number field, one right after the
// token field with the token's selectors: the common case is replacing the
// token in place, and writing it out would only invite a mismatch.
func withNumber(fields []Field) []Field {
	i := slices.IndexFunc(fields, func(f Field) bool { return f.Kind == KindToken })
	if i < 0 || slices.ContainsFunc(fields, func(f Field) bool { return f.Kind == KindNumber }) {
		return fields
	}
	t := fields[i]
	n := Field{Kind: KindNumber, JSON: t.JSON, Form: t.Form, Line: t.Line}
	return slices.Insert(fields, i+1, n)
}

// initiator decodes who initiates the rule set's transactions.
func (p *parser) initiator(n *yaml.Node, ctx string) (Initiator, error) {
	s, err := p.str(n, ctx, "initiator")
	if err != nil {
		return "", err
	}
	switch i := Initiator(s); i {
	case InitiatorCustomer, InitiatorMerchant:
		return i, nil
	}
	return "", p.errAt(n, ctx, "unknown initiator %q (want cit, mit)", s)
}

// fallback decodes a fallback policy.
func (p *parser) fallback(n *yaml.Node, ctx string) (Fallback, error) {
	s, err := p.str(n, ctx, "fallback")
	if err != nil {
		return "", err
	}
	switch f := Fallback(s); f {
	case FallbackPAN, FallbackReject:
		return f, nil
	}
	return "", p.errAt(n, ctx, "unknown fallback %q (want pan, reject)", s)
}

// responseGuard decodes a response guard policy.
func (p *parser) responseGuard(n *yaml.Node, ctx string) (ResponseGuard, error) {
	s, err := p.str(n, ctx, "response_guard")
	if err != nil {
		return "", err
	}
	switch g := ResponseGuard(s); g {
	case GuardRedact, GuardOff:
		return g, nil
	}
	return "", p.errAt(n, ctx, "unknown response_guard %q (want redact, off)", s)
}

// destinations decodes the host:port list. Hosts are lower-cased, as DNS
// names compare without case and the list is checked against requests.
func (p *parser) destinations(n *yaml.Node, ctx string) ([]string, error) {
	items, err := p.list(n, ctx, "destinations")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		host, port, err := net.SplitHostPort(it.Value)
		if err != nil || host == "" {
			return nil, p.errAt(it, ctx, "destination %q: want host:port", it.Value)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, p.errAt(it, ctx, "destination %q: port must be 1 to 65535", it.Value)
		}
		d := net.JoinHostPort(strings.ToLower(host), port)
		if slices.Contains(out, d) {
			return nil, p.errAt(it, ctx, "destination %q is listed twice", it.Value)
		}
		out = append(out, d)
	}
	return out, nil
}

// outboundPANGuard decodes an outbound PAN guard policy: a card number in a
// merchant's request cannot be tokenized, since the merchant holds tokens.
func (p *parser) outboundPANGuard(n *yaml.Node, ctx string) (PANGuard, error) {
	s, err := p.str(n, ctx, "pan_guard")
	if err != nil {
		return "", err
	}
	switch g := PANGuard(s); g {
	case PANReject, PANLog, PANOff:
		return g, nil
	}
	return "", p.errAt(n, ctx, "unknown pan_guard %q (want reject, log, off)", s)
}
