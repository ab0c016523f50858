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
		// The request pointer itself, under a type of ours, in each
		// interface: a pointer fits an interface without an allocation,
		// where a struct holding it took one on every request.
		repl.Set("http.request.body", (*bodyText)(r))
		repl.Set("http.request.body_base64", (*bodyBase64)(r))
	}
}

// bodyText and bodyBase64 read r's body when the placeholder is asked for,
// and put it back, as Caddy's own placeholder does (modules/caddyhttp
// replacer.go, readRequestBodyForPlaceholder), so a proxy after it still
// sends it.
type (
	bodyText   http.Request
	bodyBase64 http.Request
)

func (p *bodyText) String() string { return string(readBodyForPlaceholder((*http.Request)(p))) }

func (p *bodyBase64) String() string {
	return base64.StdEncoding.EncodeToString(readBodyForPlaceholder((*http.Request)(p)))
}

// readBodyForPlaceholder reads r's body and puts it back.
func readBodyForPlaceholder(r *http.Request) []byte {
	if r.Body == nil {
		return nil
	}
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	return buf.Bytes()
}
