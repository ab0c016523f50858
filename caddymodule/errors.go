package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/panguard"
)

// errorBody is the error shape of Juspay's card APIs (seeds/001): a top-level
// message and code, and error_info with the offending fields. Clients already
// written against Juspay read it unchanged.
type errorBody struct {
	ErrorMessage string    `json:"error_message"`
	Status       string    `json:"status"`
	ErrorCode    string    `json:"error_code"`
	ErrorInfo    errorInfo `json:"error_info"`
}

type errorInfo struct {
	Category         string       `json:"category"`
	Code             string       `json:"code"`
	DeveloperMessage string       `json:"developer_message"`
	Fields           []errorField `json:"fields"`
	Href             string       `json:"href"`
	RequestID        string       `json:"request_id"`
	UserMessage      string       `json:"user_message"`
}

type errorField struct {
	FieldName string `json:"field_name"`
	Reason    string `json:"reason"`
}

// gatewayError is an error answered by the gateway itself. Its texts are
// written by us and never include request values: Error is the message the
// client is told ({http.error.message} in a handle_errors route). cause,
// when set, is what failed inside the gateway; it is logged, never answered.
type gatewayError struct {
	status   int
	code     string // error_code
	category string // USER_ERROR, AUTHENTICATION_ERROR, SERVER_ERROR
	infoCode string // INVALID_INPUT, UNAUTHORIZED, ...
	message  string
	field    *body.FieldError
	cause    error
	// closeConn ends the connection after the answer. It is set when the
	// body was not read to its end: on a kept-alive connection the unread
	// rest would be parsed as the next request, which lets a client smuggle
	// a request past the gateway inside an oversized body.
	closeConn bool
	// own, for a served API's failure, is the answer the API wrote, which
	// is its default rendering (its vendor's shape), not errorBody.
	own *apiAnswer
}

func (e gatewayError) Error() string { return e.message }

func (e gatewayError) Unwrap() error { return e.cause }

// because returns e with the cause of the failure, for errors.Is and the
// log; the answer does not change.
func (e gatewayError) because(cause error) gatewayError {
	e.cause = cause
	return e
}

func fieldFailure(fe *body.FieldError) gatewayError {
	// The path is built from names the caller chose; one that is a card
	// number must not come back in the answer or the log.
	fe.Field = body.SafePath(fe.Field)
	category, infoCode := "USER_ERROR", "INVALID_INPUT"
	switch fe.Status {
	case http.StatusForbidden:
		infoCode = "FORBIDDEN"
	case http.StatusUnprocessableEntity:
		infoCode = "UNPROCESSABLE"
	}
	return gatewayError{status: fe.Status, code: fe.Code, category: category, infoCode: infoCode, message: fe.Error(), field: fe, cause: fe}
}

// answer answers the error to r and returns the request id it carries, so
// that the log line can carry it too.
//
// Caddy answers an error a handler returns with the server's handle_errors
// routes, or, when it has none, with the bare status and an empty body. So:
// where the server has handle_errors routes, nothing is written here; the
// error is kept for the handler to return (see routed) as a caddyhttp.Error,
// which those routes can restyle ({http.error.status_code},
// {http.error.message}, ...) and Caddy logs. Without such routes the
// gateway's JSON body below is the answer, written here, and the handler
// returns nil: a client sees what it always saw.
func (e gatewayError) answer(w http.ResponseWriter, r *http.Request) string {
	id := requestID(r)
	if e.closeConn {
		w.Header().Set("Connection", "close")
	}
	// A request with a card number in its URI or headers is answered here:
	// see routed.
	if hasErrorRoutes(r) && !cardOutsideBody(r) {
		if caddyhttp.GetVar(r.Context(), failureVar) == nil { // the first failure is the answer
			caddyhttp.SetVar(r.Context(), failureVar, caddyhttp.Error(e.status, e))
		}
		return id
	}
	e.write(w, id)
	return id
}

