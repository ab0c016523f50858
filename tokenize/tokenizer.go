// Package tokenize swaps card data in inbound request bodies for tokens: it
// validates each card, stores the PAN sealed in the vault, provisions a
// network token within a time budget, holds the CVV in memory, and edits the
// body so the merchant sees only tokens.
package tokenize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
)

// ErrUnavailable means a card could not be stored durably. The caller must
// answer 503 and forward nothing: a token the vault does not hold would be a
// lost card, and forwarding the PAN would defeat the gateway.
var ErrUnavailable = errors.New("tokenize: vault unavailable")

// Tokenizer holds what tokenization needs; it is safe for concurrent use.
type Tokenizer struct {
	// Vault stores sealed cards.
	Vault vault.Vault
	// Keys seal PANs and compute keyed fingerprints.
	Keys *keys.Keys
	// Network provisions network tokens; nil means vault-only tokens.
	Network network.Service
	// CVVs holds CVVs in memory for the rule set's TTL.
	CVVs cvv.Store
	// ProvisionTimeout bounds the network token call; past it the token is
	// vault-only and records "timeout".
	ProvisionTimeout time.Duration
	// Random is the source for token strings (crypto/rand.Reader in production).
	Random io.Reader
	// Now is the clock, for expiry checks.
	Now func() time.Time
}

// Result tells what Apply did, for traces and logs; it holds no card data.
type Result struct {
	// Cards is how many cards were tokenized.
	Cards int
	// Created is how many of them were new to the vault.
	Created int
	// Fields is how many body fields were edited.
	Fields int
	// NetworkTokens is how many of the cards have an active network token.
	NetworkTokens int
	// Strays lists, comma-separated, the paths where the PAN guard found a
	// card number that no field names: tokenized under pan_guard tokenize,
	// left in place (for the caller to log) under log.
	Strays string
}

