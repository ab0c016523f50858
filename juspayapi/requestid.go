package juspayapi

import (
	"net/http"

	"github.com/google/uuid"
)

// answerWriter is the ResponseWriter the API's handlers write to: it keeps
// the request, so that write can fill an error body's request_id with the
// caller's request id without the ~40 places that answer an error passing
// the request down to it.
type answerWriter struct {
	http.ResponseWriter
	r         *http.Request
	requestID func(*http.Request) string // Server.RequestID
}

// Unwrap lets http.ResponseController reach the host's writer (read
// deadlines, flushing).
func (a *answerWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// fillRequestID sets the request_id of an error body in seed 001's shape
// (inputError, tooManyRequests), which those leave empty, to the id of the
// request w answers: Server.RequestID's, else a fresh UUID (outside
// Handler, or with no RequestID set). The id is asked for only here, when
// an error is answered. Only an empty request_id is filled: those bodies
// are made afresh for each answer, so this never writes to a map shared
// between requests.
func fillRequestID(w http.ResponseWriter, out any) {
	e, _ := out.(map[string]any)
	info, _ := e["error_info"].(map[string]any)
	if id, ok := info["request_id"].(string); !ok || id != "" {
		return
	}
	info["request_id"] = requestIDOf(w)
}

func requestIDOf(w http.ResponseWriter) string {
	if a, ok := w.(*answerWriter); ok && a.requestID != nil {
		if id := a.requestID(a.r); id != "" {
			return id
		}
	}
	return uuid.NewString()
}
