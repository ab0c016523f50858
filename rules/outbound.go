package rules

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/network"
)

// outbound decodes and checks one outbound rule set.
func (p *parser) outbound(key, n *yaml.Node) (*Outbound, error) {
	ctx := fmt.Sprintf("outbound %q", key.Value)
	s := &Outbound{Name: key.Value, Fallback: FallbackReject, ResponseGuard: GuardRedact, PANGuard: PANReject, MaxCards: DefaultMaxCards, Line: key.Line}
	es, err := p.entries(n, ctx, []string{"preset", "match", "destinations", "fallback", "response_guard", "allow_plaintext", "max_cards", "initiator", "fields", "pan_guard", "sign"})
	if err != nil {
		return nil, err
	}
	var presetKey *yaml.Node
	for _, e := range es {
		switch e.key.Value {
		case "preset":
			if s.Preset, err = p.str(e.val, ctx, "preset"); err != nil {
				return nil, err
			}
			if _, ok := presets[s.Preset]; !ok {
				return nil, p.errAt(e.val, ctx, "unknown preset %q (want %s)", s.Preset, presetNames())
			}
			presetKey = e.key
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
		case "sign":
			if s.Sign, err = p.sign(e.key, e.val, ctx); err != nil {
				return nil, err
			}
		}
	}
	if len(s.Destinations) == 0 {
		return nil, p.errAt(key, ctx, "needs at least one destination (host:port), so card data can only go where it is meant to")
	}
	if presetKey != nil {
		pr := presets[s.Preset]
		s.Fields = withPreset(pr, presetKey.Line, s.Fields)
		if len(s.Match.Methods) == 0 && len(s.Match.Paths) == 0 {
			s.Match = Match{Methods: slices.Clone(pr.match.Methods), Paths: slices.Clone(pr.match.Paths)}
		}
		if pr.panOnly {
			if err := p.checkPANOnly(presetKey, ctx, s); err != nil {
				return nil, err
			}
			s.PANOnly = true
		}
		if pr.sign != "" && (s.Sign == nil || s.Sign.Scheme != pr.sign) {
			// The processor verifies a signature over the body tokengate
			// changes: without tokengate's own, every request is refused.
			return nil, p.errAt(presetKey, ctx, "the %s preset needs sign: {scheme: %s, merchant_id: ..., key_id: ..., secret: \"{env.NAME}\"} (or secret_file): the processor checks a signature over the body, which detokenization changes", s.Preset, pr.sign)
		}
	}
	if err := p.checkFields(key, ctx, s.Fields, outboundDir); err != nil {
		return nil, err
	}
	if err := p.checkInjected(ctx, s.Fields); err != nil {
		return nil, err
	}
	if err := p.checkGraphQLSet(ctx, s.Fields); err != nil {
		return nil, err
	}
	before := len(s.Fields)
	s.Fields = withNumber(s.Fields)
	if err := p.checkTokenPlace(ctx, s.Fields, len(s.Fields) > before); err != nil {
		return nil, err
	}
	return s, nil
}

// checkTokenPlace refuses a set in which one case could leave the token
// where a card number belongs. The token's place holds a card number when
// a number is written there in either case; then each case must write its
// number there or remove the member (kind: remove): Checkout.com's card
// source has the number at source.number, its network_token source at
// source.token and no source.number, so a set that moved the number for
// the network token and kept the member sent tok_… in the one place the
// processor reads as a card number on the other. A token read where no
// number ever goes (a merchant's reference beside the card) stays there,
// by the set's design. It also refuses a remove of the place its case
// writes the number to, as nothing would be left to send.
func (p *parser) checkTokenPlace(ctx string, fields []Field, added bool) error {
	ti := slices.IndexFunc(fields, func(f Field) bool { return f.Kind == KindToken })
	if ti < 0 {
		return nil
	}
	// fc names field i as the file counts it, without the number withNumber
	// added right after the token.
	fc := func(i int) string {
		if added && i > ti {
			i--
		}
		return fieldCtx(ctx, i)
	}
	t := fields[ti]
	for _, sel := range []struct {
		of   func(Field) string
		json bool
	}{{func(f Field) string { return f.JSON }, true}, {func(f Field) string { return f.Form }, false}} {
		place := sel.of(t)
		if place == "" {
			continue
		}
		at := func(k Kind, c When) int {
			return slices.IndexFunc(fields, func(f Field) bool {
				return f.Kind == k && f.When.Applies(c) && (sel.of(f) == place || k == KindRemove && sel.json && Encloses(f.JSON, place))
			})
		}
		held := at(KindNumber, WhenNetworkToken) >= 0 || at(KindNumber, WhenPAN) >= 0
		for _, c := range []When{WhenNetworkToken, WhenPAN} {
			n, r := at(KindNumber, c), at(KindRemove, c)
			switch {
			case n >= 0 && r >= 0:
				return p.errLine(fields[r].Line, fc(r), "removes %q, where the %s case writes the card number", place, c)
			case held && n < 0 && r < 0:
				ni := slices.IndexFunc(fields, func(f Field) bool { return f.Kind == KindNumber && f.When.Applies(c) })
				return p.errLine(fields[ni].Line, fc(ni), "the %s case writes the number elsewhere and leaves the token at %q, where the other case writes a card number: the processor would read the token as the card's number; add {kind: remove, %s: %s, when: %s}", c, place, selName(t, place), place, c)
			}
		}
	}
	return nil
}

