package panguard

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/tokengate/tokengate/body"
)

// Places a card number can be found in, as errors and logs name them. A
// place never holds the number itself: names that hold one are masked.
const (
	// PlacePath is the request path, decoded, or one of its segments.
	PlacePath = "path"
	// PlaceQuery is the query string as a whole, when no single field
	// holds the number ("query:<name>" names a field).
	PlaceQuery = "query"
	// PlaceBody is a body read as text, not as JSON or a form.
	PlaceBody = "body"
	// PlaceMethod is the request method.
	PlaceMethod = "method"
	// PlaceUserinfo is the userinfo of an absolute-form request target.
	PlaceUserinfo = "userinfo"
)

// Outside returns where the request holds a card number outside its body and
// query string: "path" (decoded, each segment too), "method", "userinfo"
// (of an absolute-form target), "header:<Name>" (any
// header's value, or its name; the Host too), "cookie:<name>" (a cookie's
// name or value, percent-decoded as frameworks do). skip names headers not
// to read (canonical names; nil reads all), e.g. the API key header that
// never leaves the gateway. found is false when there is none.
func Outside(r *http.Request, skip func(name string) bool) (place string, found bool) {
	if p, ok := Path(r); ok {
		return p, true
	}
	// The request line's other parts a log prints as they arrived: the
	// method (any token is one) and the userinfo of an absolute-form
	// target ("POST http://4111…@host/"), which Caddy's access log and
	// reverse_proxy's debug log write in "uri".
	if HasNumber(r.Method) {
		return PlaceMethod, true
	}
	if r.URL != nil && r.URL.User != nil && HasNumber(r.URL.User.String()) {
		return PlaceUserinfo, true
	}
	if HasNumber(r.Host) {
		return "header:Host", true
	}
	return Headers(r.Header, "header:", skip)
}

// Path reports whether the request path holds a card number: the path as
// decoded, as sent (escaped, then decoded leniently again for double
// encoding), and each of its segments on its own (split at '/' and ';', the
// matrix parameters Tomcat strips), so that digits of neighbouring segments
// cannot hide one.
func Path(r *http.Request) (string, bool) {
	if r.URL == nil {
		return "", false
	}
	for _, p := range []string{r.URL.Path, r.URL.EscapedPath(), r.URL.RawPath} {
		if p == "" {
			continue
		}
		if HasNumber(p) {
			return PlacePath, true
		}
		for seg := range strings.FieldsFuncSeq(p, func(c rune) bool { return c == '/' || c == ';' || c == '=' || c == ',' }) {
			if HasNumber(seg) {
				return PlacePath, true
			}
		}
	}
	return "", false
}

// Headers returns where h holds a card number, named prefix+<Name>; Cookie
// headers are read cookie by cookie (named "cookie:<name>"). skip may be nil.
func Headers(h http.Header, prefix string, skip func(name string) bool) (string, bool) {
	for name, values := range h {
		if skip != nil && skip(textproto.CanonicalMIMEHeaderKey(name)) {
			continue
		}
		if HasNumber(name) {
			return prefix + MaskDigits(name), true
		}
		for _, v := range values {
			if strings.EqualFold(name, "Cookie") {
				if p, ok := Cookies(v); ok {
					return p, true
				}
			}
			if HasNumber(v) || HasNumber(basicCredentials(name, v)) {
				return prefix + name, true
			}
		}
	}
	return "", false
}

// Cookies reads one Cookie header value leniently: every "name=value" pair
// split at ';' (and ',' as old servers do), quotes removed, name and value
// percent-decoded. Go's own parser drops cookies it finds invalid that
// other frameworks keep, so it is not used.
func Cookies(v string) (string, bool) {
	for pair := range strings.FieldsFuncSeq(v, func(c rune) bool { return c == ';' || c == ',' }) {
		name, value, _ := strings.Cut(strings.TrimSpace(pair), "=")
		value = strings.Trim(strings.TrimSpace(value), `"`)
		if HasNumber(name) {
			return "cookie:" + MaskDigits(name), true
		}
		if HasNumber(value) {
			return "cookie:" + strings.TrimSpace(name), true
		}
	}
	return "", false
}

