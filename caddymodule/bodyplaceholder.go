package caddymodule

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/body"
)

// replaceBody puts b in as r's body (body.Replace) and points Caddy's
// {http.request.body} and {http.request.body_base64} placeholders at it.
//
// Why: Caddy's replacer reads the body of the request the server started
// with. A handler that wraps the request hands the next ones a copy:
// Caddy's tracing directive does (otelhttp v0.71.0 handler.go sets its body
// wrapper on the original request, then calls r.WithContext), so a
// tokenized body set on the copy was never seen by the placeholder, which
// read the original's body, already drained by tokenize, and the quick
// start's echoing merchant (respond "{http.request.body}") answered an
// empty body. The replacer's values set with Set come before its HTTP
// values (caddy v2.11.9 replacer.go: the static provider is ahead of those
// Map adds), so these read the body the handlers after this one get, as
// they do without tracing.
func replaceBody(r *http.Request, b []byte) {
	body.Replace(r, b)
	setBodyPlaceholders(r)
}

// replaceBodyStream is replaceBody for a body read from open (body.Stream).
func replaceBodyStream(r *http.Request, open func() io.ReadCloser, size int64) {
	body.ReplaceStream(r, open, size)
	setBodyPlaceholders(r)
}

// setBodyPlaceholders points the body placeholders at r's body.
func setBodyPlaceholders(r *http.Request) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		// One allocation for both: a value in an interface is one each.
		ph := &[2]bodyPlaceholder{{r: r}, {r: r, base64: true}}
		repl.Set("http.request.body", &ph[0])
		repl.Set("http.request.body_base64", &ph[1])
	}
}

// bodyPlaceholder reads r's body when the placeholder is asked for, and
// puts it back, as Caddy's own placeholder does (modules/caddyhttp
// replacer.go, readRequestBodyForPlaceholder), so a proxy after it still
// sends it.
type bodyPlaceholder struct {
	r      *http.Request
	base64 bool
}

func (p bodyPlaceholder) String() string {
	if p.r.Body == nil {
		return ""
	}
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, p.r.Body)
	p.r.Body.Close()
	p.r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	if p.base64 {
		return base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	return buf.String()
}
