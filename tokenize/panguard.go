package tokenize

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/panguard"
	"github.com/tokengate/tokengate/rules"
)

// stray is a text of the body, outside the rule set's card number fields,
// that holds one or more card numbers: what the PAN guard is for.
type stray struct {
	text  body.Text
	spans [][2]int     // the card numbers in text.Text
	cards []*cardInput // one per span, under pan_guard: tokenize
	// spelled: the text holds a card number only as a lenient reader
	// reads it (a JSON number written as a float, 4.111111111111111e15,
	// which JavaScript and Python read as 4111111111111111; percent or
	// \u escapes, UTF-16), so there is no span to replace: it is refused
	// under pan_guard tokenize too.
	spelled bool
}

// findStrays lists the texts of doc that hold a card number, except the
// values of the rule set's card number fields (paths in handled), which the
// fields themselves take care of (and which under the network_token format
// become DPANs, card numbers too). It reads the body as parsed, in one pass.
func findStrays(doc body.Doc, handled handledPaths) []stray {
	var out []stray
	for _, tx := range body.TextList(doc) {
		if !tx.Name && handled.has(tx.Path) {
			continue
		}
		var spans [][2]int
		card.FindNumbersString(tx.Text, func(s, e int) { spans = append(spans, [2]int{s, e}) })
		switch {
		case len(spans) > 0:
			out = append(out, stray{text: tx, spans: spans})
		case panguard.HasNumber(tx.Text):
			out = append(out, stray{text: tx, spelled: true})
		}
	}
	return out
}

// handledPaths are the paths of the card number fields, which the PAN guard
// leaves to the fields. A checkout has one card: its path is compared
// directly rather than put in a map for each request.
type handledPaths struct {
	cards []*cardInput
	set   map[string]bool // for many cards
}

// smallHandled is how many cards are compared one by one.
const smallHandled = 8

func newHandled(cards []*cardInput) handledPaths {
	if len(cards) <= smallHandled {
		return handledPaths{cards: cards}
	}
	set := make(map[string]bool, len(cards))
	for _, c := range cards {
		set[c.pan.Path] = true
	}
	return handledPaths{set: set}
}

func (h handledPaths) has(path string) bool {
	if h.set != nil {
		return h.set[path]
	}
	for _, c := range h.cards {
		if c.pan.Path == path {
			return true
		}
	}
	return false
}

// guardStrays applies the rule set's pan_guard to the strays: reject refuses
// with the first one's path, tokenize turns each card number into a card to
// store (a member name cannot be rewritten, so it is refused), log and off
// let them be (the caller logs).
func guardStrays(set *rules.Inbound, strays []stray) ([]*cardInput, error) {
	var cards []*cardInput
	for i := range strays {
		s := &strays[i]
		switch {
		case set.PANGuard == rules.PANReject || set.PANGuard == rules.PANTokenize && (s.text.Name || s.spelled):
			reason := "a card number is in a field the rules do not name; send it in the card number field"
			switch {
			case s.text.Name:
				reason = "a member or field name holds a card number"
			case s.spelled:
				reason = "a field the rules do not name holds a card number spelled so that it cannot be tokenized in place (a float, escapes); send it in the card number field"
			}
			return nil, &body.FieldError{Status: http.StatusBadRequest, Field: s.text.Path, Code: "pan_detected", Reason: reason}
		case set.PANGuard == rules.PANTokenize:
			for j, sp := range s.spans {
				number := card.Digits([]byte(s.text.Text[sp[0]:sp[1]]))
				brand, _ := card.Validate(number) // FindNumbers checked it
				path := s.text.Path
				if len(s.spans) > 1 {
					path += "[" + strconv.Itoa(j) + "]" // for errors only
				}
				c := &cardInput{pan: &body.Value{Path: path, Raw: number, IsString: true}, number: number, brand: brand}
				s.cards = append(s.cards, c)
				cards = append(cards, c)
			}
		}
	}
	return cards, nil
}

// replaceStrays writes each tokenized stray back with its card numbers
// replaced by their tokens.
func replaceStrays(doc body.Doc, strays []stray, tokenOf func(*cardInput) string) int {
	edited := 0
	for _, s := range strays {
		if len(s.cards) == 0 {
			continue
		}
		text := s.text.Text
		out := make([]byte, 0, len(text)+16*len(s.spans))
		prev := 0
		for j, sp := range s.spans {
			out = append(out, text[prev:sp[0]]...)
			out = append(out, tokenOf(s.cards[j])...)
			prev = sp[1]
		}
		out = append(out, text[prev:]...)
		doc.Set(s.text.Path, string(out))
		edited++
	}
	return edited
}

// strayPaths renders the strays' paths for Result.Strays.
func strayPaths(strays []stray) string {
	out := make([]string, 0, len(strays))
	for _, s := range strays {
		out = append(out, s.text.Path)
	}
	return strings.Join(out, ", ")
}

// verifyNoStrays reads the edited body again and refuses it if a card number
// is still outside the card number fields.
func verifyNoStrays(doc body.Doc, kind body.Kind, cards []*cardInput, strays []stray) error {
	out, err := doc.Bytes()
	if err != nil {
		return err
	}
	again, err := body.Parse(kind, "", out)
	if err != nil {
		// The editor could not address a stray's path (an empty member
		// name, say) and wrote the token beside it, giving an object with a
		// member twice: the number is in a place that cannot be rewritten.
		return &body.FieldError{Status: http.StatusBadRequest, Field: strays[0].text.Path, Code: "pan_detected",
			Reason: "a card number is in a place that cannot be rewritten; send it in the card number field"}
	}
	defer body.Release(again)
	if left := findStrays(again, newHandled(cards)); len(left) > 0 {
		return &body.FieldError{Status: http.StatusBadRequest, Field: left[0].text.Path, Code: "pan_detected",
			Reason: "a card number is in a place that cannot be rewritten; send it in the card number field"}
	}
	return nil
}
