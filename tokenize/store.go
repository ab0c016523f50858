package tokenize

import (
	"context"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/vault"
)

// Card is one card handed over outside a request body, by the served token
// APIs. Each field is a body.Value so that errors name the field as the API
// calls it (Path) without ever holding its value in the message.
type Card struct {
	Number, ExpMonth, ExpYear, CVV, Name *body.Value
	// Address and CustomerID go to the network token service with the card.
	Address    network.Address
	CustomerID string
}

// Store validates card and stores it for tenant exactly as Apply stores a
// card found in a body: the same fingerprint lookup (a known card returns
// its record, created=false, with its expiry refreshed and its network token
// provisioned again when an earlier try failed), the same provisioning and
// sealing, and the same writes. A new card's token is in format (with
// prefix, for prefixed tokens). It returns
// a *body.FieldError for bad input and ErrUnavailable when the card cannot
// be stored; the CVV is not held (the caller decides).
func (t *Tokenizer) Store(ctx context.Context, tenant string, format rules.TokenFormat, prefix string, in Card) (vault.Record, bool, error) {
	c := &cardInput{pan: in.Number, cvv: in.CVV, expMonth: in.ExpMonth, expYear: in.ExpYear, name: in.Name,
		served: &servedCard{address: in.Address, customerID: in.CustomerID}}
	if c.pan == nil {
		c.pan = &body.Value{Path: "number"}
	}
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	if err := c.validate(now); err != nil {
		return vault.Record{}, false, err
	}
	// The served APIs store a card only with consent (generateToken carries
	// a consentId; a Basis Theory network token is the merchant's request).
	return t.tokenizeCard(ctx, &rules.Inbound{Tenant: tenant, Format: format, Prefix: prefix, ConsentDefault: true}, c)
}

// StoreShortLived validates card and keeps it for ttl only, in memory: a
// short-lived token (prefix plus random) that the outbound side can use
// until it expires, with the CVV held as long. Nothing is written to the
// vault and no network token is provisioned: what it serves is one payment
// (Juspay's ctkn_, a card whose holder did not consent to its being kept).
func (t *Tokenizer) StoreShortLived(ctx context.Context, tenant, prefix string, ttl time.Duration, in Card) (vault.Record, error) {
	c := &cardInput{pan: in.Number, cvv: in.CVV, expMonth: in.ExpMonth, expYear: in.ExpYear, name: in.Name}
	if c.pan == nil {
		c.pan = &body.Value{Path: "number"}
	}
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	if err := c.validate(now); err != nil {
		return vault.Record{}, err
	}
	token, err := prefixed(prefix, t.Random)
	if err != nil {
		return vault.Record{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	rec, err := t.shortLivedRecord(tenant, token, c.number, c.value(c.name))
	if err != nil {
		return vault.Record{}, err
	}
	rec.ExpMonth, rec.ExpYear = c.value(c.expMonth), c.value(c.expYear)
	return rec, t.keep(ctx, rec, ttl, c.value(c.cvv))
}

// Reissue makes a short-lived token for a card the vault holds (Juspay's
// /card/tokenize with stored_card_token), with a newly entered CVV. The
// saved record's Metadata entries named in keep go with it (the customer
// the card was reissued for); no other.
func (t *Tokenizer) Reissue(ctx context.Context, saved vault.Record, prefix string, ttl time.Duration, cvv *body.Value, keep ...string) (vault.Record, error) {
	if cvv != nil && cvv.Raw != "" {
		if err := card.ValidateCVV(cvv.Raw, card.Brand(saved.Brand)); err != nil {
			return vault.Record{}, cardFieldError(cvv.Path, err)
		}
	}
	token, err := prefixed(prefix, t.Random)
	if err != nil {
		return vault.Record{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	rec := saved
	rec.Token, rec.Metadata = token, map[string]string{vault.ShortLivedMark: ""}
	for _, k := range keep {
		if v, ok := saved.Metadata[k]; ok {
			rec.Metadata[k] = v
		}
	}
	// The saved card's sealed data is bound to its own token: seal it again
	// for the new one.
	secrets, err := t.Keys.Open(saved.Tenant, saved.Fingerprint, saved.Token, saved.Sealed)
	if err != nil {
		return vault.Record{}, fmt.Errorf("%w: opening card: %w", ErrUnavailable, err)
	}
	if rec.Sealed, err = t.Keys.Seal(rec.Tenant, rec.Fingerprint, rec.Token, secrets); err != nil {
		return vault.Record{}, fmt.Errorf("%w: sealing: %w", ErrUnavailable, err)
	}
	cv := ""
	if cvv != nil {
		cv = cvv.Raw
	}
	return rec, t.keep(ctx, rec, ttl, cv)
}

// shortLivedRecord seals the card the way a stored one is sealed, so the
// outbound side opens it the same way; it has no network token.
func (t *Tokenizer) shortLivedRecord(tenant, token, pan, name string) (vault.Record, error) {
	fp := t.Keys.Fingerprint(tenant, pan)
	sealed, err := t.Keys.Seal(tenant, fp, token, keys.Secrets{PAN: pan, Name: name})
	if err != nil {
		return vault.Record{}, fmt.Errorf("%w: sealing: %w", ErrUnavailable, err)
	}
	brand, _ := card.Validate(pan)
	return vault.Record{Tenant: tenant, Token: token, Fingerprint: fp, Sealed: sealed, Brand: string(brand),
		BIN: card.BIN(pan), Last4: card.Last4(pan), Network: vault.NetworkToken{Error: ReasonShortLived},
		Metadata: map[string]string{vault.ShortLivedMark: ""}}, nil
}

// ReasonShortLived is the Network.Error of a short-lived card: it never gets
// a network token.
const ReasonShortLived = "short_lived_card"

// keep holds the short-lived card, then its CVV; if the CVV cannot be held
// the card goes too, so neither outlives a failed call.
func (t *Tokenizer) keep(ctx context.Context, rec vault.Record, ttl time.Duration, cvv string) error {
	if err := t.Vault.PutShortLived(ctx, rec, ttl); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if cvv != "" {
		if err := t.CVVs.PutCVV(ctx, rec.Tenant, rec.Token, cvv, ttl); err != nil {
			_ = t.Vault.Delete(ctx, rec.Tenant, rec.Token)
			return fmt.Errorf("%w: holding cvv: %w", ErrUnavailable, err)
		}
	}
	return nil
}

// storeWithoutConsent keeps a card found in a body without consent: in the
// short-lived layer for the rule set's CVV TTL (Apply holds the CVV as
// long), with a token in the rule set's format (prefixed for network_token,
// as there is no network token).
func (t *Tokenizer) storeWithoutConsent(ctx context.Context, set *rules.Inbound, c *cardInput) (vault.Record, bool, error) {
	c.own() // the record is kept: it must not hold the body
	token, err := newToken(set, c.number, "", t.Random)
	if err != nil {
		return vault.Record{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	rec, err := t.shortLivedRecord(set.Tenant, token, c.number, c.value(c.name))
	if err != nil {
		return vault.Record{}, false, err
	}
	rec.ExpMonth, rec.ExpYear = c.value(c.expMonth), c.value(c.expYear)
	rec.Network.Error = ReasonNoConsent
	if err := t.Vault.PutShortLived(ctx, rec, set.CVVTTL); err != nil {
		return vault.Record{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return rec, true, nil
}

// ReasonNoConsent is the Network.Error of a card kept without consent.
const ReasonNoConsent = "no_consent"
