package caddymodule

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/panguard"
	"github.com/tokengate/tokengate/rules"
)

// What the tokenize handler does with a request no rule set matches.
const (
	// UnmatchedReject reads the request with the PAN guard (path, query,
	// headers, cookies, body, trailers) and refuses one with a card number
	// (400 pan_detected). The default.
	UnmatchedReject = "reject"
	// UnmatchedLog reads it the same way, logs where a card number is and
	// forwards it.
	UnmatchedLog = "log"
	// UnmatchedPass forwards it untouched, unread.
	UnmatchedPass = "pass"
)

// Outcomes of tokengate_unmatched_requests_total.
const (
	unmatchedClean    = "clean"       // read, no card number
	unmatchedRejected = "rejected"    // a card number: refused
	unmatchedLogged   = "logged"      // a card number: logged and forwarded
	unmatchedPassed   = "passed"      // unmatched pass: not read
	unmatchedBad      = "bad_request" // the body could not be read or is in a charset the guard cannot read: refused
	unmatchedSkipped  = "unexamined"  // unmatched log: the body could not be read, forwarded unread
)

// serveUnmatched handles a request none of the handler's rule sets matches:
// a tokenize handler guards every request it sees (see Tokenize.Unmatched).
func (h *Tokenize) serveUnmatched(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	policy := h.Unmatched
	if policy == "" {
		policy = UnmatchedReject
	}
	if policy == UnmatchedPass {
		unmatchedRequests.WithLabelValues(unmatchedPassed).Inc()
		return next.ServeHTTP(w, r)
	}
	reject := policy == UnmatchedReject
	var found []string
	if place, ok := outsideBody(r, nil); ok {
		h.hideFromAccessLog(r, place)
		if reject {
			h.refusePAN(w, r, place, "", "unmatched")
			unmatchedRequests.WithLabelValues(unmatchedRejected).Inc()
			return nil
		}
		found = append(found, place)
	}
	if r.Body != nil && r.Body != http.NoBody {
		raw, outcome, ok := h.readUnmatched(w, r, reject)
		switch {
		case !ok:
			unmatchedRequests.WithLabelValues(outcome).Inc()
			return nil
		case outcome == unmatchedSkipped:
			unmatchedRequests.WithLabelValues(unmatchedSkipped).Inc()
			h.logUnmatched(r, found)
			return next.ServeHTTP(w, r)
		}
		place, hit := panguard.Trailers(r)
		r.Trailer = nil // checked; a rewritten body goes with a length, and trailers seldom matter
		if !hit {
			place, hit = panguard.Body(r.Header.Get("Content-Type"), raw)
		}
		if hit {
			if reject {
				h.refusePAN(w, r, place, "", "unmatched")
				unmatchedRequests.WithLabelValues(unmatchedRejected).Inc()
				return nil
			}
			found = append(found, place)
		}
		replaceBody(r, raw)
	}
	if len(found) == 0 {
		unmatchedRequests.WithLabelValues(unmatchedClean).Inc()
		return next.ServeHTTP(w, r)
	}
	unmatchedRequests.WithLabelValues(unmatchedLogged).Inc()
	h.logUnmatched(r, found)
	return next.ServeHTTP(w, r)
}

// logUnmatched logs, under unmatched log, where a forwarded request no rule
// set matched holds card numbers.
func (h *Tokenize) logUnmatched(r *http.Request, places []string) {
	if len(places) == 0 {
		return
	}
	h.logger.Warn("card numbers in a request no rule set matches, forwarded (unmatched: log)",
		zap.String("method", panguard.MaskDigits(r.Method)), zap.String("uri", maskedURI(r)), zap.String("paths", strings.Join(places, ", ")), requestLog(r))
}

