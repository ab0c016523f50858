package tokenize

import (
	"sort"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
)

// collectOld is collect before the first card and the slice returning it
// shared one allocation (issue 20, fifth pass), kept for
// FuzzCollectAgainstOld.
func collectOld(fields []rules.Field, kind body.Kind, doc body.Doc) ([]*cardInput, error) {
	byGroup := map[string]*cardInput{}
	var found []body.Value // one slice for every field's Find
	for _, f := range fields {
		sel := selector(f, kind)
		if sel == "" {
			continue
		}
		found = body.FindAppend(doc, found[:0], sel)
		for _, v := range found {
			c := byGroup[v.Group]
			if c == nil {
				c = &cardInput{group: v.Group}
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
	cards := make([]*cardInput, 0, len(byGroup))
	for _, c := range byGroup {
		switch {
		case c.pan != nil:
			cards = append(cards, c)
		case c.cvv != nil && c.cvv.Raw != "":
			return nil, fieldError(c.cvv.Path, "missing_card_number", "card security code sent without a card number")
		}
	}
	if len(cards) > 1 {
		sort.Slice(cards, func(i, j int) bool { return groupLessOld(cards[i].group, cards[j].group) })
	}
	return cards, nil
}

// groupLessOld is groupLess before it walked the groups in place (issue 20,
// sixth pass), kept for FuzzGroupLessAgainstOld.
func groupLessOld(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}
