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
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/errdefs"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/responseguard"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/vault"
)

// ErrUnavailable means the vault or keys failed; the caller answers 503 and
// forwards nothing. It is an errdefs.ErrUnavailable, which is what callers
// match.
var ErrUnavailable = fmt.Errorf("detokenize: vault %w", errdefs.ErrUnavailable)

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
	// tenant whose tenant field names another tenant: moved from another
	// tenant's bucket. (One that says it is ours and does not open is
	// Apply's *UnreadableError.)
	Tampered func(ctx context.Context, tenant, field string)
	// CVVUnavailable, when set, is told that a held CVV could not be taken
	// (the CVV store failed): the PAN goes without it, as the fallback for a
	// CVV that is not held.
	CVVUnavailable func(ctx context.Context, field string, err error)
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
	// A token reported as network_token or pan had its number written; see
	// Verify for the body that is built from the edits.
	Injections []Injection
	// Secrets are the values the edited body now carries, each with what
	// replaces it should the processor's response repeat it.
	Secrets []responseguard.Secret
	// Tokens are the tokens found, Tokens[i] the one of Injections[i] (""
	// for a field reported absent): for the audit trail, which records
	// each token and what it became. A token is not card data.
	Tokens []string

	placed []placed
	set    string
}

// placed is one number Apply wrote: where its token was found, and where
// the number went, so that Verify can find it in the built body.
type placed struct {
	tokenPath  string // the token's concrete path
	numberSel  string // the number field's selector for this body kind
	numberPath string // the number's concrete path
	number     string
	// tokenSel and token are set when the token's place holds a card
	// number in some case but this case wrote the number elsewhere: the
	// rule set removes the token's member, and Verify checks it is gone.
	tokenSel, token string
}

// NotReplacedError means a token was found and its card's number is not
// where the rule set says it goes: the token would travel in place of a
// card number (a network token payment without its network token). The
// caller forwards nothing and answers 500: the rules or the gateway are at
// fault, not the request. It never holds a value.
type NotReplacedError struct {
	// Set is the outbound rule set's name.
	Set string
	// Field is the concrete path of the token field; it may hold names the
	// caller chose, so pass it through body.SafePath before showing it.
	Field string
	// Reason says what went wrong, without values.
	Reason string
}

func (e *NotReplacedError) Error() string {
	return fmt.Sprintf("detokenize: rule set %q: the token at %s was not replaced: %s", e.Set, body.SafePath(e.Field), e.Reason)
}

// Body builds the body to send from doc, which Apply edited, and verifies
// it (Verify): the only bytes that may leave toward the destination. The
// Caddy transport sends them as they are.
func (r Result) Body(kind body.Kind, contentType string, doc body.Doc) ([]byte, error) {
	built, err := doc.Bytes()
	if err != nil {
		return nil, fmt.Errorf("building the detokenized body: %w", err)
	}
	return built, r.Verify(kind, contentType, built)
}