// readUnmatched reads the body of an unmatched request. Under reject (fail
// closed) a body that cannot be read whole is refused like a tokenized
// route's (413, 408, 415, 400); under log one whose declared size or
// encoding already says so is forwarded unread (outcome unexamined), with a
// warning. ok=false means an answer was written.
func (h *Tokenize) readUnmatched(w http.ResponseWriter, r *http.Request, reject bool) (raw []byte, outcome string, ok bool) {
	limit := limitFor(h.MaxBodySize, h.app.MaxBodySize)
	if err := checkCharset(r.Header.Get("Content-Type")); err != nil {
		if reject {
			unsupportedCharset(err).answer(w, r)
			return nil, unmatchedBad, false
		}
		h.logger.Warn("a request no rule set matches has a body in a charset the PAN guard cannot read; forwarded unread (unmatched: log)", zap.String("method", panguard.MaskDigits(r.Method)), zap.String("uri", maskedURI(r)), requestLog(r))
		return nil, unmatchedSkipped, true
	}
	if !reject && (r.ContentLength > limit || !decodable(r.Header.Values("Content-Encoding"))) {
		h.logger.Warn("a request no rule set matches has a body larger than max_body_size or in an encoding the gateway cannot decode; forwarded unread (unmatched: log)",
			zap.String("method", panguard.MaskDigits(r.Method)), zap.String("uri", maskedURI(r)), requestLog(r))
		return nil, unmatchedSkipped, true
	}
	raw, ok = readBody(w, r, limit, time.Duration(h.app.BodyReadTimeout), nil)
	if !ok {
		return nil, unmatchedBad, false
	}
	return raw, "", true
}

// decodable reports whether body.Read can decode these content codings.
func decodable(codings []string) bool {
	for _, v := range codings {
		for _, c := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(c)) {
			case "", "identity", "gzip", "x-gzip":
			default:
				return false
			}
		}
	}
	return true
}

// outsideBody returns where a request holds a card number outside its body:
// the path, the Host, the headers (skip, if set, names headers not to read),
// the cookies and the query string.
func outsideBody(r *http.Request, skip func(string) bool) (string, bool) {
	if place, ok := panguard.Outside(r, skip); ok {
		return place, true
	}
	return panguard.Query(r.URL.RawQuery)
}

// guardOutside applies a matched rule set's pan_guard to the places of a
// request that no rule can rewrite: the path, headers and cookies. Under
// reject and tokenize a card number there is refused; under log it is
// logged and counted and the request goes on; off does not look. The query
// string is the rule set's (see tokenizeQuery), but a card number in it is
// still kept out of the access log here. ok=false means an answer was
// written.
func (h *Tokenize) guardOutside(w http.ResponseWriter, r *http.Request, set *rules.Inbound) bool {
	if set.PANGuard == rules.PANOff {
		return true
	}
	place, found := panguard.Outside(r, nil)
	if _, inQuery := panguard.Query(r.URL.RawQuery); found || inQuery {
		h.hideFromAccessLog(r, place)
	}
	if !found {
		return true
	}
	return h.foundPAN(w, r, set, place, "outside the body", "card numbers found outside the body (pan_guard: log)")
}

// guardTrailers applies a matched rule set's pan_guard to the request's
// trailers, once the body has been read, and drops them: the body is
// forwarded with a length, and a merchant's framework seldom reads request
// trailers. ok=false means an answer was written.
func (h *Tokenize) guardTrailers(w http.ResponseWriter, r *http.Request, set *rules.Inbound) bool {
	place, found := panguard.Trailers(r)
	r.Trailer = nil
	if !found || set.PANGuard == rules.PANOff {
		return true
	}
	return h.foundPAN(w, r, set, place, "trailers", "card numbers found in the trailers, which are dropped (pan_guard: log)")
}

// foundPAN applies set's pan_guard to a card number found at place (which
// cannot be rewritten, so tokenize refuses as reject does): counted, then
// logged under log, refused otherwise. ok=false means an answer was written.
func (h *Tokenize) foundPAN(w http.ResponseWriter, r *http.Request, set *rules.Inbound, place, where, logMsg string) bool {
	panGuardHits.WithLabelValues(set.Name, string(set.PANGuard)).Inc()
	if set.PANGuard == rules.PANLog {
		h.logger.Warn(logMsg, zap.String("rule_set", set.Name), zap.String("paths", place), zap.Int("count", 1), requestLog(r))
		return true
	}
	h.refusePAN(w, r, place, set.Name, where)
	return false
}

// refusePAN answers 400 pan_detected naming the place, never the value.
func (h *Tokenize) refusePAN(w http.ResponseWriter, r *http.Request, place, ruleSet, where string) {
	reason := "a card number is in a place no card number may be sent (" + where + "); send it in the card number field of the body"
	if ruleSet == "" {
		reason = "a card number is in a request no rule set of the gateway matches; send card data only to the payment routes"
	}
	id := fieldFailure(&body.FieldError{Status: http.StatusBadRequest, Field: place, Code: "pan_detected", Reason: reason}).answer(w, r)
	fields := []zap.Field{zap.String("field", body.SafePath(place)), zap.String("code", "pan_detected"), requestLogID(r.Context(), id),
		zap.String("method", panguard.MaskDigits(r.Method)), zap.String("uri", maskedURI(r))}
	if ruleSet != "" {
		fields = append(fields, zap.String("rule_set", ruleSet))
	}
	h.logger.Info("card rejected", fields...)
}

