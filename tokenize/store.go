package tokenize

import (
	"context"
	"time"

	"github.com/tokengate/tokengate/body"
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
		address: in.Address, customerID: in.CustomerID}
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
	return t.tokenizeCard(ctx, &rules.Inbound{Tenant: tenant, Format: format, Prefix: prefix}, c)
}
