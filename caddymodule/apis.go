package caddymodule

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/audit"
)

// servedAPI is what the served token API handlers (basistheory_api,
// juspay_api) and the webhooks share: they bind to the tokengate app on
// their first request (see appBinding), and serve a plain http.Handler
// under the app's body read timeout, in a span, counted per endpoint.
type servedAPI struct {
	appBinding
	name  string // "basistheory", "juspay": the span's and the metric's api
	built sync.Once
	api   http.Handler
}

func newServedAPI(ctx caddy.Context, name string) *servedAPI {
	return &servedAPI{appBinding: appBinding{ctx: ctx, what: name + " API"}, name: name}
}

// observe counts an answered call.
func (s *servedAPI) observe(endpoint string, status int) {
	apiRequests.WithLabelValues(s.name, endpoint, strconv.Itoa(status)).Inc()
}

// serve builds the API once the app is ready, with build, then answers
// the request.
func (s *servedAPI) serve(w http.ResponseWriter, r *http.Request, build func(*App) http.Handler) error {
	if err := s.bindOnUse(func(*App) error { return nil }); err != nil {
		return s.refuse(w, r, err)
	}
	if ok, err := s.app.serving(w, r, s.name+" API"); !ok {
		return err
	}
	s.built.Do(func() { s.api = build(s.app) })
	// A body trickled a byte at a time must not hold a connection forever:
	// the app's body_read_timeout bounds it, as for tokenize.
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(time.Duration(s.app.BodyReadTimeout))); err == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	ctx, span := startSpan(r.Context(), "tokengate.api."+s.name, attribute.String("http.request.method", r.Method))
	if s.app.stack.Load().Audit != audit.Discard {
		ctx = audit.WithOrigin(ctx, origin(ctx, "")) // the API adds its caller's key id
	}
	sw := &statusWriter{ResponseWriter: w, intercept: hasErrorRoutes(r)}
	s.api.ServeHTTP(sw, r.WithContext(ctx))
	endSpanStatus(span, strconv.Itoa(sw.status), sw.status >= 500)
	if sw.intercepted {
		cause, _ := caddyhttp.GetVar(r.Context(), apiCauseVar).(error)
		return caddyhttp.Error(sw.status, gatewayError{status: sw.status, code: "service_unavailable", category: "SERVER_ERROR", infoCode: "SERVICE_UNAVAILABLE",
			message: "The token service or the vault is unavailable; retry later.", cause: cause, own: &sw.held})
	}
	return nil
}

// failed logs the cause of a 503 the API answered (btapi and juspayapi
// call it at each), once, with the request id; the answer says nothing of
// it. The cause is kept for a handle_errors route too.
func (s *servedAPI) failed(ctx context.Context, cause error) {
	s.ctx.Logger().Error(s.name+" API call failed; answered 503", zap.Error(cause), requestLogOf(ctx))
	caddyhttp.SetVar(ctx, apiCauseVar, cause)
}

// statusWriter remembers the status written. With intercept set (the
// server has handle_errors routes) a 5xx answer is not written but left to
// those routes, as a tokengate handler's failure is (see
// gatewayError.answer), and held, for tokengate_error to write as the API
// wrote it; the API's 4xx answers are its vendor's error shapes, which
// clients parse, and go out as they are.
type statusWriter struct {
	http.ResponseWriter
	status      int
	intercept   bool
	intercepted bool
	held        apiAnswer
}

// apiAnswer is a served API's own error answer, held back for the
// server's handle_errors routes.
type apiAnswer struct {
	contentType string
	body        bytes.Buffer
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		if s.intercept && code >= 500 {
			s.intercepted = true
			s.held.contentType = s.Header().Get("Content-Type")
			s.Header().Del("Content-Type")
		}
	}
	if s.intercepted {
		return
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.intercepted {
		return s.held.body.Write(p)
	}
	return s.ResponseWriter.Write(p)
}
