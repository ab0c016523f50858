// Package detokenize swaps token references in outbound request bodies for
// what a payment processor needs: the network token, its expiry, a fresh
// cryptogram and the ECI, or, where the rules allow it, the PAN when no usable
// network token exists.
package detokenize

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/redact"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/vault"
)

// ErrUnavailable means the vault or keys failed; the caller answers 503 and
// forwards nothing.
var ErrUnavailable = errors.New("detokenize: vault unavailable")

// What an injection put in the body; the response header reports these per
// field, never the values.
const (
	InjectedNetworkToken = "network_token"
	InjectedPAN          = "pan"
	InjectedNone         = "none"
)

// Detokenizer holds what detokenization needs; it is safe for concurrent use.
type Detokenizer struct {
	// Vault holds the sealed cards.
	Vault vault.Vault
	// Keys open sealed cards.
	Keys *keys.Keys
	// Lifecycle fetches cryptograms from the service that issued each
	// card's token and records the state changes it reports.
	Lifecycle *lifecycle.Manager
	// CVVs holds CVVs captured inbound; a CVV is used once, on PAN fallback.
	CVVs cvv.Store
	// Tampered, when set, is told of a record found under the caller's
	// tenant that does not open for that tenant: moved from another tenant,
	// or sealed with a keyset this gateway does not hold.
	Tampered func(tenant, field string)
	// CVVUnavailable, when set, is told that a held CVV could not be taken
	// (the CVV store failed): the PAN goes without it, as the fallback for a
	// CVV that is not held.
	CVVUnavailable func(field string, err error)
}

// Injection reports what one token field became.
type Injection struct {
	// Field is the concrete path or form name of the token field.
	Field string
	// What is InjectedNetworkToken, InjectedPAN or InjectedNone.
	What string
	// Reason says why a fallback was taken ("suspended", "card_not_eligible"...).
	Reason string
}

// Result is what Apply did to a body.
type Result struct {
	// Injections says, per token field, what it became; it holds no values.
	Injections []Injection
	// Secrets are the values the edited body now carries, each with what
	// replaces it should the processor's response repeat it.
	Secrets []redact.Secret
}

// Apply records in doc, for every token that set's token fields find, the
// edits that detokenize it, for the tenant the caller authenticated as. The
// edits are applied only when doc.Bytes is called, which the caller must do
// only for the request leaving toward one of set's destinations. On error the
// caller forwards nothing.
func (d *Detokenizer) Apply(ctx context.Context, tenant string, set *rules.Outbound, kind body.Kind, doc body.Doc) (Result, error) {
	targets := targetsOf(set.Fields, kind)
	var res Result
	type field struct {
		sel   string
		found []body.Value
	}
	var fields []field
	count := 0
	for _, tf := range set.FieldsOf(rules.KindToken) {
		if sel := selectorOf(tf, kind); sel != "" {
			found := doc.Find(sel)
			fields = append(fields, field{sel, found})
			if count += len(found); count > set.MaxCards {
				return Result{}, &body.FieldError{Status: http.StatusRequestEntityTooLarge, Field: found[len(found)-1].Path, Code: "too_many_cards",
					Reason: "more than " + strconv.Itoa(set.MaxCards) + " tokens in one request (the rule set's max_cards); nothing was detokenized"}
			}
		}
	}
	for _, f := range fields {
		sel, found := f.sel, f.found
		if len(found) == 0 {
			res.Injections = append(res.Injections, Injection{Field: sel, What: InjectedNone, Reason: "absent"})
			continue
		}
		for _, tok := range found {
			inj, err := d.card(ctx, tenant, set, kind, doc, targets, tok, &res.Secrets)
			if err != nil {
				return Result{}, err
			}
			res.Injections = append(res.Injections, inj)
		}
	}
	return res, nil
}

