package caddymodule

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/responseguard"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/signing"
)

// delivery is a detokenized request waiting for its transport: the body
// (built and verified by the handler, see Detokenize.build), the rule set
// whose destinations it may go to, and the response guard for what comes
// back. It travels in the request's context, where no placeholder or log
// can read it.
type delivery struct {
	set   *rules.Outbound
	body  []byte
	guard *responseguard.Guard // nil when the rule set's response_guard is off
	log   *zap.Logger
	sent  atomic.Bool // a transport sent it at least once
}

type deliveryKey struct{}

func withDelivery(r *http.Request, d *delivery) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), deliveryKey{}, d))
}

func deliveryFrom(ctx context.Context) *delivery {
	d, _ := ctx.Value(deliveryKey{}).(*delivery)
	return d
}

// refusal is why a delivery was not sent; it never holds card data.
type refusal struct{ upstream, reason string }

func (e *refusal) Error() string {
	return fmt.Sprintf("tokengate: detokenized request not sent to %s: %s", e.upstream, e.reason)
}

// send checks where req is going, builds the detokenized body for that
// request alone, sends it with inner, and guards the response.
func (d *delivery) send(req *http.Request, inner *reverseproxy.HTTPTransport) (*http.Response, error) {
	di, ok := reverseproxy.GetDialInfo(req.Context())
	if !ok {
		return nil, &refusal{upstream: "an unknown upstream", reason: "the request was not dialed by reverse_proxy"}
	}
	if !strings.HasPrefix(di.Network, "tcp") {
		return nil, &refusal{upstream: di.Address, reason: "only TCP destinations can be named in the rules"}
	}
	if !allowed(di.Address, d.set.Destinations) {
		return nil, &refusal{upstream: di.Address, reason: fmt.Sprintf("outbound rule set %q does not list it in destinations", d.set.Name)}
	}
	inner.SetScheme(req)
	if req.URL.Scheme != "https" && !d.set.AllowPlaintext && !isLoopback(di.Host) {
		return nil, &refusal{upstream: di.Address, reason: fmt.Sprintf("it is not loopback and the transport has no tls (rule set %q does not set allow_plaintext)", d.set.Name)}
	}
	redactions := responseRedactions.WithLabelValues(d.set.Name)
	ctx := req.Context()
	if d.guard != nil {
		ctx = guard1xx(ctx, d.guard, redactions) // in the clone, not a second copy
	}
	// A shallow copy with a header of its own, not req.Clone: nothing here
	// changes the URL (SetScheme wrote req's, before the copy), the
	// trailers or the form, and req (reverse_proxy's own clone) keeps its
	// headers and body, so no log or retry of it sees the signature or the
	// detokenized body.
	out := req.WithContext(ctx)
	out.Header = req.Header.Clone()
	// The request addresses the destination, whatever Host the merchant
	// sent: a server there that routes by Host must not be steered to
	// another site.
	out.Host = hostFor(di, out.URL.Scheme)
	body.Replace(out, d.body)
	if sg := d.set.Sign; sg != nil {
		// The set was chosen by the path as Caddy's matcher reads it
		// (unescaped, cleaned), and the signature covers the path as it
		// leaves: one spelled to clean to the set's path (../, %2e%2e, //)
		// would be signed, with the merchant's key, for a request-target
		// the processor may route elsewhere. Only a canonical path is signed.
		if !canonicalPath(out.URL) {
			return nil, &refusal{upstream: di.Address, reason: fmt.Sprintf("rule set %q signs only a request whose path is canonical (no empty, . or .. segments, no percent-encoded unreserved characters)", d.set.Name)}
		}
		// Last, over the body and Host as they leave: the merchant's
		// signature covered the body with its tokens.
		signing.SignCybersource(out, d.body, signing.CybersourceKey{MerchantID: sg.MerchantID, KeyID: sg.KeyID, Secret: sg.Secret}, time.Now())
	}
	if d.guard != nil {
		// Ask for a body the guard can read; see guardResponse.
		out.Header.Set("Accept-Encoding", "identity")
	}
	d.sent.Store(true)
	resp, err := inner.RoundTrip(out)
	if err != nil || d.guard == nil {
		return resp, err
	}
	if n := len(resp.Trailer); n > 0 || resp.Header.Get("Trailer") != "" {
		// Trailers arrive after the body, when the guard can no longer
		// refuse the response: they are dropped, and only counted.
		if d.log != nil {
			d.log.Warn("response guard dropped the destination's trailers", zap.String("rule_set", d.set.Name), zap.Int("trailers", n), requestLog(req))
		}
		redactions.Add(float64(max(n, 1)))
	}
	resp.Header.Del("Trailer")
	// An HTTP/1 response that is not chunked has no trailers, now or once
	// its body ends (net/http reads them only after a chunked body).
	noTrailers := resp.ProtoMajor == 1 && len(resp.TransferEncoding) == 0 && resp.Trailer == nil
	guarded, err := guardResponse(resp, d.guard, redactions)
	if err != nil {
		return nil, err
	}
	if noTrailers {
		return guarded, nil
	}
	// The transport fills the Trailer of the response it made once the
	// body ends; reverse_proxy reads this copy's, which stays empty.
	cp := *guarded
	cp.Trailer = nil
	return &cp, nil
}

// canonicalPath reports whether u's path is written as it is read: no
// escapes that need none, and nothing path.Clean would change.
func canonicalPath(u *url.URL) bool {
	return u.RawPath == "" && u.Path != "" && path.Clean(u.Path) == u.Path
}

// hostFor is the Host header for the destination dialed: its name, with the
// port unless it is the scheme's default.
func hostFor(di reverseproxy.DialInfo, scheme string) string {
	if scheme == "https" && di.Port == "443" || scheme == "http" && di.Port == "80" {
		return di.Host
	}
	if a := di.Address; len(a) == len(di.Host)+1+len(di.Port) && a[:len(di.Host)] == di.Host && a[len(di.Host)] == ':' &&
		a[len(di.Host)+1:] == di.Port && !strings.Contains(di.Host, ":") {
		return a // what JoinHostPort would build, without building it
	}
	return net.JoinHostPort(di.Host, di.Port)
}

// isLoopback reports whether a destination host never leaves the machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
