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
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/errdefs"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/vault"
)

// ErrUnavailable means a card could not be stored durably. The caller must
// answer 503 and forward nothing: a token the vault does not hold would be a
// lost card, and forwarding the PAN would defeat the gateway. It is an
// errdefs.ErrUnavailable, which is what callers match.
var ErrUnavailable = fmt.Errorf("tokenize: vault %w", errdefs.ErrUnavailable)

// Tokenizer holds what tokenization needs; it is safe for concurrent use.
type Tokenizer struct {
	// Vault stores sealed cards: the short-lived layer, which keeps
	// short-lived cards (StoreShortLived, cards without consent) itself and
	// passes every other record to the vault under it. One field, so the
	// two cannot be different objects.
	Vault *vault.ShortLived
	// Keys seal PANs and compute keyed fingerprints.
	Keys *keys.Keys
	// Lifecycle provisions network tokens and gives back unused ones.
	Lifecycle *lifecycle.Manager
	// CVVs holds CVVs in memory for the rule set's TTL.
	CVVs cvv.Store
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
	// CVVsNotHeld lists the paths of CVVs dropped because the CVV store
	// failed, under cvv_store_down drop.
	CVVsNotHeld []string
}

// Apply tokenizes every card that set's fields find in doc. kind says which
// selector of each field applies (JSON path or form name). On error nothing
// has been changed in doc, so the caller answers with the error and forwards
// nothing. A *body.FieldError is bad input; ErrUnavailable is a storage
// failure.
func (t *Tokenizer) Apply(ctx context.Context, set *rules.Inbound, kind body.Kind, doc body.Doc) (Result, error) {
	cards, err := t.validCards(set, kind, doc)
	if err != nil {
		return Result{}, err
	}
	strays, strayCards, err := guardPANs(set, doc, cards)
	if err != nil {
		return Result{}, err
	}
	all := append(cards[:len(cards):len(cards)], strayCards...)
	if err := checkMaxCards(set, all); err != nil {
		return Result{}, err
	}
	// Only each card's token is kept until the body is edited, not its
	// record (some 400 bytes and the sealed card): a 1,000-card body would
	// hold them all to the end. A checkout's one token is on the stack.
	// (tokenizeAll's goroutines take their slice to the heap, so a lone
	// card is stored by tokenizeOne, which keeps oneToken where it is.)
	var oneToken [1]string
	var created, active int
	tokens := oneToken[:]
	if len(all) == 1 {
		created, active, err = t.tokenizeOne(ctx, set, all[0], &oneToken[0])
	} else {
		many := make([]string, len(all))
		created, active, err = t.tokenizeAll(ctx, set, all, many)
		tokens = many
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{Cards: len(all), Created: created, NetworkTokens: active, Strays: strayPaths(strays)}
	if res.CVVsNotHeld, err = t.holdCVVs(ctx, set, all, tokens); err != nil {
		return Result{}, err
	}
	// Edit only after every card is safely stored, so a failure part-way
	// never forwards a body with some PANs still in it.
	res.Fields = edit(doc, cards, strays, strayCards, tokens)
	if len(strayCards) > 0 && kind == body.JSON {
		// A JSON path the editor cannot address (an empty member name,
		// say) would leave its number in place: read the result once more.
		// Form and multipart fields are addressed by name and always are.
		if err := verifyNoStrays(doc, kind, cards, strays); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// validCards returns the cards set's fields find in doc, each checked
// (number, expiry, CVV, consent) before anything is stored.
func (t *Tokenizer) validCards(set *rules.Inbound, kind body.Kind, doc body.Doc) ([]*cardInput, error) {
	cards, err := collect(set.Fields, kind, doc)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	for _, c := range cards {
		if err := c.validate(now); err != nil {
			return nil, err
		}
		if _, ok := c.keeps(set); !ok {
			return nil, fieldError(c.consent.Path, "invalid_consent", "consent must be true or false")
		}
	}
	return cards, nil
}

// guardPANs is the PAN guard: it finds card numbers outside the card
// number fields (strays) and returns them with the cards to tokenize for
// them under the set's pan_guard (none under log; an error under reject).
func guardPANs(set *rules.Inbound, doc body.Doc, cards []*cardInput) ([]stray, []*cardInput, error) {
	if set.PANGuard == rules.PANOff {
		return nil, nil, nil
	}
	strays := findStrays(doc, newHandled(cards))
	strayCards, err := guardStrays(set, strays)
	if err != nil {
		return nil, nil, err
	}
	return strays, strayCards, nil
}

// checkMaxCards refuses a body with more cards than the set's max_cards,
// before any is stored.
func checkMaxCards(set *rules.Inbound, all []*cardInput) error {
	if len(all) <= set.MaxCards {
		return nil
	}
	return &body.FieldError{Status: http.StatusRequestEntityTooLarge, Field: all[set.MaxCards].pan.Path, Code: "too_many_cards",
		Reason: "more than " + strconv.Itoa(set.MaxCards) + " cards in one request (the rule set's max_cards); nothing was stored"}
}

// holdCVVs holds each card's CVV under its token for the set's TTL. When
// the CVV store fails, the set's cvv_store_down decides: fail the request
// (ErrUnavailable), or drop the CVV (returned in notHeld, by path). A
// request that fails takes back the CVVs it had already put: it forwards
// nothing, so no payment will use them, and held they would keep security
// codes for their TTL and take room in a bounded store (max_held) from
// every other merchant.
func (t *Tokenizer) holdCVVs(ctx context.Context, set *rules.Inbound, all []*cardInput, tokens []string) (notHeld []string, err error) {
	var held []string
	for i, c := range all {
		if c.cvv == nil {
			continue
		}
		if err := t.CVVs.PutCVV(ctx, set.Tenant, tokens[i], c.cvv.Raw, set.CVVTTL); err != nil {
			if set.CVVStoreDown != rules.CVVStoreDownDrop || ctx.Err() != nil {
				t.releaseCVVs(ctx, set.Tenant, held)
				return nil, fmt.Errorf("%w: holding cvv: %w", ErrUnavailable, err)
			}
			c.keepCVV = false // not held: not even a mask may suggest it is
			notHeld = append(notHeld, c.cvv.Path)
			continue
		}
		held = append(held, tokens[i])
	}
	return notHeld, nil
}

// releaseCVVs takes back (and so wipes) the CVVs a failed request put,
// best effort: with the request's context ended or the store down, what
// cannot be taken expires with its TTL.
func (t *Tokenizer) releaseCVVs(ctx context.Context, tenant string, tokens []string) {
	if len(tokens) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	for _, tok := range tokens {
		if _, _, err := t.CVVs.TakeCVV(ctx, tenant, tok); err != nil {
			return
		}
	}
}

// edit puts the tokens in doc: each card number field gets its card's
// token, each CVV its mask (or goes), and each stray number its token. It
// returns how many fields it edited. tokens holds the cards' tokens, then
// the strays' cards'.
func edit(doc body.Doc, cards []*cardInput, strays []stray, strayCards []*cardInput, tokens []string) int {
	fields := 0
	for i, c := range cards {
		doc.Set(c.pan.Path, tokens[i])
		fields++
		if c.cvv != nil {
			if c.keepCVV {
				doc.Set(c.cvv.Path, cvvMask)
			} else {
				doc.Delete(c.cvv.Path)
			}
			fields++
		}
	}
	tokenOf := make(map[*cardInput]string, len(strayCards))
	for i, c := range strayCards {
		tokenOf[c] = tokens[len(cards)+i]
	}
	return fields + replaceStrays(doc, strays, func(c *cardInput) string { return tokenOf[c] })
}

// maxParallelCards bounds how many cards of one body are stored at once.
// Each new card waits for a durable commit; storing them concurrently lets the
// vault group those commits (one fsync for many cards) instead of paying one
// per card, which is what keeps a 1,000-card body linear in practice.
const maxParallelCards = 32

// bulkCards is the most cards a body may have for its records to be cached:
// a larger body is an import, whose cards are seldom read again within the
// cache's TTL, and a thousand cached records would stay alive for it.
const bulkCards = 64

// tokenizeAll stores every card of a body with several (a lone card goes
// to tokenizeOne), concurrently, puts each card's token in tokens (in card
// order), and returns how many
// cards were new and how many have an active network token.
func (t *Tokenizer) tokenizeAll(ctx context.Context, set *rules.Inbound, cards []*cardInput, tokens []string) (created, active int, err error) {
	if len(cards) > bulkCards {
		ctx = vault.WithoutCaching(ctx)
	}
	var nCreated, nActive atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelCards)
	for i, c := range cards {
		g.Go(func() error {
			rec, isNew, err := t.tokenizeCard(gctx, set, c)
			if err != nil {
				return err
			}
			c.drop() // stored: only what the edit needs is kept
			tokens[i] = rec.Token
			nCreated.Add(int64(b2i(isNew)))
			nActive.Add(int64(b2i(rec.Network.Status == network.StatusActive)))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, 0, err
	}
	return int(nCreated.Load()), int(nActive.Load()), nil
}

// tokenizeOne is tokenizeAll for one card, whose token it puts in token.
func (t *Tokenizer) tokenizeOne(ctx context.Context, set *rules.Inbound, c *cardInput, token *string) (created, active int, err error) {
	rec, isNew, err := t.tokenizeCard(ctx, set, c)
	if err != nil {
		return 0, 0, err
	}
	*token = rec.Token
	return b2i(isNew), b2i(rec.Network.Status == network.StatusActive), nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cvvMask replaces a CVV the rules say to keep in place: the field stays, so
// merchant code that expects it keeps working, but no digits reach it.
const cvvMask = "***"

// tokenizeCard returns the vault record for one card, creating it if the
// tenant has never seen the PAN.
func (t *Tokenizer) tokenizeCard(ctx context.Context, set *rules.Inbound, c *cardInput) (vault.Record, bool, error) {
	if keep, _ := c.keeps(set); !keep {
		// No consent to keep the card: a short-lived token for this
		// payment, gone with the CVV, and nothing written to the vault.
		return t.storeWithoutConsent(ctx, set, c)
	}
	fp := t.Keys.Fingerprint(set.Tenant, c.number)
	rec, err := t.Vault.GetByFingerprint(ctx, set.Tenant, fp)
	switch {
	case err == nil && (rec.Tenant != set.Tenant || rec.Fingerprint != fp):
		// A record filed under this tenant's fingerprint that says it is
		// someone else's was moved there: never use it.
		return vault.Record{}, false, fmt.Errorf("%w: the record filed under this card's fingerprint belongs to another tenant or card", ErrUnavailable)
	case err == nil:
		return t.refresh(ctx, set, rec, c)
	case !errors.Is(err, vault.ErrNotFound):
		return vault.Record{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return t.storeNew(ctx, set, c, fp)
}

// maxRedraws bounds how many times a card's network token is drawn again
// after its state clashed at the record write (vault.ErrStateTaken: the
// token number is taken in the store). The last of them provisions
// outside the unit (see storeNewOnce), where the service draws again
// itself.
const maxRedraws = 2

// storeNew provisions a network token for a card the tenant has never
// stored (fingerprint fp) and stores its record, in one unit of work. A
// store that creates the token's state in the record's own write
// (network.RecordCreator) finds a clash only there: the record is then not
// stored, and the card is provisioned again in a new unit.
func (t *Tokenizer) storeNew(ctx context.Context, set *rules.Inbound, c *cardInput, fp string) (vault.Record, bool, error) {
	return withRedraws(func(last bool) (vault.Record, bool, error) {
		return t.storeNewOnce(ctx, set, c, fp, last)
	})
}

// withRedraws runs try until it does not fail with errRedraw, at most
// maxRedraws times more; the last try is told so (last), to provision
// outside its unit.
func withRedraws(try func(last bool) (vault.Record, bool, error)) (vault.Record, bool, error) {
	for redraw := 0; ; redraw++ {
		rec, created, err := try(redraw == maxRedraws)
		if errors.Is(err, errRedraw) && redraw < maxRedraws {
			continue
		}
		return rec, created, err
	}
}

// errRedraw marks storeNewOnce's failure on vault.ErrStateTaken at the
// record write: nothing was stored, and the unit was rolled back.
//
// The unit is only rolled back, its network token not given back
// (discard): the unit wrote none of the token's state (held to be created,
// and the write that would have created it refused), and the state found
// is another's: a token of another card whose number or id the draw hit,
// or this very token, created by a concurrent request for the same card
// that joined it (the same idempotency key) and stored the record that
// holds it. Deleting it would kill a live card's token.
var errRedraw = errors.New("the network token's state clashed")

// storeNewOnce is storeNew's one try, in one unit of work. The last try
// (last) provisions outside it: the service then writes the token's state
// itself, at once, drawing again on a clash as often as it allows, and
// stores the card without a network token when none is free, as it did
// before states were created with the record.
func (t *Tokenizer) storeNewOnce(ctx context.Context, set *rules.Inbound, c *cardInput, fp string, last bool) (vault.Record, bool, error) {
	// Every write a new card causes, in this order:
	//  1. the token service's state (Provision), held in the card's unit
	//     of work with the service's claims on the token's id and number.
	//  2. the record (Put). A vault that also holds the built-in
	//     service's state (bbolt) commits the held writes in the record's
	//     transaction: one durable write per new card.
	//  3. the unit's Commit: whatever no record write took is saved, and
	//     only then are the claims released (see vault.Unit for why).
	//  4. the CVV, in memory only (Apply, after every card is stored).
	// A card not stored rolls the unit back, and its network token is
	// discarded.
	c.own() // the record, and the service's state, must not hold the body
	unit := vault.NewUnit()
	defer unit.Rollback() // after Commit, nothing
	req := c.provisionRequest(set.Tenant, fp, "")
	if !last {
		req.Unit = unit
	}
	nt, dpan := t.Lifecycle.ProvisionWith(ctx, set.Network, req)
	rec := vault.Record{
		Tenant:      set.Tenant,
		Fingerprint: fp,
		Brand:       string(c.brand),
		BIN:         card.BIN(c.number),
		Last4:       card.Last4(c.number),
		ExpMonth:    c.value(c.expMonth),
		ExpYear:     c.value(c.expYear),
		Network:     nt,
	}
	for attempt := 0; ; attempt++ {
		var err error
		rec.Token, err = newToken(set, c.number, dpan, t.Random)
		if err != nil {
			t.discard(ctx, unit, nt)
			return vault.Record{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		// Sealed for this token (the associated data binds it), so again
		// for each token tried.
		rec.Sealed, err = t.Keys.Seal(set.Tenant, fp, rec.Token, keys.Secrets{PAN: c.number, Name: c.value(c.name), DPAN: dpan})
		if err != nil {
			t.discard(ctx, unit, nt)
			return vault.Record{}, false, fmt.Errorf("%w: sealing: %w", ErrUnavailable, err)
		}
		stored, created, err := vault.Put(ctx, t.Vault, unit, rec)
		switch {
		case err == nil && created:
			if err := unit.Commit(ctx); err != nil {
				return vault.Record{}, false, fmt.Errorf("%w: saving network token state: %w", ErrUnavailable, err)
			}
			return stored, true, nil
		case err == nil:
			// Another request stored the same card first: use its token
			// and give back the network token this one provisioned, unless
			// the provider handed both the same one (same idempotency key).
			if nt.ID != stored.Network.ID {
				t.discard(ctx, unit, nt)
			}
			return stored, false, nil
		case errors.Is(err, vault.ErrTokenTaken) && attempt < 4 && set.Format != rules.FormatNetworkToken:
			continue
		case errors.Is(err, vault.ErrStateTaken):
			unit.Rollback() // not discard: see errRedraw
			return vault.Record{}, false, fmt.Errorf("%w: %w: %w", ErrUnavailable, errRedraw, err)
		default:
			t.discard(ctx, unit, nt)
			return vault.Record{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
}

// discard gives back a network token provisioned for a card that is not
// stored: the unit's held writes are dropped first (a token whose state
// never reached the store is then unknown to the service, and its claims
// are released), then the service is told, for a token it already saved.
func (t *Tokenizer) discard(ctx context.Context, unit *vault.Unit, nt vault.NetworkToken) {
	unit.Rollback()
	t.Lifecycle.Discard(ctx, nt)
}

// refresh updates a known card's expiry when the customer sends a later one:
// a reissued card keeps its PAN and gets a new expiry, while an earlier one
// is a stale autofill and must not undo the reissue.
func (t *Tokenizer) refresh(ctx context.Context, set *rules.Inbound, rec vault.Record, c *cardInput) (vault.Record, bool, error) {
	// The token provisioned may clash, as in storeNew.
	return withRedraws(func(last bool) (vault.Record, bool, error) {
		return t.refreshOnce(ctx, set, rec, c, last)
	})
}

// refreshOnce is refresh's one try, in one unit of work (the last
// provisions outside it, as storeNewOnce's).
func (t *Tokenizer) refreshOnce(ctx context.Context, set *rules.Inbound, rec vault.Record, c *cardInput, last bool) (vault.Record, bool, error) {
	changed := false
	month, year := c.value(c.expMonth), c.value(c.expYear)
	hasExpiry := month != "" && year != ""
	if hasExpiry && laterExpiry(month, year, rec.ExpMonth, rec.ExpYear) {
		changed = true
	}
	retry := lifecycle.Retryable(rec.Network, hasExpiry)
	if !changed && !retry {
		return rec, false, nil // the repeat card's usual case: nothing to write
	}
	c.own() // a write: what it keeps must not hold the body
	if changed {
		rec.ExpMonth, rec.ExpYear = c.value(c.expMonth), c.value(c.expYear)
	}
	unit := vault.NewUnit()
	defer unit.Rollback() // after Commit, nothing
	if retry {
		req := c.provisionRequest(rec.Tenant, rec.Fingerprint, rec.Network.ID)
		if !last {
			req.Unit = unit
		}
		if updated, ok := t.Lifecycle.Reprovision(ctx, set.Network, rec, req); ok {
			rec, changed = updated, true
		}
	}
	if !changed {
		return rec, false, nil
	}
	stored, err := vault.Update(ctx, t.Vault, unit, rec)
	if errors.Is(err, vault.ErrConflict) {
		// Another request or gateway changed the card meanwhile: its
		// record stands, and a token provisioned here is given back
		// unless it is the one that record holds (same idempotency key).
		vault.Invalidate(t.Vault, rec.Tenant, rec.Token)
		current, err := t.Vault.Get(ctx, rec.Tenant, rec.Token)
		if err != nil {
			return vault.Record{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if rec.Network.ID != current.Network.ID {
			t.discard(ctx, unit, rec.Network)
		}
		return current, false, nil
	}
	if errors.Is(err, vault.ErrStateTaken) {
		unit.Rollback() // not discard: see errRedraw
		// Usually a concurrent request for this card that joined the same
		// token (same idempotency key) stored it first: its record stands,
		// as on a conflict, and drawing again would only provision a token
		// to give back.
		vault.Invalidate(t.Vault, rec.Tenant, rec.Token)
		if current, err := t.Vault.Get(ctx, rec.Tenant, rec.Token); err == nil && current.Network.ID == rec.Network.ID {
			return current, false, nil
		}
		return vault.Record{}, false, fmt.Errorf("%w: %w: %w", ErrUnavailable, errRedraw, err)
	}
	if err != nil {
		return vault.Record{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := unit.Commit(ctx); err != nil {
		return vault.Record{}, false, fmt.Errorf("%w: saving network token state: %w", ErrUnavailable, err)
	}
	return stored, false, nil
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

// provisionRequest is what the token service is asked for this card;
// previous is its former, deleted network token, if any.
func (c *cardInput) provisionRequest(tenant, fingerprint, previous string) network.ProvisionRequest {
	req := network.ProvisionRequest{
		Tenant:         tenant,
		IdempotencyKey: lifecycle.IdempotencyKey(tenant, fingerprint, previous),
		PAN:            c.number,
		ExpMonth:       c.value(c.expMonth),
		ExpYear:        c.value(c.expYear),
		CVV:            c.value(c.cvv),
		Brand:          string(c.brand),
		Name:           c.value(c.name),
	}
	if c.served != nil {
		req.Address, req.CustomerID = c.served.address, c.served.customerID
	}
	return req
}