// write writes the gateway's own error body: the default rendering.
func (e gatewayError) write(w http.ResponseWriter, id string) {
	if e.own != nil {
		if e.own.contentType != "" {
			w.Header().Set("Content-Type", e.own.contentType)
		}
		w.WriteHeader(e.status)
		_, _ = w.Write(e.own.body.Bytes())
		return
	}
	b := errorBody{
		ErrorMessage: e.message,
		Status:       "error",
		ErrorCode:    e.code,
		ErrorInfo: errorInfo{
			Category:         e.category,
			Code:             e.infoCode,
			DeveloperMessage: e.message,
			Fields:           []errorField{},
			Href:             "NA",
			RequestID:        id,
			UserMessage:      e.message,
		},
	}
	if e.field != nil {
		b.ErrorInfo.Fields = append(b.ErrorInfo.Fields, errorField{FieldName: e.field.Field, Reason: e.field.Reason})
		b.ErrorInfo.UserMessage = e.field.Reason
	}
	out, _ := json.Marshal(b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	_, _ = w.Write(out)
}

// failureVar is the request variable that keeps the failure answer was
// asked for, for routed.
const failureVar = "tokengate.failure"

// apiCauseVar keeps what failed inside a served API, for the error its
// wrapper returns. It is not failureVar: a tokengate handler earlier in the
// route (tokenize before a served API) must not return an API's raw cause
// as its own answer.
const apiCauseVar = "tokengate.api_cause"

// routed is what a tokengate handler returns: err, or else the failure kept
// by answer for the server's handle_errors routes. Every handler returns
// through it, so a failure answered deep in a helper is never lost.
//
// A request a PAN guard found a card number in the URI or headers of is
// the exception: Caddy logs every error a handler returns with the request
// as it arrived (http.log.error: URI and headers, at debug level, or error
// when the error routes fail too), which is why it is kept out of the
// access log (hideFromAccessLog). Its failures, tokengate's own (see
// answer) and those of the handlers after it (a reverse_proxy whose
// upstream is down), are answered here with their status, logged by
// tokengate with the URI masked, and never returned to Caddy; its
// handle_errors routes do not see them.
func routed(w http.ResponseWriter, r *http.Request, logger *zap.Logger, err error) error {
	if err == nil {
		err, _ = caddyhttp.GetVar(r.Context(), failureVar).(error)
	}
	if err == nil || !cardOutsideBody(r) {
		return err
	}
	status := http.StatusInternalServerError
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode != 0 {
		status = he.StatusCode
	}
	logger.Error("a request with a card number in its URI or headers failed after the gateway passed it; answered without handle_errors, and kept out of Caddy's error log",
		zap.Int("status", status), zap.String("error", panguard.MaskDigits(err.Error())), zap.String("uri", maskedURI(r)), requestLog(r))
	w.WriteHeader(status)
	return nil
}

// cardOutsideBody reports whether r's URI or headers hold a card number:
// a PAN guard found one (see hideFromAccessLog), or one is there now, for a
// failure answered before the guard looked (a bad API key, a body that
// does not parse) or on a route whose guard is off. Only failures ask, so
// reading the request again costs nothing on the way a card is tokenized.
func cardOutsideBody(r *http.Request) bool {
	if found, _ := caddyhttp.GetVar(r.Context(), cardOutsideBodyVar).(bool); found {
		return true
	}
	if _, found := outsideBody(r, nil); found {
		return true
	}
	// Caddy logs the URI as it arrived, before a rewrite or tokenize's
	// rewrite of the query.
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		if _, found := outsideBody(&orig, nil); found {
			return true
		}
	}
	return false
}

// cardOutsideBodyVar is the request variable hideFromAccessLog sets.
const cardOutsideBodyVar = "tokengate.card_outside_body"

// hasErrorRoutes reports whether r's server has handle_errors routes.
func hasErrorRoutes(r *http.Request) bool {
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return srv != nil && srv.Errors != nil && len(srv.Errors.Routes) > 0
}

// requestID is Caddy's id of the request, {http.request.uuid}. Asking for
// it puts it in the request's access log line (as "uuid"), so an error
// answer, tokengate's log lines and the access log join on it. Outside a
// Caddy server (a handler called directly) it is a fresh one.
func requestID(r *http.Request) string { return requestIDOf(r.Context()) }

// requestIDOf is requestID for a request's context.
func requestIDOf(ctx context.Context) string {
	// The placeholder needs the request's extra log fields, which only a
	// Caddy server's request has.
	if ctx.Value(caddyhttp.ExtraLogFieldsCtxKey) != nil {
		if repl, ok := ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			if id, ok := repl.GetString("http.request.uuid"); ok && id != "" {
				return id
			}
		}
	}
	return uuid.NewString()
}

var (
	// errUnavailable is the answer to an errdefs.ErrUnavailable (and to any
	// failure the gateway did not expect: it fails closed).
	errUnavailable = gatewayError{status: http.StatusServiceUnavailable, code: "vault_unavailable", category: "SERVER_ERROR", infoCode: "SERVICE_UNAVAILABLE",
		message: "The card could not be stored safely; nothing was forwarded. Retry later."}
	// errNotReady answers while the app has not opened its storage yet
	// (see start.go): nothing was stored or forwarded. The body is unread,
	// so the connection closes.
	errNotReady = gatewayError{status: http.StatusServiceUnavailable, code: "gateway_not_ready", category: "SERVER_ERROR", infoCode: "SERVICE_UNAVAILABLE",
		message: "The gateway is not ready: its vault or CVV store is not open yet; nothing was forwarded. Retry later.", closeConn: true}
	errUnauthorized = gatewayError{status: http.StatusUnauthorized, code: "unauthorized", category: "AUTHENTICATION_ERROR", infoCode: "UNAUTHORIZED",
		message: "A valid API key is required to detokenize."}
)

func tooLarge(limit int64) gatewayError {
	return gatewayError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", category: "USER_ERROR", infoCode: "INVALID_INPUT",
		message: "The request body is larger than the gateway accepts (" + humanize.IBytes(uint64(limit)) + ").", closeConn: true}
}

func badBody(status int, code, message string) gatewayError {
	return gatewayError{status: status, code: code, category: "USER_ERROR", infoCode: "INVALID_INPUT", message: message}
}