// selName is "json" or "form": which of the token's selectors place is.
func selName(t Field, place string) string {
	if t.JSON == place {
		return "json"
	}
	return "form"
}

// withNumber adds, when fields have no number field, one right after the
// token field with the token's selectors: the common case is replacing the
// token in place, and writing it out would only invite a mismatch. The
// same holds per case: a number written only when a network token is sent
// (network_token's own member) gets the token's place on the PAN fallback,
// so that no case leaves the token where a card number belongs.
func withNumber(fields []Field) []Field {
	i := slices.IndexFunc(fields, func(f Field) bool { return f.Kind == KindToken })
	if i < 0 {
		return fields
	}
	has := func(c When) bool {
		return slices.ContainsFunc(fields, func(f Field) bool { return f.Kind == KindNumber && f.When.Applies(c) })
	}
	nt, pan := has(WhenNetworkToken), has(WhenPAN)
	var w When
	switch {
	case nt && pan:
		return fields
	case nt:
		w = WhenPAN
	case pan:
		w = WhenNetworkToken
	}
	t := fields[i]
	n := Field{Kind: KindNumber, JSON: t.JSON, Form: t.Form, When: w, Line: t.Line}
	return slices.Insert(fields, i+1, n)
}

// checkInjected refuses an outbound set in which a token could be found
// where its card's values could not all be written: every field must be
// addressable in each body kind (JSON, form) in which the token is, and its
// "#" segments must sit in the token's own arrays.
//
// checkFields already refuses a field the token cannot tie to a card (json
// on a field when the token has none); this is the converse. A number
// mapped for forms only, with a token read from JSON too, sent JSON
// payments on with the merchant's token where the card number belongs,
// while the response said a network token went. The rule covers every
// kind, not only the number: a network token without its cryptogram, ECI
// or own expiry is declined, a PAN fallback without its CVV may be, and a
// processor API that takes a value in one encoding takes it in the other,
// so a field mapped for one body kind only is a line forgotten, and one the
// user can fix from the message. A kind mapped for no body kind at all
// (a set without cryptogram, for instance) is a choice and stays allowed.
func (p *parser) checkInjected(ctx string, fields []Field) error {
	ti := slices.IndexFunc(fields, func(f Field) bool { return f.Kind == KindToken })
	if ti < 0 {
		return nil // checkFields has refused it
	}
	t := fields[ti]
	for i, f := range fields {
		if i == ti {
			continue
		}
		fc := fieldCtx(ctx, i)
		what := "its " + string(f.Kind) + " would not be written"
		if f.Kind == KindNumber {
			what = "no card number would be written for it, and the token itself would go to the processor"
		}
		if t.JSON != "" && f.JSON == "" {
			return p.errLine(f.Line, fc, "%s has form but no json, while the token field (field %d, line %d) has json %q: in a JSON body the token would be found and %s; add json to this field", f.Kind, ti+1, t.Line, t.JSON, what)
		}
		if t.Form != "" && f.Form == "" {
			return p.errLine(f.Line, fc, "%s has json but no form, while the token field (field %d, line %d) has form %q: in a form body the token would be found and %s; add form to this field", f.Kind, ti+1, t.Line, t.Form, what)
		}
		if f.JSON != "" && !sameArrays(f.JSON, t.JSON) {
			return p.errLine(f.Line, fc, "json %q has its # segments in other arrays than the token field's %q: the values of a card whose token is in an array element must be written inside that same element", f.JSON, t.JSON)
		}
	}
	return nil
}

// sameArrays reports whether path a's "#" segments are path b's: the path
// up to each "#" is the same in both, so that filling the indexes of a value
// found at b lands in the same array elements. The counts are already equal
// (checkFields).
func sameArrays(a, b string) bool {
	sa, sb := body.SplitPath(a), body.SplitPath(b)
	ia, ib := 0, 0
	for {
		for ia < len(sa) && sa[ia] != "#" {
			ia++
		}
		for ib < len(sb) && sb[ib] != "#" {
			ib++
		}
		if ia == len(sa) || ib == len(sb) {
			return ia == len(sa) && ib == len(sb)
		}
		if !slices.Equal(sa[:ia], sb[:ib]) {
			return false
		}
		ia++
		ib++
	}
}

// initiator decodes who initiates the rule set's transactions.
func (p *parser) initiator(n *yaml.Node, ctx string) (network.Initiator, error) {
	s, err := p.str(n, ctx, "initiator")
	if err != nil {
		return "", err
	}
	switch i := network.Initiator(s); i {
	case network.CustomerInitiated, network.MerchantInitiated:
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

// checkPANOnly refuses a set whose preset's processor takes no network
// token (stripe) but whose rules would have one sent: without fallback:
// pan every card would be refused, and a network token field would never
// be written, so either is a mistake better shown at load.
func (p *parser) checkPANOnly(presetKey *yaml.Node, ctx string, s *Outbound) error {
	if s.Fallback != FallbackPAN {
		return p.errAt(presetKey, ctx, "preset %s sends every card as its PAN (the processor's API takes no network token): set fallback: pan", s.Preset)
	}
	for _, f := range s.Fields {
		if f.When == WhenNetworkToken {
			return p.errLine(f.Line, ctx, "preset %s never sends a network token, so a when: network_token field would never be written", s.Preset)
		}
	}
	return nil
}