// card detokenizes the one card whose token is tok.
func (d *Detokenizer) card(ctx context.Context, tenant string, set *rules.Outbound, kind body.Kind, doc body.Doc, targets map[rules.Kind]string, tok body.Value, sent *[]redact.Secret) (Injection, error) {
	if tok.Raw == "" {
		return Injection{}, &body.FieldError{Status: http.StatusBadRequest, Field: tok.Path, Code: "missing_value", Reason: "token is empty"}
	}
	rec, err := d.Vault.Get(ctx, tenant, tok.Raw)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		// A token of another tenant is indistinguishable from an unknown
		// one on purpose: the answer must not reveal other tenants' tokens.
		return Injection{}, &body.FieldError{Status: http.StatusForbidden, Field: tok.Path, Code: "unknown_token", Reason: "no such token for this API key"}
	case err != nil:
		return Injection{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// The record is opened with the caller's tenant as associated data, not
	// the tenant written in it: a record copied into another tenant's bucket
	// does not open there. One that says it is another tenant's is answered
	// like an unknown token; one that says it is ours and does not open
	// (its tenant field rewritten too, or another keyset) fails closed.
	if rec.Tenant != tenant {
		d.tampered(tenant, tok.Path)
		return Injection{}, &body.FieldError{Status: http.StatusForbidden, Field: tok.Path, Code: "unknown_token", Reason: "no such token for this API key"}
	}
	secrets, err := d.Keys.Open(tenant, rec.Fingerprint, rec.Token, rec.Sealed)
	if err != nil {
		d.tampered(tenant, tok.Path)
		return Injection{}, fmt.Errorf("%w: opening card: %w", ErrUnavailable, err)
	}
	put := func(target rules.Kind, value string) {
		if path := targets[target]; path != "" && value != "" {
			doc.Set(body.Expand(kind, path, tok.Group), value)
			switch target {
			case rules.KindNumber:
				*sent = append(*sent, redact.Secret{Value: value, With: tok.Raw})
			case rules.KindCryptogram:
				*sent = append(*sent, redact.Secret{Value: value, With: redact.Mask})
			case rules.KindCVV:
				*sent = append(*sent, redact.Secret{Value: value, With: redact.Mask, Whole: true})
			}
		}
	}

	var reason string
	if secrets.DPAN != "" || rec.Network.ID == "" {
		var crypt network.Cryptogram
		crypt, reason = d.Lifecycle.Cryptogram(ctx, rec, network.CryptogramRequest{Initiator: network.Initiator(set.Initiator)})
		if reason == "" {
			put(rules.KindNumber, secrets.DPAN)
			put(rules.KindExpMonth, rec.Network.ExpMonth)
			put(rules.KindExpYear, rec.Network.ExpYear)
			put(rules.KindCryptogram, crypt.Value)
			put(rules.KindECI, crypt.ECI)
			put(rules.KindName, secrets.Name)
			return Injection{Field: tok.Path, What: InjectedNetworkToken}, nil
		}
	} else {
		reason = lifecycle.ReasonNoNetworkToken
	}
	if set.Fallback != rules.FallbackPAN {
		return Injection{}, &body.FieldError{Status: http.StatusUnprocessableEntity, Field: tok.Path, Code: "network_token_unavailable", Reason: "no usable network token (" + reason + ") and the rules do not allow the PAN"}
	}
	put(rules.KindNumber, secrets.PAN)
	put(rules.KindExpMonth, rec.ExpMonth)
	put(rules.KindExpYear, rec.ExpYear)
	put(rules.KindName, secrets.Name)
	if targets[rules.KindCVV] != "" {
		cvv, ok, err := d.CVVs.TakeCVV(ctx, tenant, rec.Token)
		switch {
		case err != nil && d.CVVUnavailable != nil:
			d.CVVUnavailable(tok.Path, err)
		case err == nil && ok:
			put(rules.KindCVV, cvv)
		}
	}
	return Injection{Field: tok.Path, What: InjectedPAN, Reason: reason}, nil
}

func (d *Detokenizer) tampered(tenant, field string) {
	if d.Tampered != nil {
		d.Tampered(tenant, field)
	}
}
