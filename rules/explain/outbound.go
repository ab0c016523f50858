package explain

import (
	"context"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/vault"
)

// explainOutbound detokenizes the body with the real detokenizer, every
// token in it standing for the sample card of the brand: with an active
// network token (withNT) or without one, so the PAN fallback is taken.
func explainOutbound(ctx context.Context, set *rules.Outbound, kind body.Kind, o Options, data []byte, pan string, withNT bool) (Case, error) {
	c := Case{Name: CaseNetworkToken}
	if !withNT {
		c.Name = CasePAN
	}
	e, err := newEnv("", clock)
	if err != nil {
		return c, err
	}
	defer e.close()
	doc, err := body.Parse(kind, o.ContentType, data)
	if err != nil {
		return c, fmt.Errorf("the %s body does not parse: %w", kind, err)
	}
	if set.PANGuard != rules.PANOff && o.OutboundGuard != nil {
		if place, found := o.OutboundGuard(set, kind, doc); found {
			if set.PANGuard == rules.PANReject {
				c.Refused, c.Changes = "400 "+(&body.FieldError{Field: place, Code: "pan_detected",
					Reason: "a card number is outside the token fields; a merchant sends its tokens, never card numbers"}).Error(), []Change{}
				return c, nil
			}
			c.Notes = append(c.Notes, "a card number outside the token fields is logged (pan_guard: log): "+body.SafePath(place))
		}
	}
	for _, tok := range tokensIn(set, kind, doc) {
		if err := e.issue(ctx, tok, pan, withNT); err != nil {
			return c, err
		}
	}
	res, err := e.stack.Detokenizer.Apply(ctx, tenant, set, kind, doc)
	var out []byte
	if err == nil {
		out, err = res.Body(kind, o.ContentType, doc)
	}
	if err != nil {
		r, ok := refusal(err)
		if !ok {
			return c, err
		}
		c.Refused, c.Changes = r, []Change{}
		return c, nil
	}
	for _, ph := range []string{PlaceholderPAN, PlaceholderNetworkToken, PlaceholderCryptogram, PlaceholderCVV, PlaceholderName} {
		out = replaceValue(out, ph, ph) // a form body carries them escaped
	}
	c.Body, c.Injections = string(out), res.Injections
	if o.Header != nil {
		c.Injected = o.Header(res.Injections)
	}
	if c.Changes, err = changes(kind, o.ContentType, data, out); err != nil {
		return c, err
	}
	for _, inj := range res.Injections {
		if c.Name == CaseNetworkToken && inj.What == detokenize.InjectedPAN {
			c.Notes = append(c.Notes, fmt.Sprintf("%s: no network token can be sent (%s): the card takes the PAN fallback", body.SafePath(inj.Field), inj.Reason))
		}
	}
	if sg := set.Sign; sg != nil {
		// The signature depends on the destination's Host and the time:
		// only where it is made can be shown here.
		c.Notes = append(c.Notes, fmt.Sprintf("signed by tokengate over this body (%s, merchant_id %s, key_id %s): the request's Signature, Digest and Authorization headers are replaced; Date is kept, or set when absent", sg.Scheme, sg.MerchantID, sg.KeyID))
	}
	return c, nil
}

// tokensIn lists the distinct token values the set's token fields find.
func tokensIn(set *rules.Outbound, kind body.Kind, doc body.Doc) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range set.FieldsOf(rules.KindToken) {
		sel := f.JSON
		if kind != body.JSON {
			sel = f.Form
		}
		if sel == "" {
			continue
		}
		for _, v := range doc.Find(sel) {
			if v.Raw != "" && !seen[v.Raw] {
				seen[v.Raw] = true
				out = append(out, v.Raw)
			}
		}
	}
	return out
}

// issue stores the sample card under token as inbound tokenization would
// have, with its CVV held, sealing placeholders instead of its numbers.
// withNT gives it an active network token from the builtin service.
func (e *env) issue(ctx context.Context, token, pan string, withNT bool) error {
	brand, err := card.Validate(pan)
	if err != nil {
		return err
	}
	secrets := keys.Secrets{PAN: PlaceholderPAN, Name: PlaceholderName}
	rec := vault.Record{Tenant: tenant, Token: token, Brand: string(brand), BIN: card.BIN(pan), Last4: card.Last4(pan),
		ExpMonth: SampleExpMonth, ExpYear: SampleExpYear}
	// The fingerprint keeps each token its own record: the merchant's
	// body may name several tokens of the same sample card.
	rec.Fingerprint = e.keys.Fingerprint(tenant, token)
	if withNT {
		nt, err := e.net.Provision(ctx, network.ProvisionRequest{Tenant: tenant, PAN: pan, ExpMonth: SampleExpMonth, ExpYear: SampleExpYear})
		if err != nil {
			return fmt.Errorf("provisioning the sample %s card's network token: %w", brand, err)
		}
		secrets.DPAN = PlaceholderNetworkToken
		rec.Network = vault.NetworkToken{Provider: e.net.Name(), ID: nt.ID, Status: nt.Status, ExpMonth: nt.ExpMonth, ExpYear: nt.ExpYear,
			PAR: nt.PAR, Last4: card.Last4(nt.DPAN)}
	}
	if rec.Sealed, err = e.keys.Seal(tenant, rec.Fingerprint, token, secrets); err != nil {
		return err
	}
	if _, _, err := e.vault.Put(ctx, rec); err != nil {
		return err
	}
	return e.cvvs.PutCVV(ctx, tenant, token, PlaceholderCVV, time.Minute)
}
