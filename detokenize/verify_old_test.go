package detokenize

import (
	"github.com/tokengate/tokengate/body"
)

// Result.Verify's form and multipart check before it read the number
// fields into a list (issue 20, sixth pass): a map of maps per request.
// Kept for FuzzVerifyFormAgainstOld.

func (r Result) verifyOld(kind body.Kind, contentType string, built []byte) error {
	if len(r.placed) == 0 {
		return nil
	}
	doc, err := body.Parse(kind, contentType, built)
	if err != nil {
		return &NotReplacedError{Set: r.set, Field: r.placed[0].tokenPath, Reason: "the detokenized body does not parse: " + err.Error()}
	}
	found := map[string]map[string]string{} // number selector -> path -> value
	for _, p := range r.placed {
		at, ok := found[p.numberSel]
		if !ok {
			at = map[string]string{}
			for _, v := range doc.Find(p.numberSel) {
				at[v.Path] = v.Raw
			}
			found[p.numberSel] = at
		}
		if v, ok := at[p.numberPath]; !ok || v != p.number {
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
