package caddymodule

import (
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.opentelemetry.io/otel/attribute"
)

// servedAPI is what the served token API handlers (basistheory_api,
// juspay_api) and the webhooks share: they bind to the tokengate app on
// their first request (see appBinding), and serve a plain http.Handler
// under the app's body read timeout, in a span, counted per endpoint.
type servedAPI struct {
	appBinding
	name string // "basistheory", "juspay": the span's and the metric's api
	api  http.Handler
}

func newServedAPI(ctx caddy.Context, name string) *servedAPI {
	return &servedAPI{appBinding: appBinding{ctx: ctx, what: name + " API"}, name: name}
}

// observe counts an answered call.
func (s *servedAPI) observe(endpoint string, status int) {
	apiRequests.WithLabelValues(s.name, endpoint, strconv.Itoa(status)).Inc()
}

// serve builds the API once, with build, then answers the request.
func (s *servedAPI) serve(w http.ResponseWriter, r *http.Request, build func(*App) http.Handler) error {
	if err := s.bindOnUse(func(a *App) error { s.api = build(a); return nil }); err != nil {
		return err
	}
	// A body trickled a byte at a time must not hold a connection forever:
	// the app's body_read_timeout bounds it, as for tokenize.
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(time.Duration(s.app.BodyReadTimeout))); err == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	ctx, span := startSpan(r.Context(), "tokengate.api."+s.name, attribute.String("http.request.method", r.Method))
	sw := &statusWriter{ResponseWriter: w}
	s.api.ServeHTTP(sw, r.WithContext(ctx))
	endSpanStatus(span, strconv.Itoa(sw.status), sw.status >= 500)
	return nil
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}
