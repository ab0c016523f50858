package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/body"
)

func init() {
	caddy.RegisterModule(Health{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_health", parseHealth)
	// Its order is registered with tokenize's (caddyfile.go): before it.
}

// The two checks, as Kubernetes distinguishes them
// (https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/):
//
//   - ready: may this gateway be sent traffic? 200 while tokenize and
//     detokenize serve (the vault, the CVV store and the network token
//     services that keep state in the vault are open, and PostgreSQL and
//     Redis answer a ping now); 503 otherwise. A load balancer or Kubernetes
//     takes the gateway out of rotation while it is 503, and back when 200.
//   - live: should this process be restarted? Kubernetes restarts a
//     container whose liveness probe fails, so it must fail only where a
//     restart helps, and none of the app's states is such a case: a service
//     that does not answer is retried (start.go) and recovers by itself,
//     and with it down every replica would fail at once and restart in a
//     loop, hammering the database as it comes back; a refused config
//     (wrong keyset, wrong password) fails the same way after a restart,
//     and the restart loop would bury the log line that says why. So live
//     answers 200 whenever the process answers HTTP at all; a hung process
//     fails it by not answering within the probe's timeout.
const (
	checkReady = "ready"
	checkLive  = "live"
)

// Health answers health probes with the gateway's readiness, in JSON. It
// answers every request itself (GET and HEAD; other methods 405), reads no
// body, needs no API key, and never says more than the fixed states and
// reasons of readiness.go: no host, port, DSN, user, path or error text.
type Health struct {
	// Check is "ready" (the default) or "live".
	Check string `json:"check,omitempty"`
	// Quiet leaves the components out of the answer: the summary and the
	// names of what is not ready only, for a probe reachable from outside.
	Quiet bool `json:"quiet,omitempty"`

	// Pointers: Caddy copies a Health value to read its module info.
	bind       *appBinding
	logUnbound *sync.Once
	logger     *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Health) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_health", New: func() caddy.Module { return new(Health) }}
}

// Provision sets up the binding to the app, made on the first probe.
func (h *Health) Provision(ctx caddy.Context) error {
	if h.Check == "" {
		h.Check = checkReady
	}
	h.bind, h.logUnbound = &appBinding{ctx: ctx, what: "tokengate_health"}, new(sync.Once)
	h.logger = ctx.Logger()
	return nil
}

// Validate checks the check's name.
func (h *Health) Validate() error {
	if h.Check != checkReady && h.Check != checkLive {
		return fmt.Errorf("tokengate_health: check %q: want ready or live", h.Check)
	}
	return nil
}

// healthAnswer is the JSON body of a health answer (README "Health and
// readiness" documents it field by field).
type healthAnswer struct {
	// Status is "ready" or "not_ready" (check ready), "alive" (check live).
	Status string `json:"status"`
	Check  string `json:"check"`
	// Ready is readiness's: with check ready, the services were asked.
	Ready bool  `json:"ready"`
	State State `json:"state"`
	// Since is when State last changed.
	Since time.Time `json:"since,omitzero"`
	// NotReady names the required components that are not ready, and
	// Degraded the others that work with less (a provider whose breaker is
	// open: cards are stored vault-only; a change feed not listening).
	NotReady   []string    `json:"not_ready"`
	Degraded   []string    `json:"degraded"`
	Components []Component `json:"components,omitempty"`
}

// ServeHTTP answers a probe; it never calls next.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	// It answers before tokenize (its directive order), in a site that may
	// take card data, so tokenize's guard never sees a probe: a card number
	// in the URI or headers is kept out of the access log here and refused,
	// as every other request of such a site is.
	dropTraceHeaders(h.logger, r)
	if place, found := outsideBody(r, nil); found {
		hideFromAccessLog(h.logger, r, place)
		fieldFailure(&body.FieldError{Status: http.StatusBadRequest, Field: place, Code: "pan_detected",
			Reason: "a card number is in a health probe; the health check takes none"}).answer(w, r)
		return nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		gatewayError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", category: "USER_ERROR", infoCode: "INVALID_INPUT",
			message: "The health check answers GET and HEAD."}.write(w, requestID(r))
		return nil
	}
	ans := h.answer(r)
	status := http.StatusOK
	if h.Check == checkReady && !ans.Ready {
		status = http.StatusServiceUnavailable
	}
	raw, err := json.Marshal(ans)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	raw = append(raw, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store") // a probe must never get a cached answer
	hdr.Set("Content-Length", strconv.Itoa(len(raw)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(raw)
	}
	return nil
}

// answer works out the answer: readiness through the ping cache for
// check ready, without I/O for check live.
func (h *Health) answer(r *http.Request) healthAnswer {
	ans := healthAnswer{Check: h.Check, NotReady: []string{}, Degraded: []string{}}
	if err := h.bind.bindOnUse(func(*App) error { return nil }); err != nil {
		// Only a JSON config can get here (the Caddyfile refuses the
		// directive without the tokengate option): no app, nothing serves.
		h.logUnbound.Do(func() {
			h.bind.ctx.Logger().Error("tokengate_health: not bound to the tokengate app; readiness answers 503", zap.Error(err))
		})
		ans.State, ans.NotReady = StateRefused, []string{"tokengate"}
		ans.Status = h.status(false)
		return ans
	}
	var rd Readiness
	if h.Check == checkReady {
		rd = h.bind.app.checkCached(r.Context())
	} else {
		rd = h.bind.app.Readiness()
	}
	ans.Ready, ans.State, ans.Since, ans.Status = rd.Ready, rd.State, rd.Since, h.status(rd.Ready)
	for _, c := range rd.Components {
		switch {
		case c.Required && c.State != StateReady:
			ans.NotReady = append(ans.NotReady, c.Name)
		case !c.Required && (c.State == StateDegraded || c.Breaker == "open" || c.Breaker == "half-open"):
			ans.Degraded = append(ans.Degraded, c.Name)
		}
	}
	if !h.Quiet {
		ans.Components = rd.Components
	}
	return ans
}

func (h *Health) status(ready bool) string {
	switch {
	case h.Check == checkLive:
		return "alive"
	case ready:
		return "ready"
	}
	return "not_ready"
}

// UnmarshalCaddyfile sets up the handler from the Caddyfile:
//
//	tokengate_health [ready|live] {
//		quiet
//	}
func (h *Health) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive
	if d.NextArg() {
		h.Check = d.Val()
		if h.Check != checkReady && h.Check != checkLive {
			return d.Errf("tokengate_health %q: want ready or live", h.Check)
		}
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "quiet":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Quiet = true
		default:
			return d.Errf("unrecognized tokengate_health option %q", d.Val())
		}
	}
	return nil
}

func parseHealth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	hh := new(Health)
	if err := hh.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return hh, needApp(h, "tokengate_health")
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Health)(nil)
	_ caddy.Validator             = (*Health)(nil)
	_ caddyhttp.MiddlewareHandler = (*Health)(nil)
	_ caddyfile.Unmarshaler       = (*Health)(nil)
)