// Apply tokenizes every card that set's fields find in doc. kind says which
// selector of each field applies (JSON path or form name). On error nothing
// has been changed in doc, so the caller answers with the error and forwards
// nothing. A *body.FieldError is bad input; ErrUnavailable is a storage
// failure.
func (t *Tokenizer) Apply(ctx context.Context, set *rules.Inbound, kind body.Kind, doc body.Doc) (Result, error) {
	cards, err := collect(set.Fields, kind, doc)
	if err != nil {
		return Result{}, err
	}
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	for _, c := range cards {
		if err := c.validate(now); err != nil {
			return Result{}, err
		}
	}
	// The PAN guard: card numbers outside the card number fields.
	var strays []stray
	var strayCards []*cardInput
	if set.PANGuard != rules.PANOff {
		handled := make(map[string]bool, len(cards))
		for _, c := range cards {
			handled[c.pan.Path] = true
		}
		strays = findStrays(doc, handled)
		if strayCards, err = guardStrays(set, strays); err != nil {
			return Result{}, err
		}
	}
	all := append(cards[:len(cards):len(cards)], strayCards...)
	if len(all) > set.MaxCards {
		return Result{}, &body.FieldError{Status: http.StatusRequestEntityTooLarge, Field: all[set.MaxCards].pan.Path, Code: "too_many_cards",
			Reason: "more than " + strconv.Itoa(set.MaxCards) + " cards in one request (the rule set's max_cards); nothing was stored"}
	}
	records, created, err := t.tokenizeAll(ctx, set, all)
	if err != nil {
		return Result{}, err
	}
	res := Result{Cards: len(all), Created: created, Strays: strayPaths(strays)}
	tokens := make([]string, len(all))
	for i, c := range all {
		tokens[i] = records[i].Token
		if records[i].Network.Status == network.StatusActive {
			res.NetworkTokens++
		}
		if c.cvv != nil {
			if err := t.CVVs.PutCVV(ctx, set.Tenant, tokens[i], c.cvv.Raw, set.CVVTTL); err != nil {
				return Result{}, fmt.Errorf("%w: holding cvv: %v", ErrUnavailable, err)
			}
		}
	}
	// Edit only after every card is safely stored, so a failure part-way
	// never forwards a body with some PANs still in it.
	for i, c := range cards {
		doc.Set(c.pan.Path, tokens[i])
		res.Fields++
		if c.cvv != nil {
			if c.keepCVV {
				doc.Set(c.cvv.Path, cvvMask)
			} else {
				doc.Delete(c.cvv.Path)
			}
			res.Fields++
		}
	}
	tokenOf := make(map[*cardInput]string, len(strayCards))
	for i, c := range strayCards {
		tokenOf[c] = tokens[len(cards)+i]
	}
	res.Fields += replaceStrays(doc, strays, func(c *cardInput) string { return tokenOf[c] })
	if len(strayCards) > 0 && kind == body.JSON {
		// A JSON path the editor cannot address (an empty member name,
		// say) would leave its number in place: read the result once more.
		// Form and multipart fields are addressed by name and always are.
		if err := verifyNoStrays(doc, kind, cards); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// maxParallelCards bounds how many cards of one body are stored at once.
// Each new card waits for a durable commit; storing them concurrently lets the
// vault group those commits (one fsync for many cards) instead of paying one
// per card, which is what keeps a 1,000-card body linear in practice.
const maxParallelCards = 32

// tokenizeAll stores every card, concurrently for bodies with several, and
// returns their records in card order and how many were new.
func (t *Tokenizer) tokenizeAll(ctx context.Context, set *rules.Inbound, cards []*cardInput) ([]vault.Record, int, error) {
	records := make([]vault.Record, len(cards))
	created := make([]bool, len(cards))
	if len(cards) == 1 {
		rec, isNew, err := t.tokenizeCard(ctx, set, cards[0])
		records[0], created[0] = rec, isNew
		return records, count(created), err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelCards)
	for i, c := range cards {
		g.Go(func() error {
			rec, isNew, err := t.tokenizeCard(gctx, set, c)
			records[i], created[i] = rec, isNew
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	return records, count(created), nil
}

func count(flags []bool) int {
	n := 0
	for _, f := range flags {
		if f {
			n++
		}
	}
	return n
}

// cvvMask replaces a CVV the rules say to keep in place: the field stays, so
// merchant code that expects it keeps working, but no digits reach it.
const cvvMask = "***"

// tokenizeCard returns the vault record for one card, creating it if the
// tenant has never seen the PAN.
func (t *Tokenizer) tokenizeCard(ctx context.Context, set *rules.Inbound, c *cardInput) (vault.Record, bool, error) {
	fp := t.Keys.Fingerprint(set.Tenant, c.number)
	rec, err := t.Vault.GetByFingerprint(ctx, set.Tenant, fp)
	switch {
	case err == nil && (rec.Tenant != set.Tenant || rec.Fingerprint != fp):
		// A record filed under this tenant's fingerprint that says it is
		// someone else's was moved there: never use it.
		return vault.Record{}, false, fmt.Errorf("%w: the record filed under this card's fingerprint belongs to another tenant or card", ErrUnavailable)
	case err == nil:
		return t.refresh(ctx, rec, c)
	case !errors.Is(err, vault.ErrNotFound):
		return vault.Record{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}

	// The token service's own writes ride on the card's commit: one durable
	// write per new card, and no network token left on disk for a card that
	// is never stored.
	unit := boltvault.WithUnitOfWork(ctx)
	nt, dpan := t.provision(unit, c)
	sealed, err := t.Keys.Seal(set.Tenant, fp, keys.Secrets{PAN: c.number, Name: c.value(c.name), DPAN: dpan})
	if err != nil {
		t.discard(ctx, nt)
		return vault.Record{}, false, fmt.Errorf("%w: sealing: %v", ErrUnavailable, err)
	}
	rec = vault.Record{
		Tenant:      set.Tenant,
		Fingerprint: fp,
		Sealed:      sealed,
		Brand:       string(c.brand),
		BIN:         card.BIN(c.number),
		Last4:       card.Last4(c.number),
		ExpMonth:    c.value(c.expMonth),
		ExpYear:     c.value(c.expYear),
		Network:     nt,
	}
	for attempt := 0; ; attempt++ {
		rec.Token, err = newToken(set, c.number, dpan, t.Random)
		if err != nil {
			t.discard(ctx, nt)
			return vault.Record{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		stored, created, err := t.Vault.Put(unit, rec)
		switch {
		case err == nil && created:
			if err := boltvault.Flush(unit); err != nil {
				return vault.Record{}, false, fmt.Errorf("%w: saving network token state: %v", ErrUnavailable, err)
			}
			return stored, true, nil
		case err == nil:
			// Another request stored the same card first: use its token
			// and give back the network token this one provisioned.
			t.discard(ctx, nt)
			return stored, false, nil
		case errors.Is(err, vault.ErrTokenTaken) && attempt < 4 && set.Format != rules.FormatNetworkToken:
			continue
		default:
			t.discard(ctx, nt)
			return vault.Record{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
}

// refresh updates a known card's expiry when the customer sends a later one:
// a reissued card keeps its PAN and gets a new expiry, while an earlier one
// is a stale autofill and must not undo the reissue.
func (t *Tokenizer) refresh(ctx context.Context, rec vault.Record, c *cardInput) (vault.Record, bool, error) {
	changed := false
	month, year := c.value(c.expMonth), c.value(c.expYear)
	if month != "" && year != "" && laterExpiry(month, year, rec.ExpMonth, rec.ExpYear) {
		rec.ExpMonth, rec.ExpYear = month, year
		changed = true
	}
	unit := boltvault.WithUnitOfWork(ctx)
	if retryable(rec.Network, c) && t.Network != nil {
		if updated, ok := t.reprovision(unit, rec, c); ok {
			rec, changed = updated, true
		}
	}
	if !changed {
		return rec, false, nil
	}
	if err := t.Vault.Update(unit, rec); err != nil {
		return vault.Record{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := boltvault.Flush(unit); err != nil {
		return vault.Record{}, false, fmt.Errorf("%w: saving network token state: %v", ErrUnavailable, err)
	}
	return rec, false, nil
}

// retryable says whether a card stored without a network token should get
// another try: after a timeout or a provider error, the card itself was fine;
// a card first sent without an expiry, now that it has one.
func retryable(nt vault.NetworkToken, c *cardInput) bool {
	hasExpiry := c.value(c.expMonth) != "" && c.value(c.expYear) != ""
	return nt.ID == "" && (nt.Error == "timeout" || nt.Error == "provider_error" || nt.Error == "no_expiry" && hasExpiry)
}

// reprovision tries again to get a network token for a known card, and
// returns the record with the token and the DPAN sealed in, or ok=false.
func (t *Tokenizer) reprovision(ctx context.Context, rec vault.Record, c *cardInput) (vault.Record, bool) {
	nt, dpan := t.provision(ctx, c)
	if dpan == "" {
		return rec, false
	}
	secrets, err := t.Keys.Open(rec.Tenant, rec.Fingerprint, rec.Sealed)
	if err != nil {
		t.discard(ctx, nt)
		return rec, false
	}
	secrets.DPAN = dpan
	sealed, err := t.Keys.Seal(rec.Tenant, rec.Fingerprint, secrets)
	if err != nil {
		t.discard(ctx, nt)
		return rec, false
	}
	rec.Sealed, rec.Network = sealed, nt
	return rec, true
}

// laterExpiry reports whether month/year is after the stored expiry (or
// there is none stored).
func laterExpiry(month, year, oldMonth, oldYear string) bool {
	m, okM := card.ParseExpMonth(month)
	y, okY := card.ParseExpYear(year)
	if !okM || !okY {
		return false
	}
	om, okOM := card.ParseExpMonth(oldMonth)
	oy, okOY := card.ParseExpYear(oldYear)
	if !okOM || !okOY {
		return true
	}
	return y > oy || y == oy && m > om
}

// provision asks the network token service for a token within the time
// budget. Any failure leaves a vault-only card whose Network.Error says why.
func (t *Tokenizer) provision(ctx context.Context, c *cardInput) (vault.NetworkToken, string) {
	if t.Network == nil {
		return vault.NetworkToken{Error: "no_token_service"}, ""
	}
	if c.value(c.expMonth) == "" || c.value(c.expYear) == "" {
		// A network token is provisioned for a card and its expiry; the
		// card is stored vault-only until it comes with one.
		return vault.NetworkToken{Error: "no_expiry"}, ""
	}
	if t.ProvisionTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.ProvisionTimeout)
		defer cancel()
	}
	tok, err := t.Network.Provision(ctx, network.ProvisionRequest{
		PAN:      c.number,
		ExpMonth: c.value(c.expMonth),
		ExpYear:  c.value(c.expYear),
		CVV:      c.value(c.cvv),
		Brand:    string(c.brand),
		Name:     c.value(c.name),
	})
	nt := vault.NetworkToken{Provider: t.Network.Name()}
	var nerr *network.Error
	switch {
	case err == nil:
		nt.ID, nt.Status, nt.ExpMonth, nt.ExpYear, nt.PAR = tok.ID, tok.Status, tok.ExpMonth, tok.ExpYear, tok.PAR
		nt.Last4 = card.Last4(tok.DPAN)
		return nt, tok.DPAN
	case errors.As(err, &nerr):
		nt.Error = nerr.Code
	case errors.Is(err, context.DeadlineExceeded):
		nt.Error = "timeout"
	default:
		nt.Error = "provider_error"
	}
	return nt, ""
}

// discard deletes a network token that ended up unused, so the network does
// not keep a live credential nobody references. Best effort.
func (t *Tokenizer) discard(ctx context.Context, nt vault.NetworkToken) {
	if t.Network != nil && nt.ID != "" {
		_ = t.Network.SetStatus(context.WithoutCancel(ctx), nt.ID, network.StatusDeleted)
	}
}
