package caddymodule

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport is the reverse_proxy transport that delivers detokenized
// requests. The detokenize handler leaves the request body with its tokens
// and attaches a delivery to the request; only this transport builds the
// detokenized body, in the outgoing request it sends, after checking that
// the upstream reverse_proxy chose for this very request is one of the rule
// set's destinations, reached over verified TLS. So no other handler,
// placeholder, log, error page or upstream can ever see card data: if the
// request goes anywhere else, it carries tokens. The processor's response is
// then passed through the rule set's response guard.
//
// It is Caddy's http transport with every one of its options (tls,
// timeouts, versions, ...) except network_proxy, since a forward proxy
// would receive the card data instead of the destination; proxies named in
// the environment (HTTPS_PROXY) are ignored for the same reason, and TLS
// certificate verification cannot be turned off. Requests no detokenize
// rule set matched are proxied as the http transport does.
//
// Caddyfile:
//
//	reverse_proxy psp.example.com:443 {
//		transport tokengate {
//			<http transport options>
//		}
//	}
type Transport struct {
	reverseproxy.HTTPTransport

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.reverse_proxy.transport.tokengate", New: func() caddy.Module { return new(Transport) }}
}

// Provision refuses the options that would send card data somewhere else
// than the destination, then sets up the http transport.
func (t *Transport) Provision(ctx caddy.Context) error {
	t.logger = ctx.Logger()
	if t.ForwardProxyURL != "" || len(t.NetworkProxyRaw) != 0 {
		return errors.New("tokengate transport: network_proxy is not allowed: a forward proxy would receive the card data instead of the destination")
	}
	if t.TLS != nil && t.TLS.InsecureSkipVerify {
		return errors.New("tokengate transport: tls_insecure_skip_verify is not allowed: card data goes only to a server whose certificate was verified")
	}
	if err := t.HTTPTransport.Provision(ctx); err != nil {
		return fmt.Errorf("tokengate transport: %w", err)
	}
	t.Transport.Proxy = nil // not even a proxy from the environment
	return nil
}

// RoundTrip delivers a detokenized request, or proxies any other request
// as the http transport does.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	d := deliveryFrom(req.Context())
	if d == nil {
		return t.HTTPTransport.RoundTrip(req)
	}
	resp, err := d.send(req, &t.HTTPTransport)
	var refused *refusal
	if errors.As(err, &refused) {
		t.logger.Error("detokenized request not sent", zap.String("rule_set", d.set.Name), zap.String("upstream", refused.upstream), zap.String("reason", refused.reason),
			requestLog(req))
	}
	return resp, err
}

// Interface guards.
var (
	_ caddy.Provisioner                   = (*Transport)(nil)
	_ http.RoundTripper                   = (*Transport)(nil)
	_ reverseproxy.TLSTransport           = (*Transport)(nil)
	_ caddy.CleanerUpper                  = (*Transport)(nil)
	_ caddy.Module                        = (*Transport)(nil)
	_ reverseproxy.H2CTransport           = (*Transport)(nil)
	_ reverseproxy.ProxyProtocolTransport = (*Transport)(nil)
)
