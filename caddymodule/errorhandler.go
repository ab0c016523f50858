package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(ErrorBody{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_error", parseErrorBody)
	// Before respond, so that in `handle_errors { tokengate_error; respond
	// ... }` respond answers the errors that are not tokengate's.
	httpcaddyfile.RegisterDirectiveOrder("tokengate_error", httpcaddyfile.Before, "respond")
}

// ErrorBody, in a handle_errors route, answers an error a tokengate
// handler returned with the body tokengate writes when the server has no
// handle_errors routes (its JSON error, with the request id; a served API's
// own 503), and passes any other error to the next handler. A server whose
// handle_errors routes restyle some errors (a 404 page, say) can so keep
// tokengate's answers, which clients parse, as they are.
type ErrorBody struct{}

// CaddyModule returns the Caddy module information.
func (ErrorBody) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_error", New: func() caddy.Module { return new(ErrorBody) }}
}

// ServeHTTP writes the default body of a tokengate error, else calls next.
func (ErrorBody) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	err, _ := r.Context().Value(caddyhttp.ErrorCtxKey).(error)
	var ge gatewayError
	if !errors.As(err, &ge) {
		return next.ServeHTTP(w, r)
	}
	if ge.closeConn {
		w.Header().Set("Connection", "close")
	}
	ge.write(w, requestID(r))
	return nil
}

// UnmarshalCaddyfile sets up the handler: `tokengate_error`, no options.
func (ErrorBody) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("tokengate_error takes no arguments or options")
	}
	return nil
}

func parseErrorBody(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	eb := ErrorBody{}
	return eb, eb.UnmarshalCaddyfile(h.Dispenser)
}

// Interface guards.
var (
	_ caddyhttp.MiddlewareHandler = ErrorBody{}
	_ caddyfile.Unmarshaler       = ErrorBody{}
)
