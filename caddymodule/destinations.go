package caddymodule

import (
	"fmt"
	"net"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// checkDestinations makes "detokenized data only goes to destinations the
// rules name" a property of the loaded config rather than a hope: it walks
// every HTTP route, and every reverse_proxy that a detokenized request could
// reach must proxy only to upstreams that each of those detokenize handlers'
// rule sets lists. Dynamic upstreams and placeholders cannot be checked, so
// they are refused. The walk over-approximates (a detokenize anywhere before
// in the same route list counts), which can only refuse more, never less.
func (a *App) checkDestinations() error {
	httpApp, err := a.ctx.AppIfConfigured("http")
	if err != nil {
		return nil // no HTTP app, so nothing can be proxied
	}
	for name, srv := range httpApp.(*caddyhttp.App).Servers {
		var problems []string
		check := func(rp *reverseproxy.Handler, active []*Detokenize) {
			problems = append(problems, upstreamProblems(rp, active)...)
		}
		seen := walkRoutes(srv.Routes, nil, check)
		if srv.Errors != nil {
			walkRoutes(srv.Errors.Routes, seen, check)
		}
		if len(problems) > 0 {
			return fmt.Errorf("tokengate: server %s: %s", name, strings.Join(problems, "; "))
		}
	}
	return nil
}

// walkRoutes visits routes in order, calling visit for each reverse_proxy
// with the detokenize handlers a request may have passed. It returns the
// detokenize handlers active after the list.
func walkRoutes(routes caddyhttp.RouteList, active []*Detokenize, visit func(*reverseproxy.Handler, []*Detokenize)) []*Detokenize {
	for _, route := range routes {
		for _, h := range route.Handlers {
			switch h := h.(type) {
			case *Detokenize:
				active = append(active, h)
			case *reverseproxy.Handler:
				if len(active) > 0 {
					visit(h, active)
				}
			case *caddyhttp.Subroute:
				active = walkRoutes(h.Routes, active, visit)
				if h.Errors != nil {
					walkRoutes(h.Errors.Routes, active, visit)
				}
			}
		}
	}
	return active
}

func upstreamProblems(rp *reverseproxy.Handler, active []*Detokenize) []string {
	if rp.DynamicUpstreams != nil {
		return []string{"reverse_proxy after detokenize uses dynamic upstreams, which cannot be checked against the rule sets' destinations"}
	}
	var problems []string
	for _, u := range rp.Upstreams {
		if strings.Contains(u.Dial, "{") {
			problems = append(problems, fmt.Sprintf("reverse_proxy after detokenize dials %q, a placeholder that cannot be checked against the rule sets' destinations", u.Dial))
			continue
		}
		for _, d := range active {
			for _, set := range d.sets {
				if !allowed(u.Dial, set.Destinations) {
					problems = append(problems, fmt.Sprintf("reverse_proxy after detokenize sends to %s, which outbound rule set %q (%s:%d) does not list in destinations %v",
						u.Dial, set.Name, d.app.rules.Path, set.Line, set.Destinations))
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
