package detokenize

import (
	"errors"
	"net/http"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
)

// CodeGraphQLRefused is the error code of a request whose GraphQL query is
// not the one operation its rule set's graphql field knows.
const CodeGraphQLRefused = "graphql_operation_refused"

// checkGraphQL checks the query of each of set's graphql fields before any
// card is read, so that a request the set cannot rewrite spends no
// cryptogram and takes no CVV. It runs only for a request that holds a
// token: the processor's other requests (a charge of the single-use
// payment method) pass through the same endpoint untouched.
func checkGraphQL(set *rules.Outbound, kind body.Kind, doc body.Doc) error {
	for _, f := range set.FieldsOf(rules.KindGraphQL) {
		if _, _, err := graphqlQuery(f, kind, doc, false); err != nil {
			return err
		}
	}
	return nil
}

// graphqlQuery finds field f's query in doc and returns its concrete path
// and the query to send (f.Op.Rewrite). It refuses a body whose query is
// missing, repeated or not a string, and any query Rewrite refuses, naming
// the field and never a value from the query.
func graphqlQuery(f rules.Field, kind body.Kind, doc body.Doc, networkToken bool) (string, string, error) {
	refused := func(path, reason string) error {
		return &body.FieldError{Status: http.StatusBadRequest, Field: path, Code: CodeGraphQLRefused, Reason: reason}
	}
	if kind != body.JSON || f.Op == nil {
		return "", "", refused(f.JSON, "a GraphQL request is a JSON body whose query the rule set checks")
	}
	found := doc.Find(f.JSON)
	switch {
	case len(found) == 0:
		return "", "", refused(f.JSON, "the body has no GraphQL query")
	case len(found) > 1 || !found[0].IsString:
		return "", "", refused(f.JSON, "the GraphQL query must be one string")
	}
	q, err := f.Op.Rewrite(found[0].Raw, networkToken)
	var r *rules.GraphQLRefusal
	if errors.As(err, &r) {
		return "", "", refused(found[0].Path, r.Reason)
	}
	return found[0].Path, q, err
}
