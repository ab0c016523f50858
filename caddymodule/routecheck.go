package caddymodule

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/intercept"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// checkRoutes walks every HTTP route once all are provisioned, binds each
// tokenize and detokenize handler it finds to this app, and checks that
// every reverse_proxy a detokenized request may reach can deliver it: it
// uses the tokengate transport (without it the processor would get tokens)
// and its fixed upstreams are destinations of every rule set that may reach
// it, over TLS unless loopback or allowed.
//
// Card data cannot leave any other way whatever this finds: only the
// tokengate transport builds the detokenized body, and it checks the
// upstream of each request again (dynamic upstreams and placeholders
// included). This check turns the mistakes it can see into config errors,
// reported by `caddy validate` as by `caddy run`. It runs in Provision: the
// handlers no longer look the app up while they are provisioned, so this app
// is never provisioned from inside the http app, and asking for the http app
// here gets it whole.
func (a *App) checkRoutes() error {
	httpApp, err := a.ctx.AppIfConfigured("http")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tokengate: %w", err)
	}
	for name, srv := range httpApp.(*caddyhttp.App).Servers {
		// Whether the server takes card data is known before the walk: a
		// subroute's errors routes, met before a tokenize later in the
		// server, handle that tokenize's errors too (its routes go on to
		// the server's next routes, whose errors come back through it).
		w := &routeWalk{app: a, named: srv.NamedRoutes, invoked: map[string]bool{}, cardsIn: takesCards(srv)}
		active := w.routes(srv.Routes, nil)
		if srv.Errors != nil {
			w.errorRoutes(srv.Errors.Routes, active)
		}
		if len(w.problems) > 0 {
			return fmt.Errorf("tokengate: server %s: %s", name, strings.Join(w.problems, "; "))
		}
	}
	return nil
}

// routeWalk visits routes in order, carrying the detokenize handlers a
// request may have passed. It over-approximates (a detokenize anywhere
// before counts), which can only refuse more, never less.
type routeWalk struct {
	app      *App
	named    map[string]*caddyhttp.Route
	invoked  map[string]bool // named routes being walked, against loops
	problems []string
	// cardsIn is set once a handler that reads card data from the client
	// (tokenize, the served token APIs) has been passed; inErrors while
	// walking handle_errors routes.
	cardsIn, inErrors bool
}

// errorRoutes walks handle_errors routes. A handler that refuses a request
// returns its error to them, and that request still holds what the
// handler refused to pass: a card number in a header or the query, a body
// not tokenized (unread past a size limit, say). So in a server that takes
// card data, they must not proxy anywhere (see handlers).
func (w *routeWalk) errorRoutes(routes caddyhttp.RouteList, active []*Detokenize) {
	was := w.inErrors
	w.inErrors = true
	w.routes(routes, active)
	w.inErrors = was
}

func (w *routeWalk) routes(routes caddyhttp.RouteList, active []*Detokenize) []*Detokenize {
	for _, route := range routes {
		active = w.handlers(route.Handlers, active)
	}
	return active
}

func (w *routeWalk) handlers(handlers []caddyhttp.MiddlewareHandler, active []*Detokenize) []*Detokenize {
	for _, h := range handlers {
		switch h := h.(type) {
		case *Tokenize:
			w.bind(h.bind(w.app))
			w.cardsIn = true
		case *BasisTheoryAPI, *JuspayAPI:
			w.cardsIn = true
		case *Detokenize:
			w.bind(h.bind(w.app))
			active = append(active, h)
		case *reverseproxy.Handler:
			if w.inErrors && w.cardsIn {
				w.problems = append(w.problems, "handle_errors proxies (reverse_proxy, php_fastcgi, forward_auth; or intercept's handle_response does) in a server that takes card data: "+
					"a request tokengate refused still holds the card data it refused to pass, and would reach the upstream; answer errors with respond, file_server or tokengate_error instead")
			}
			if len(active) > 0 {
				w.problems = append(w.problems, upstreamProblems(h, active)...)
			}
			for _, rh := range h.HandleResponse {
				w.routes(rh.Routes, active)
			}
		case *intercept.Intercept:
			// Its handle_response routes answer the answer of the handlers
			// after it, a tokengate refusal too, with the request those
			// handlers got: as error routes, they must not proxy it.
			for _, rh := range h.HandleResponse {
				w.errorRoutes(rh.Routes, active)
			}
		case *caddyhttp.Subroute:
			active = w.routes(h.Routes, active)
			if h.Errors != nil {
				w.errorRoutes(h.Errors.Routes, active)
			}
		case *caddyhttp.Invoke:
			if route, ok := w.named[h.Name]; ok && !w.invoked[h.Name] {
				w.invoked[h.Name] = true
				active = w.handlers(route.Handlers, active)
				delete(w.invoked, h.Name)
			}
		}
	}
	return active
}

