package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Inbound defaults and limits.
const (
	defaultTenant = "default"
	defaultPrefix = "tok_"
	defaultCVVTTL = 15 * time.Minute
	// A CVV must not outlive authorization (PCI DSS); a day bounds a
	// misconfiguration, a second is the smallest TTL a store can keep.
	minCVVTTL = time.Second
	maxCVVTTL = 24 * time.Hour
)

var (
	// tenantName keeps tenants usable as a component of vault and cache
	// keys: no separators, whitespace or NUL.
	tenantName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	// tokenPrefix keeps prefixes URL-, JSON- and form-safe, and short
	// enough that tokens stay shorter than most column limits.
	tokenPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)
)

// inbound decodes and checks one inbound rule set.
func (p *parser) inbound(key, n *yaml.Node) (*Inbound, error) {
	ctx := fmt.Sprintf("inbound %q", key.Value)
	s := &Inbound{Name: key.Value, Tenant: defaultTenant, Format: FormatPrefixed, CVVTTL: defaultCVVTTL, PANGuard: PANReject, MaxCards: DefaultMaxCards, ConsentDefault: true, CVVStoreDown: CVVStoreDownReject, Line: key.Line}
	es, err := p.entries(n, ctx, []string{"tenant", "match", "token_format", "token_prefix", "cvv_ttl", "pan_guard", "max_cards", "consent_default", "cvv_store_down", "network", "fields"})
	if err != nil {
		return nil, err
	}
	var prefixKey *yaml.Node
	for _, e := range es {
		switch e.key.Value {
		case "tenant":
			if s.Tenant, err = p.tenant(e.val, ctx); err != nil {
				return nil, err
			}
		case "match":
			if s.Match, err = p.match(e.val, ctx); err != nil {
				return nil, err
			}
		case "network":
			if s.Network, err = p.str(e.val, ctx, "network"); err != nil {
				return nil, err
			}
		case "consent_default":
			if s.ConsentDefault, err = p.boolean(e.val, ctx, "consent_default"); err != nil {
				return nil, err
			}
		case "token_format":
			if s.Format, err = p.format(e.val, ctx); err != nil {
				return nil, err
			}
		case "token_prefix":
			prefixKey = e.key
			if s.Prefix, err = p.str(e.val, ctx, "token_prefix"); err != nil {
				return nil, err
			}
			if !tokenPrefix.MatchString(s.Prefix) {
				return nil, p.errAt(e.val, ctx, "token_prefix %q: want 1 to 16 of A-Z a-z 0-9 _ -", s.Prefix)
			}
		case "cvv_ttl":
			if s.CVVTTL, err = p.cvvTTL(e.val, ctx); err != nil {
				return nil, err
			}
		case "pan_guard":
			if s.PANGuard, err = p.panGuard(e.val, ctx); err != nil {
				return nil, err
			}
		case "cvv_store_down":
			if s.CVVStoreDown, err = p.cvvStoreDown(e.val, ctx); err != nil {
				return nil, err
			}
		case "max_cards":
			if s.MaxCards, err = p.maxCards(e.val, ctx); err != nil {
				return nil, err
			}
		case "fields":
			if s.Fields, err = p.fields(e.val, ctx, inboundDir); err != nil {
				return nil, err
			}
		}
	}
	if prefixKey != nil && s.Format != FormatPrefixed {
		return nil, p.errAt(prefixKey, ctx, "token_prefix is only for token_format prefixed, not %s", s.Format)
	}
	if s.Format == FormatPrefixed && prefixKey == nil {
		s.Prefix = defaultPrefix
	}
	if err := p.checkFields(key, ctx, s.Fields, inboundDir); err != nil {
		return nil, err
	}
	return s, nil
}

// tenant decodes a tenant name.
func (p *parser) tenant(n *yaml.Node, ctx string) (string, error) {
	t, err := p.str(n, ctx, "tenant")
	if err != nil {
		return "", err
	}
	if !tenantName.MatchString(t) {
		return "", p.errAt(n, ctx, "tenant %q: want 1 to 64 of A-Z a-z 0-9 . _ -", t)
	}
	return t, nil
}

// format decodes a token format.
func (p *parser) format(n *yaml.Node, ctx string) (TokenFormat, error) {
	s, err := p.str(n, ctx, "token_format")
	if err != nil {
		return "", err
	}
	switch f := TokenFormat(s); f {
	case FormatPrefixed, FormatUUID, FormatAlias, FormatNetworkToken:
		return f, nil
	}
	return "", p.errAt(n, ctx, "unknown token_format %q (want prefixed, uuid, alias, network_token)", s)
}

// cvvTTL decodes how long a CVV may be held.
func (p *parser) cvvTTL(n *yaml.Node, ctx string) (time.Duration, error) {
	s, err := p.str(n, ctx, "cvv_ttl")
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, p.errAt(n, ctx, "cvv_ttl %q: want a Go duration such as 15m", s)
	}
	if d < minCVVTTL || d > maxCVVTTL {
		return 0, p.errAt(n, ctx, "cvv_ttl %q: want 1s to 24h; a CVV must not outlive authorization", s)
	}
	return d, nil
}

// panGuard decodes a PAN guard policy.
func (p *parser) panGuard(n *yaml.Node, ctx string) (PANGuard, error) {
	s, err := p.str(n, ctx, "pan_guard")
	if err != nil {
		return "", err
	}
	switch g := PANGuard(s); g {
	case PANReject, PANTokenize, PANLog, PANOff:
		return g, nil
	}
	return "", p.errAt(n, ctx, "unknown pan_guard %q (want reject, tokenize, log, off)", s)
}

// cvvStoreDown decodes the CVV store outage policy.
func (p *parser) cvvStoreDown(n *yaml.Node, ctx string) (CVVStoreDown, error) {
	s, err := p.str(n, ctx, "cvv_store_down")
	if err != nil {
		return "", err
	}
	switch d := CVVStoreDown(s); d {
	case CVVStoreDownReject, CVVStoreDownDrop:
		return d, nil
	}
	return "", p.errAt(n, ctx, "unknown cvv_store_down %q (want reject, drop)", s)
}

// maxCards decodes a cards-per-request limit.
func (p *parser) maxCards(n *yaml.Node, ctx string) (int, error) {
	s, err := p.str(n, ctx, "max_cards")
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > 100000 {
		return 0, p.errAt(n, ctx, "max_cards %q: want a whole number from 1 to 100000", s)
	}
	return v, nil
}
