package rules

import (
	"slices"

	"github.com/tokengate/tokengate/body"
)

// Encloses reports whether JSON path outer names an object that holds
// path inner (outer is a proper prefix of inner, segment by segment).
// A remove there takes the token's member out with its whole object:
// Braintree's network token request has no creditCard object at all, so
// the set removes variables.input.creditCard, not only its number.
func Encloses(outer, inner string) bool {
	so, si := body.SplitPath(outer), body.SplitPath(inner)
	return len(so) < len(si) && slices.Equal(so, si[:len(so)])
}