// takesCards reports whether any of srv's routes (its named and error
// routes too, whether or not anything invokes them: it may only refuse
// more) has a handler that reads card data from the client.
func takesCards(srv *caddyhttp.Server) bool {
	lists := []caddyhttp.RouteList{srv.Routes}
	if srv.Errors != nil {
		lists = append(lists, srv.Errors.Routes)
	}
	for _, route := range srv.NamedRoutes {
		lists = append(lists, caddyhttp.RouteList{*route})
	}
	for len(lists) > 0 {
		routes := lists[len(lists)-1]
		lists = lists[:len(lists)-1]
		for _, route := range routes {
			for _, h := range route.Handlers {
				switch h := h.(type) {
				case *Tokenize, *BasisTheoryAPI, *JuspayAPI:
					return true
				case *caddyhttp.Subroute:
					lists = append(lists, h.Routes)
					if h.Errors != nil {
						lists = append(lists, h.Errors.Routes)
					}
				case *intercept.Intercept:
					for _, rh := range h.HandleResponse {
						lists = append(lists, rh.Routes)
					}
				case *reverseproxy.Handler:
					for _, rh := range h.HandleResponse {
						lists = append(lists, rh.Routes)
					}
				}
			}
		}
	}
	return false
}

func (w *routeWalk) bind(err error) {
	if err != nil {
		w.problems = append(w.problems, err.Error())
	}
}

func upstreamProblems(rp *reverseproxy.Handler, active []*Detokenize) []string {
	if _, ok := rp.Transport.(*Transport); !ok {
		return []string{"a reverse_proxy after detokenize must use `transport tokengate`: only that transport puts the card data in the request it sends (without it the processor would receive the tokens)"}
	}
	var problems []string
	for _, u := range rp.Upstreams {
		if strings.Contains(u.Dial, "{") {
			continue // checked per request by the transport
		}
		host, _, _ := net.SplitHostPort(u.Dial)
		for _, d := range active {
			for _, set := range d.sets {
				switch {
				case !allowed(u.Dial, set.Destinations):
					problems = append(problems, fmt.Sprintf("reverse_proxy after detokenize sends to %s, which outbound rule set %q (%s:%d) does not list in destinations %v",
						u.Dial, set.Name, d.app.rules.Path, set.Line, set.Destinations))
				case !rp.Transport.(*Transport).TLSEnabled() && !set.AllowPlaintext && !isLoopback(host):
					problems = append(problems, fmt.Sprintf("reverse_proxy after detokenize sends to %s without TLS; outbound rule set %q (%s:%d) needs TLS for destinations off this machine (or allow_plaintext: true)",
						u.Dial, set.Name, d.app.rules.Path, set.Line))
				}
			}
		}
	}
	return problems
}

// allowed reports whether a dial address is one of the destinations. The
// rules file only accepts host:port destinations (hosts lower-cased), so the
// comparison is exact but for the host's case.
func allowed(dial string, destinations []string) bool {
	host, port, err := net.SplitHostPort(dial)
	if err != nil {
		return false
	}
	for _, dest := range destinations {
		dhost, dport, err := net.SplitHostPort(dest)
		if err == nil && strings.EqualFold(dhost, host) && dport == port {
			return true
		}
	}
	return false
}
