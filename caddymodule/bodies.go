package caddymodule

import (
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/tokengate/tokengate/body"
)

// readDoc reads and parses the request body for a rule set. ok=false means an
// error was already answered.
//
// With examine unset (outbound), a body of a kind no rule can address (not
// JSON, urlencoded or multipart by its Content-Type) is reported as
// body.Other and left unread, so it streams through untouched: it can only
// carry tokens. With examine set (inbound), every body is read and parsed,
// whatever its Content-Type says, because a body the gateway did not look at
// is a body a card number could cross: see sniff.
//
// The body is read into buf's memory when it fits (body.ReadInto; nil
// for memory of its own). raw comes back when parsing failed too, since the
// parser's error may be a string over it: the caller must then not reuse
// buf either.
func readDoc(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration, examine bool, buf []byte) (kind body.Kind, doc body.Doc, raw []byte, ok bool) {
	ct := r.Header.Get("Content-Type")
	kind = body.KindOf(ct)
	if kind == body.Other && !examine {
		return kind, nil, nil, true
	}
	raw, ok = readBody(w, r, limit, timeout, buf)
	if !ok {
		return kind, nil, nil, false
	}
	if len(raw) == 0 {
		replaceBody(r, raw)
		return body.Other, nil, raw, true
	}
	if examine {
		if kind = sniff(kind, raw); kind == body.Other {
			badBody(http.StatusUnsupportedMediaType, "unexamined_body",
				"The request body on a tokenized route is neither JSON nor an urlencoded or multipart form, so it cannot be checked for card data. Send JSON or a form.").answer(w, r)
			return kind, nil, nil, false
		}
	}
	doc, err := body.Parse(kind, ct, raw)
	if err != nil {
		parseFailed(w, r, err)
		return kind, nil, raw, false
	}
	return kind, doc, raw, true
}

// parseFailed answers a body that does not parse. (errors.AsType, not
// errors.As, here and in readBody: As's target escapes to the heap, one
// allocation for every request, failed or not.)
func parseFailed(w http.ResponseWriter, r *http.Request, err error) {
	if dup, ok := errors.AsType[*body.DuplicateKeyError](err); ok {
		fieldFailure(&body.FieldError{Status: http.StatusBadRequest, Field: dup.Path, Code: "duplicate_key",
			Reason: "this member name occurs twice in one object, and parsers disagree on which one counts; send it once"}).answer(w, r)
		return
	}
	// The parser's errors describe the problem without the content.
	badBody(http.StatusBadRequest, "malformed_body", "The request body is malformed: "+err.Error()+".").answer(w, r)
}

// readBody reads the whole body (decoded) within the limit and the timeout;
// ok=false means an error was already answered.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration, buf []byte) (raw []byte, ok bool) {
	raw, err := readWithin(w, r, limit, timeout, buf)
	if err == nil {
		return raw, true
	}
	encErr, isEnc := errors.AsType[*body.EncodingError](err)
	switch {
	case errors.Is(err, body.ErrTooLarge):
		tooLarge(limit).answer(w, r)
		return nil, false
	case errors.Is(err, os.ErrDeadlineExceeded):
		e := badBody(http.StatusRequestTimeout, "body_timeout", "The request body did not arrive within "+timeout.String()+".")
		e.closeConn = true
		e.answer(w, r)
		return nil, false
	case isEnc && errors.Unwrap(encErr) != nil:
		e := badBody(http.StatusBadRequest, "malformed_encoding", "The request body does not decode: "+encErr.Error()+".")
		e.closeConn = true
		e.answer(w, r)
		return nil, false
	case isEnc:
		e := badBody(http.StatusUnsupportedMediaType, "unsupported_encoding", "The request body's Content-Encoding cannot be decoded: "+encErr.Error()+". Send it uncompressed or gzip.")
		e.closeConn = true
		e.answer(w, r)
		return nil, false
	default:
		e := badBody(http.StatusBadRequest, "unreadable_body", "The request body could not be read.")
		e.closeConn = true
		e.answer(w, r)
		return nil, false
	}
}

// readWithin reads the body with a deadline for the whole of it, set on the
// connection so that a body trickled a byte at a time cannot hold it open.
func readWithin(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration, buf []byte) ([]byte, error) {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(timeout)); err == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	return body.ReadInto(r, limit, buf)
}

// sniff decides how an inbound body is read. A Content-Type of JSON or
// multipart is believed (a body that is not what it says is refused by the
// parser). Anything else, no Content-Type, text/plain (what a browser's
// fetch() sends for a string), application/octet-stream, or even
// urlencoded, is read as JSON when it is a JSON object or array, since many
// frameworks parse JSON whatever the label, and otherwise as an urlencoded
// form. Other means it is neither.
func sniff(kind body.Kind, raw []byte) body.Kind {
	if kind == body.JSON || kind == body.Multipart {
		return kind
	}
	if body.LooksLikeJSON(raw) {
		return body.JSON
	}
	if kind == body.Form || body.IsForm(raw) {
		return body.Form // a form that does not parse is refused by the parser
	}
	return body.Other
}

// streamAbove is the body size from which an edited body is streamed to
// the upstream (body.Stream) rather than built: a big body is then held
// once, not twice. Below it, building the copy costs less than the
// streaming reader, which net/http does not know for an in-memory one, so
// it sends the headers in a write of their own.
const streamAbove = 64 << 10

// writeBack puts the edited body back on the request; an untouched body is
// put back as it came. sent is what the request now carries (raw itself
// when untouched), or nil when the body is streamed from doc and raw.
func writeBack(r *http.Request, doc body.Doc, raw []byte, edited bool) (sent []byte, err error) {
	if !edited {
		replaceBody(r, raw)
		return raw, nil
	}
	if len(raw) >= streamAbove {
		if open, size, ok := body.Stream(doc); ok {
			replaceBodyStream(r, open, size)
			return nil, nil
		}
	}
	out, err := doc.Bytes()
	if err != nil {
		return nil, err
	}
	replaceBody(r, out)
	return out, nil
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
