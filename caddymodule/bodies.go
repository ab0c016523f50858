package caddymodule

import (
	"errors"
	"net/http"

	"github.com/tokengate/tokengate/body"
)

// readDoc reads and parses the request body for a rule set. ok=false means an
// error was already answered. A body of a kind no rule can address (not
// JSON, urlencoded or multipart) is reported as body.Other and left unread, so
// it streams through untouched.
func readDoc(w http.ResponseWriter, r *http.Request, limit int64) (kind body.Kind, doc body.Doc, raw []byte, ok bool) {
	ct := r.Header.Get("Content-Type")
	kind = body.KindOf(ct)
	if kind == body.Other {
		return kind, nil, nil, true
	}
	raw, err := body.Read(r, limit)
	var encErr *body.EncodingError
	switch {
	case errors.Is(err, body.ErrTooLarge):
		tooLarge(limit).write(w)
		return kind, nil, nil, false
	case errors.As(err, &encErr):
		e := badBody(http.StatusUnsupportedMediaType, "unsupported_encoding", "The request body's Content-Encoding cannot be decoded: "+encErr.Error()+". Send it uncompressed or gzip.")
		e.closeConn = true
		e.write(w)
		return kind, nil, nil, false
	case err != nil:
		e := badBody(http.StatusBadRequest, "unreadable_body", "The request body could not be read.")
		e.closeConn = true
		e.write(w)
		return kind, nil, nil, false
	}
	if len(raw) == 0 {
		body.Replace(r, raw)
		return body.Other, nil, raw, true
	}
	doc, err = body.Parse(kind, ct, raw)
	if err != nil {
		// The parser's errors describe the problem without the content.
		badBody(http.StatusBadRequest, "malformed_body", "The request body is malformed: "+err.Error()+".").write(w)
		return kind, nil, nil, false
	}
	return kind, doc, raw, true
}

// writeBack puts the edited body back on the request; an untouched body is
// put back as it came.
func writeBack(r *http.Request, doc body.Doc, raw []byte, edited bool) error {
	if !edited {
		body.Replace(r, raw)
		return nil
	}
	out, err := doc.Bytes()
	if err != nil {
		return err
	}
	body.Replace(r, out)
	return nil
}

// clientGone reports whether the request failed because the client hung up
// (its context is done): no failure of the gateway to alert on, and nobody
// is left to answer. The storage errors wrap the cause as text, so the
// request's own context is what tells.
func clientGone(r *http.Request, err error) bool {
	return err != nil && r.Context().Err() != nil
}

// limitFor picks the handler's own limit when it set a lower one.
func limitFor(handler, app int64) int64 {
	if handler > 0 && handler < app {
		return handler
	}
	return app
}
