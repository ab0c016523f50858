package tokenize

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
)

// cardInput is one card found in a body: the fields of a rule set that share
// a group (the same `#` indexes).
type cardInput struct {
	group                       string
	pan, cvv, expMonth, expYear *body.Value
	name                        *body.Value
	keepCVV                     bool
	number                      string // the normalized PAN
	brand                       card.Brand
	// consent is the card's consent field, if the body has one.
	consent *body.Value
	// served is what the served APIs (Store) hand over beside the card,
	// never found in a body: behind a pointer, so a bulk body's thousand
	// cards do not each carry its room.
	served *servedCard
	// edited holds the card number and CVV values collect found, which
	// stay until the body is edited; rest holds the others (expiry, name,
	// consent), needed only until the card is stored (drop). The pointers
	// above point into them, so that they need no allocation each.
	edited [2]body.Value
	rest   *[4]body.Value
}

// drop lets go of what only storing the card needed (its number, expiry,
// name, consent) once its token is known: a bulk body's cards are held
// until every card is stored and the body edited, and without this most
// of each card (and its number) would be held to the end. What the edit
// and the CVV hold need (pan, cvv, keepCVV, group) stays.
func (c *cardInput) drop() {
	c.number, c.brand, c.served = "", "", nil
	c.expMonth, c.expYear, c.name, c.consent, c.rest = nil, nil, nil, nil, nil
}

// servedCard is what goes to the token service with a card the served APIs
// store.
type servedCard struct {
	address    network.Address
	customerID string
}

// hold keeps v in the card's slot i and returns it.
func (c *cardInput) hold(i int, v body.Value) *body.Value {
	if i < len(c.edited) {
		c.edited[i] = v
		return &c.edited[i]
	}
	if c.rest == nil {
		c.rest = new([4]body.Value)
	}
	c.rest[i-len(c.edited)] = v
	return &c.rest[i-len(c.edited)]
}

// own gives the card its own copies of the texts a record or the token
// service keeps (number, expiry, name): found in the body they share its
// memory, and a cached record holding a 4-byte expiry would keep a whole
// 1 MiB body, card numbers and all, alive for as long as it is cached.
// Only the cards written to the vault pay for it.
func (c *cardInput) own() {
	c.number = strings.Clone(c.number)
	for _, v := range []*body.Value{c.expMonth, c.expYear, c.name} {
		if v != nil {
			v.Raw = strings.Clone(v.Raw)
		}
	}
}

// value returns a field's text, or "" when the body did not have the field.
func (c *cardInput) value(v *body.Value) string {
	if v == nil {
		return ""
	}
	return v.Raw
}

// selector picks the field's selector for the body kind: JSON paths for JSON,
// field names for both form kinds.
func selector(f rules.Field, kind body.Kind) string {
	if kind == body.JSON {
		return f.JSON
	}
	return f.Form
}

// collect finds the rule set's fields in doc and groups them into cards, in
// body order. A group with a CVV or expiry but no PAN is left alone: without
// a PAN there is nothing to tokenize.
func collect(fields []rules.Field, kind body.Kind, doc body.Doc) ([]*cardInput, error) {
	byGroup := map[string]*cardInput{}
	// The first card, and room for what each field's Find returns: one
	// allocation for a checkout's card, its slice and the finds.
	first := &firstCard{}
	found := first.found[:0] // one slice for every field's Find
	for _, f := range fields {
		sel := selector(f, kind)
		if sel == "" {
			continue
		}
		found = body.FindAppend(doc, found[:0], sel)
		for _, v := range found {
			c := byGroup[v.Group]
			if c == nil {
				if len(byGroup) == 0 {
					c = &first.card
					c.group, c.rest = v.Group, &first.rest
				} else {
					c = &cardInput{group: v.Group}
				}
				byGroup[v.Group] = c
			}
			switch f.Kind {
			case rules.KindPAN:
				c.pan = c.hold(0, v)
			case rules.KindCVV:
				c.cvv, c.keepCVV = c.hold(1, v), f.Keep
			case rules.KindExpMonth:
				c.expMonth = c.hold(2, v)
			case rules.KindExpYear:
				c.expYear = c.hold(3, v)
			case rules.KindName:
				c.name = c.hold(4, v)
			case rules.KindConsent:
				c.consent = c.hold(5, v)
			}
		}
	}
	if err := checkShared(byGroup); err != nil {
		return nil, err
	}
	var cards []*cardInput
	if len(byGroup) == 1 {
		cards = first.cards[:0]
	} else {
		cards = make([]*cardInput, 0, len(byGroup))
	}
	var orphan *cardInput // the first CVV without a card number, in body order
	for _, c := range byGroup {
		switch {
		case c.pan != nil:
			cards = append(cards, c)
		case c.cvv != nil && c.cvv.Raw != "":
			if orphan == nil || groupLess(c.group, orphan.group) {
				orphan = c
			}
		}
	}
	if orphan != nil {
		// A CVV with no card number cannot be held for any token, and must
		// never reach the merchant: refuse rather than forward it. Errors
		// name the first such field in body order, not one picked by map
		// order, so the same body always gets the same answer.
		return nil, fieldError(orphan.cvv.Path, "missing_card_number", "card security code sent without a card number")
	}
	if len(cards) > 1 {
		sort.Slice(cards, func(i, j int) bool { return groupLess(cards[i].group, cards[j].group) })
	}
	return cards, nil
}