// Verify checks the body built from Apply's edits (the bytes doc.Bytes
// returned, of the kind and Content-Type Apply's doc was parsed from):
// every token Apply detokenized has its number at the number field's place
// in it, so that where the number replaces the token in place, the token
// is gone. The edits are recorded by Apply and applied by the body editor;
// this reads what the editor produced, so that an edit lost there (or a
// rule set built in code that Load would refuse) cannot send the merchant's
// token on where the card number belongs. A token the rule set reads from a
// place other than the number's stays there, by the rule set's design.
func (r Result) Verify(kind body.Kind, contentType string, built []byte) error {
	if len(r.placed) == 0 {
		return nil
	}
	if kind == body.JSON {
		// gjson reads one path without parsing the whole body: the check
		// costs a fraction of the request's own parse. The paths are plain
		// (rules.checkJSONPath), so gjson reads them as the editor wrote
		// them, and the built body has no duplicate member to hide behind:
		// the received one had none and an edit either replaces a member
		// or adds one the object lacked.
		// Read in place: GetBytes would copy each value it finds, a card
		// number among them, into a string of its own. built is not
		// changed while view is read.
		view := unsafe.String(unsafe.SliceData(built), len(built))
		for _, p := range r.placed {
			if v := gjson.Get(view, p.numberPath); v.Type != gjson.String || v.Str != p.number {
				return &NotReplacedError{Set: r.set, Field: p.tokenPath, Reason: "the detokenized body does not hold the card number at " + body.SafePath(p.numberPath)}
			}
			if p.token != "" && gjson.Get(view, p.tokenPath).Exists() {
				return tokenLeft(r.set, p)
			}
		}
		return nil
	}
	doc, err := body.Parse(kind, contentType, built)
	if err != nil {
		return &NotReplacedError{Set: r.set, Field: r.placed[0].tokenPath, Reason: "the detokenized body does not parse: " + err.Error()}
	}
	// Read here only: nothing below outlives this call but errors, whose
	// fields are the placed paths, not the doc's memory.
	defer body.Release(doc)
	var numbers numberFields
	for _, p := range r.placed {
		if v, ok := numbers.at(doc, p.numberSel, p.numberPath); !ok || v != p.number {
			return &NotReplacedError{Set: r.set, Field: p.tokenPath, Reason: "the detokenized body does not hold the card number at " + body.SafePath(p.numberPath)}
		}
		if p.token != "" {
			for _, v := range doc.Find(p.tokenSel) {
				if v.Raw == p.token {
					return tokenLeft(r.set, p)
				}
			}
		}
	}
	return nil
}

// tokenLeft is Verify's answer for a token left at its place, which holds
// a card number in the other case, when the rule set removes it.
func tokenLeft(set string, p placed) error {
	return &NotReplacedError{Set: set, Field: p.tokenPath, Reason: "the detokenized body still holds the token, where the rule set writes a card number in the other case"}
}

// Apply records in doc, for every token that set's token fields find, the
// edits that detokenize it, for the tenant the caller authenticated as. The
// edits are applied when doc.Bytes is called; the caller checks the result
// with Result.Verify and sends it only in the request leaving toward one of
// set's destinations. On error the caller forwards nothing.
func (d *Detokenizer) Apply(ctx context.Context, tenant string, set *rules.Outbound, kind body.Kind, doc body.Doc) (Result, error) {
	// The plan lives on this stack for a rule set of usual size: a few
	// fields per case, a token field or two.
	var caseBuf [2][8]target
	cases := [2]targets{targetsOf(caseBuf[0][:0], set.Fields, kind, rules.WhenNetworkToken), targetsOf(caseBuf[1][:0], set.Fields, kind, rules.WhenPAN)}
	res := Result{set: set.Name}
	type field struct {
		sel   string
		found []body.Value
	}
	var fieldBuf [2]field
	fields := fieldBuf[:0]
	count := 0
	for i := range set.Fields {
		if set.Fields[i].Kind != rules.KindToken {
			continue
		}
		if sel := selectorOf(&set.Fields[i], kind); sel != "" {
			found := doc.Find(sel)
			fields = append(fields, field{sel, found})
			if count += len(found); count > set.MaxCards {
				return Result{}, &body.FieldError{Status: http.StatusRequestEntityTooLarge, Field: found[len(found)-1].Path, Code: "too_many_cards",
					Reason: "more than " + strconv.Itoa(set.MaxCards) + " tokens in one request (the rule set's max_cards); nothing was detokenized"}
			}
		}
	}
	if count > 0 {
		if err := checkGraphQL(set, kind, doc); err != nil {
			return Result{}, err
		}
		// Sized once: a card writes its number, a cryptogram or a CVV.
		res.Secrets = make([]responseguard.Secret, 0, 2*count)
	}
	if n := max(count, len(fields)); n > 0 {
		res.Injections, res.Tokens = make([]Injection, 0, n), make([]string, 0, n)
	}
	for _, f := range fields {
		sel, found := f.sel, f.found
		if len(found) == 0 {
			res.Injections = append(res.Injections, Injection{Field: sel, What: InjectedNone, Reason: "absent"})
			res.Tokens = append(res.Tokens, "")
			continue
		}
		for _, tok := range found {
			inj, err := d.card(ctx, tenant, set, kind, doc, cases, sel, tok, &res)
			if err != nil {
				return Result{}, err
			}
			res.Injections = append(res.Injections, inj)
			res.Tokens = append(res.Tokens, tok.Raw)
		}
	}
	return res, nil
}

