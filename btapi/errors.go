package btapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/tokengate/tokengate/body"
)

// problem is an RFC 7807 problem details answer, the shape of Basis Theory's
// errors: ProblemDetails for most statuses, ValidationProblemDetails (with
// errors) for 400. Details never hold card data: they name fields and
// outcomes only.
type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Errors map[string][]string `json:"errors,omitempty"`
}

// typeFor is the RFC section each status's type points at, as ASP.NET's
// ProblemDetails (which Basis Theory answers with) sets it.
var typeFor = map[int]string{
	http.StatusBadRequest:            "https://tools.ietf.org/html/rfc7231#section-6.5.1",
	http.StatusUnauthorized:          "https://tools.ietf.org/html/rfc7235#section-3.1",
	http.StatusForbidden:             "https://tools.ietf.org/html/rfc7231#section-6.5.3",
	http.StatusNotFound:              "https://tools.ietf.org/html/rfc7231#section-6.5.4",
	http.StatusConflict:              "https://tools.ietf.org/html/rfc7231#section-6.5.8",
	http.StatusRequestEntityTooLarge: "https://tools.ietf.org/html/rfc7231#section-6.5.11",
	http.StatusUnprocessableEntity:   "https://tools.ietf.org/html/rfc4918#section-11.2",
	http.StatusInternalServerError:   "https://tools.ietf.org/html/rfc7231#section-6.6.1",
	http.StatusServiceUnavailable:    "https://tools.ietf.org/html/rfc7231#section-6.6.4",
}

func newProblem(status int, title, detail string) *problem {
	return &problem{Type: typeFor[status], Title: title, Status: status, Detail: detail}
}

// invalid is a 400 naming the fields at fault, each with its messages.
func invalid(field, message string) *problem {
	p := newProblem(http.StatusBadRequest, "One or more validation errors occurred.", "")
	p.Errors = map[string][]string{body.SafePath(field): {message}}
	return p
}

var (
	errUnauthenticated = newProblem(http.StatusUnauthorized, "Unauthenticated", "A valid BT-API-KEY header is required.")
	errNotFound        = newProblem(http.StatusNotFound, "Not Found", "The network token was not found.")
	errUnavailable     = newProblem(http.StatusServiceUnavailable, "Service Unavailable", "The network token service or the vault is unavailable; nothing was changed. Retry later.")
)

// unavailable is the answer to a failure of the vault, the keys or the
// network token service: 503, which tells nothing of the cause, so the
// cause goes to Failed.
func (s *Server) unavailable(ctx context.Context, cause error) *problem {
	if s.Failed != nil {
		s.Failed(ctx, cause)
	}
	return errUnavailable
}

func forbidden(perm Permission) *problem {
	return newProblem(http.StatusForbidden, "Forbidden", "The API key lacks the "+string(perm)+" permission.")
}

func (p *problem) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