// firstCard is the first card collect finds, with room for the slice that
// returns it and for the value each field's Find returns (a checkout's
// fields find one each): a checkout's one card is one allocation, not
// three, and (512 bytes in its size class) no more bytes than the three.
type firstCard struct {
	card  cardInput
	rest  [4]body.Value
	cards [1]*cardInput
	found [1]body.Value
}

// checkShared refuses fields that occur once ("card_cvc") beside a form
// card number that occurs several times ("card_number" twice): nobody can
// tell whose they are. Storing the cards without them (no expiry, so no
// network token) or refusing the CVV as "without a card number" would both
// be wrong. (JSON paths cannot mix: the rules file refuses a set whose
// fields have different numbers of # segments.)
func checkShared(byGroup map[string]*cardInput) error {
	shared := byGroup[""]
	if shared == nil || shared.pan != nil {
		return nil
	}
	owners := 0
	for g, c := range byGroup {
		if g != "" && c.pan != nil {
			owners++
		}
	}
	if owners == 0 {
		return nil
	}
	for _, v := range []*body.Value{shared.cvv, shared.expMonth, shared.expYear, shared.name} {
		if v != nil {
			return fieldError(v.Path, "ambiguous_field", "this field occurs once for "+strconv.Itoa(owners)+" card numbers, so it cannot be matched to one; send it once per card")
		}
	}
	return nil
}

// groupLess orders groups ("2", "0.10") index by index, numerically, so
// cards are handled, and errors reported, in body order. It walks both
// strings in place: sorting a 1,000-card body compares some 10,000 pairs,
// and splitting each pair cost two slices a time.
func groupLess(a, b string) bool {
	for {
		as, aRest, aMore := strings.Cut(a, ".")
		bs, bRest, bMore := strings.Cut(b, ".")
		x, _ := strconv.Atoi(as)
		y, _ := strconv.Atoi(bs)
		if x != y {
			return x < y
		}
		if !aMore || !bMore {
			return !aMore && bMore // equal so far: the one with fewer indexes first
		}
		a, b = aRest, bRest
	}
}

// keeps reports whether the customer consented to the card being kept and
// tokenized with the network: the consent field when it says true or false,
// the rule set's default when it is absent or null. ok is false for any
// other value.
func (c *cardInput) keeps(set *rules.Inbound) (keep, ok bool) {
	if c.consent == nil {
		return set.ConsentDefault, true
	}
	switch strings.ToLower(strings.TrimSpace(c.consent.Raw)) {
	case "true", "1", "yes", "y", "on":
		return true, true
	case "false", "0", "no", "n", "off":
		return false, true
	case "", "null":
		return set.ConsentDefault, true
	}
	return false, false
}

func (c *cardInput) validate(now time.Time) error {
	if c.pan.Raw == "" {
		return fieldError(c.pan.Path, "missing_value", "card number is empty")
	}
	c.number = card.Normalize(c.pan.Raw)
	brand, err := card.Validate(c.number)
	if err != nil {
		return cardFieldError(c.pan.Path, err)
	}
	c.brand = brand
	if c.cvv != nil && c.cvv.Raw != "" {
		if err := card.ValidateCVV(c.cvv.Raw, brand); err != nil {
			return cardFieldError(c.cvv.Path, err)
		}
	}
	if c.expMonth != nil || c.expYear != nil {
		month, year := c.value(c.expMonth), c.value(c.expYear)
		if err := card.ValidateExpiry(month, year, now); err != nil {
			path := c.expMonth
			if ce, ok := err.(*card.Error); ok && ce.Code != "invalid_exp_month" && c.expYear != nil {
				path = c.expYear
			}
			if path == nil {
				path = c.expYear
			}
			return cardFieldError(path.Path, err)
		}
	}
	return nil
}

func fieldError(field, code, reason string) *body.FieldError {
	return &body.FieldError{Status: http.StatusBadRequest, Field: field, Code: code, Reason: reason}
}

func cardFieldError(field string, err error) *body.FieldError {
	if ce, ok := err.(*card.Error); ok {
		return fieldError(field, ce.Code, ce.Reason)
	}
	return fieldError(field, "invalid", "invalid value")
}