// hideFromAccessLog keeps a request whose URI or headers hold a card number
// out of Caddy's access log, which logs the request as it arrived (URI and
// headers), and writes tokengate's own line in its place, with every digit
// of the URI masked and the header values left out. Caddy's tracing span
// recorded the same request as it arrived: see maskServerSpan.
func (h *Tokenize) hideFromAccessLog(r *http.Request, place string) {
	hideFromAccessLog(h.logger, r, place)
}

func hideFromAccessLog(logger *zap.Logger, r *http.Request, place string) {
	caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
	caddyhttp.SetVar(r.Context(), cardOutsideBodyVar, true) // and its failures out of Caddy's error log: see routed
	maskServerSpan(r)
	if ce := logger.Check(zapcore.InfoLevel, "access log line replaced: the request holds a card number in its URI or headers"); ce != nil {
		ce.Write(zap.String("method", panguard.MaskDigits(r.Method)), zap.String("host", panguard.MaskDigits(r.Host)), zap.String("uri", maskedURI(r)),
			zap.String("proto", r.Proto), zap.String("remote_addr", r.RemoteAddr), zap.String("place", body.SafePath(place)), requestLog(r))
	}
}

// maskedURI is the request URI with every digit masked: a card number in
// any spelling loses its digits, percent escapes of digits (%30-%39)
// included, since both of their hex digits are digits.
func maskedURI(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" && r.URL != nil {
		uri = r.URL.RequestURI()
	}
	return panguard.MaskDigits(uri)
}

// checkCharset refuses a Content-Type whose charset the PAN guard cannot
// read: it reads bytes as UTF-8, so only UTF-8 and US-ASCII (a subset) are
// safe. A UTF-16 body puts a NUL byte between the digits of a card number;
// ISO-8859-1 writes a no-break space as a lone 0xA0 byte, which is not the
// UTF-8 the finder knows, so it is refused too.
func checkCharset(contentType string) error {
	if strings.IndexByte(contentType, '=') < 0 {
		// No parameter, so no charset, as charsetOf would find: without
		// mime.ParseMediaType's map for every "application/json".
		return nil
	}
	switch cs := charsetOf(contentType); strings.ToLower(strings.TrimSpace(cs)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return nil
	default:
		return fmt.Errorf("charset %q", panguard.MaskDigits(cs))
	}
}

func unsupportedCharset(err error) gatewayError {
	return badBody(http.StatusUnsupportedMediaType, "unsupported_charset",
		"The request body's "+err.Error()+" cannot be checked for card data. Send it as UTF-8.")
}

// hasNUL reports whether a body holds a NUL byte: text in UTF-16 or another
// encoding the PAN guard does not read, on a route whose bodies are JSON or
// forms, which never hold one.
func hasNUL(raw []byte) bool { return bytes.IndexByte(raw, 0) >= 0 }

// maskServerSpan overwrites, with every digit masked, the attributes that
// the tracing directive's server span (otelhttp) took from the request as it
// arrived: url.path, server.address (the Host) and user_agent.original. A
// span keeps the last value set for a key, so the exported span carries only
// the masked ones. (A span_name made of request placeholders is the
// operator's to avoid; the README says so.)
func maskServerSpan(r *http.Request) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("url.path", panguard.MaskDigits(r.URL.Path))}
	if host, _, err := net.SplitHostPort(r.Host); err == nil {
		attrs = append(attrs, attribute.String("server.address", panguard.MaskDigits(host)))
	} else if r.Host != "" {
		attrs = append(attrs, attribute.String("server.address", panguard.MaskDigits(r.Host)))
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, attribute.String("user_agent.original", panguard.MaskDigits(ua)))
	}
	span.SetAttributes(attrs...)
}

// dropTraceHeaders removes the trace context headers that hold a card
// number (panguard.DropTraceHeaders) before any guard reads the request:
// their ids are random, Caddy's tracing writes them, and refusing the
// request for them would refuse a traced request now and then at random.
// Nothing card-like is forwarded either way; the line says which header
// went, never its value.
func dropTraceHeaders(logger *zap.Logger, r *http.Request) {
	if dropped := panguard.DropTraceHeaders(r.Header); dropped != nil {
		logger.Warn("a trace context header held a card-like number and was dropped; the request goes on without it",
			zap.Strings("headers", dropped), requestLog(r))
	}
}