// card detokenizes the one card whose token is tok, found by selector
// tokSel. cases holds the targets of the network token case and of the PAN
// fallback.
func (d *Detokenizer) card(ctx context.Context, tenant string, set *rules.Outbound, kind body.Kind, doc body.Doc, cases [2]targets, tokSel string, tok body.Value, res *Result) (Injection, error) {
	nt, pan := cases[0], cases[1]
	if tok.Raw == "" {
		return Injection{}, &body.FieldError{Status: http.StatusBadRequest, Field: tok.Path, Code: "missing_value", Reason: "token is empty"}
	}
	if nt.of(rules.KindNumber).sel == "" || pan.of(rules.KindNumber).sel == "" {
		// Refused before the vault is read, so that no cryptogram is
		// spent on a payment that cannot go. Either case may be taken, so
		// both need a number (Load gives each one).
		return Injection{}, &NotReplacedError{Set: set.Name, Field: tok.Path, Reason: "the rule set has no number field for a " + kind.String() + " body"}
	}
	if !tokenPlaceSafe(cases, tokSel, kind == body.JSON) {
		// Load refuses such a set (rules.checkTokenPlace); one built in
		// code would send the token where the processor reads a number.
		return Injection{}, &NotReplacedError{Set: set.Name, Field: tok.Path, Reason: "a case leaves the token where the other writes the card number, and does not remove it"}
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
		d.tampered(ctx, tenant, tok.Path)
		return Injection{}, &body.FieldError{Status: http.StatusForbidden, Field: tok.Path, Code: "unknown_token", Reason: "no such token for this API key"}
	}
	secrets, err := d.Keys.Open(tenant, rec.Fingerprint, rec.Token, rec.Sealed)
	if err != nil {
		// Not ErrUnavailable: nothing is down, and retrying cannot help.
		// The caller logs it (once, with the key id) and answers so.
		return Injection{}, unreadable(d.Keys, tok.Path, rec.Sealed)
	}
	// put writes one value and reports whether it did: what the caller is
	// told was injected comes from these edits, not from what the rule set
	// meant to do.
	put := func(t target, value string, bare bool) bool {
		if t.sel == "" || value == "" && t.Kind != rules.KindConstant && t.Kind != rules.KindBrand {
			return false
		}
		path := body.Expand(kind, t.sel, tok.Group)
		if bare {
			doc.SetRaw(path, value)
		} else {
			doc.Set(path, value)
		}
		switch t.Kind {
		case rules.KindNumber:
			res.Secrets = append(res.Secrets, responseguard.Secret{Value: value, With: tok.Raw})
			pl := placed{tokenPath: tok.Path, numberSel: t.sel, numberPath: path, number: value}
			if t.sel != tokSel && numberPlace(cases, tokSel) {
				pl.tokenSel, pl.token = tokSel, tok.Raw
			}
			res.placed = append(res.placed, pl)
		case rules.KindCryptogram:
			res.Secrets = append(res.Secrets, responseguard.Secret{Value: value, With: responseguard.Mask})
		case rules.KindCVV:
			res.Secrets = append(res.Secrets, responseguard.Secret{Value: value, With: responseguard.Mask, Whole: true})
		}
		return true
	}
	// write puts the case's values (number, CVV apart) in their formats.
	write := func(ts targets, vals map[rules.Kind]string, networkToken bool) error {
		for _, t := range ts {
			if t.Kind == rules.KindNumber || t.Kind == rules.KindCVV {
				continue
			}
			if t.Kind == rules.KindGraphQL {
				// Checked before the card was read (checkGraphQL); the PAN
				// fallback sends the query as the merchant wrote it.
				if networkToken {
					path, q, err := graphqlQuery(*t.Field, kind, doc, true)
					if err != nil {
						return err
					}
					doc.Set(path, q)
				}
				continue
			}
			if t.Kind == rules.KindRemove {
				doc.Delete(body.Expand(kind, t.sel, tok.Group))
				continue
			}
			text, bare, ok := render(t, vals[t.Kind], rec.Brand)
			if !ok {
				return unformattable(body.Expand(kind, t.sel, tok.Group), t.Kind)
			}
			put(t, text, bare)
		}
		return nil
	}
	// A token found with no number written for it would go on where the
	// card number belongs: the number field was checked above; this is a
	// record without the number it should hold.
	notReplaced := func() error {
		return &NotReplacedError{Set: set.Name, Field: tok.Path, Reason: "the card has no number to write"}
	}

	var reason string
	switch {
	case set.PANOnly:
		// No cryptogram is asked for: the processor could not take it.
		reason = ReasonProcessorNoNetworkToken
	case secrets.DPAN != "" && rec.Network.ID != "" && hasBrandless(nt, rec.Brand):
		// Checked before a cryptogram is spent on a request the
		// processor could not read.
		reason = ReasonBrandNotSupported
	case secrets.DPAN != "" || rec.Network.ID == "":
		var crypt network.Cryptogram
		crypt, reason = d.Lifecycle.Cryptogram(ctx, rec, network.CryptogramRequest{Initiator: set.Initiator})
		if reason == "" {
			if !put(nt.of(rules.KindNumber), secrets.DPAN, false) {
				return Injection{}, notReplaced()
			}
			if err := write(nt, map[rules.Kind]string{rules.KindExpMonth: rec.Network.ExpMonth, rules.KindExpYear: rec.Network.ExpYear,
				rules.KindCryptogram: crypt.Value, rules.KindECI: crypt.ECI, rules.KindName: secrets.Name}, true); err != nil {
				return Injection{}, err
			}
			return Injection{Field: tok.Path, What: InjectedNetworkToken}, nil
		}
	default:
		reason = lifecycle.ReasonNoNetworkToken
	}
	if set.Fallback != rules.FallbackPAN {
		return Injection{}, &body.FieldError{Status: http.StatusUnprocessableEntity, Field: tok.Path, Code: "network_token_unavailable", Reason: "no usable network token (" + reason + ") and the rules do not allow the PAN"}
	}
	if t, ok := pan.brandless(rec.Brand); ok {
		// Refused before the CVV is taken, so a corrected rule set can
		// still send it.
		return Injection{}, brandNotSupported(body.Expand(kind, t.sel, tok.Group))
	}
	if !put(pan.of(rules.KindNumber), secrets.PAN, false) {
		return Injection{}, notReplaced()
	}
	if err := write(pan, map[rules.Kind]string{rules.KindExpMonth: rec.ExpMonth, rules.KindExpYear: rec.ExpYear, rules.KindName: secrets.Name}, false); err != nil {
		return Injection{}, err
	}
	if t := pan.of(rules.KindCVV); t.sel != "" {
		cvv, ok, err := d.CVVs.TakeCVV(ctx, tenant, rec.Token)
		switch {
		case err != nil && d.CVVUnavailable != nil:
			d.CVVUnavailable(ctx, tok.Path, err)
		case err == nil && ok:
			put(t, cvv, false)
		}
	}
	return Injection{Field: tok.Path, What: InjectedPAN, Reason: reason}, nil
}

// hasBrandless reports whether a brand field of ts has no value for brand.
func hasBrandless(ts targets, brand string) bool {
	_, ok := ts.brandless(brand)
	return ok
}

func (d *Detokenizer) tampered(ctx context.Context, tenant, field string) {
	if d.Tampered != nil {
		d.Tampered(ctx, tenant, field)
	}
}