// Query returns where a query string holds a card number: "query:<name>"
// for a field's name or value (split at '&' and ';', decoded leniently), or
// "query" for the string as a whole.
func Query(raw string) (string, bool) {
	if !body.HasDigits(raw, minDigits) && !hasFloat(raw) {
		return "", false
	}
	for pair := range strings.FieldsFuncSeq(raw, func(c rune) bool { return c == '&' || c == ';' }) {
		name, value, _ := strings.Cut(pair, "=")
		dn, _ := unescapePercent(name)
		if HasNumber(name) || HasNumber(dn) {
			return "query:" + MaskDigits(dn), true
		}
		if HasNumber(value) {
			return "query:" + dn, true
		}
	}
	if HasNumber(raw) {
		return PlaceQuery, true
	}
	return "", false
}

// Trailers returns where the request's trailers (read once the body has
// been read to its end) hold a card number, as "trailer:<Name>".
func Trailers(r *http.Request) (string, bool) {
	return Headers(r.Trailer, "trailer:", nil)
}

// Body returns where a body that no rule set addresses holds a card number.
// It is read the way a merchant's framework could read it: as JSON when it
// is a JSON object or array (whatever its Content-Type), as a form when it
// is labelled or shaped as one, multipart by its Content-Type; each text
// (string, number, member or field name, file part) is read with HasNumber
// and named by its path. A body that is none of these, or does not parse
// (a duplicate JSON key, a malformed form), is read as one text, "body".
func Body(contentType string, raw []byte) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	kind := body.KindOf(contentType)
	switch {
	case kind == body.Multipart:
	case body.LooksLikeJSON(raw):
		kind = body.JSON
	case kind == body.Form || bytes.IndexByte(raw, '=') >= 0 && body.IsForm(raw):
		kind = body.Form
	}
	if kind != body.Other {
		if doc, err := body.Parse(kind, contentType, raw); err == nil {
			place, found := "", false
			doc.Texts(func(t body.Text) {
				if !found && HasNumber(t.Text) {
					place, found = SafeName(t.Path), true
				}
			})
			if found {
				return place, true
			}
		}
	}
	// The whole body as text too: a form parse reads "a=1&n=4111..." but a
	// text that only looks like a form (no '=' at all) has one field, and
	// JSON texts skip what lies between them.
	if HasNumber(string(raw)) {
		return PlaceBody, true
	}
	return "", false
}

// basicCredentials is the decoded "user:password" of a Basic Authorization
// or Proxy-Authorization value, "" for any other header: every framework
// decodes it for the merchant (Go's Request.BasicAuth, Express, Spring).
func basicCredentials(name, v string) string {
	if !strings.EqualFold(name, "Authorization") && !strings.EqualFold(name, "Proxy-Authorization") {
		return ""
	}
	scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return ""
	}
	cred = strings.TrimSpace(cred)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(cred); err == nil {
			return string(b)
		}
	}
	return ""
}

// traceHeaders are the W3C trace context headers. Their ids are random hex
// (or a caller's), and 128 random bits hold a Luhn-valid run of 13-19
// digits often enough that refusing such a request would refuse about one
// traced request in a few thousand: Caddy's own tracing writes them.
var traceHeaders = []string{"Traceparent", "Tracestate"}

// DropTraceHeaders removes from h each trace context header that holds a
// card number, and returns the names removed. The request goes on without
// them (its trace restarts upstream), and no card number is forwarded: the
// guard still reads every other header.
func DropTraceHeaders(h http.Header) (dropped []string) {
	for _, name := range traceHeaders {
		for _, v := range h.Values(name) {
			if HasNumber(v) {
				h.Del(name)
				dropped = append(dropped, name)
				break
			}
		}
	}
	return dropped
}
