package caddymodule

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/redact"
	"github.com/tokengate/tokengate/rules"
)

// delivery is a detokenized request waiting for its transport: the body's
// edits (recorded in doc, not applied), the rule set whose destinations it
// may go to, and the response guard for what comes back. It travels in the
// request's context, where no placeholder or log can read it.
type delivery struct {
	set   *rules.Outbound
	doc   body.Doc
	guard *redact.Guard // nil when the rule set's response_guard is off

	build sync.Once
	body  []byte
	err   error
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
	d.build.Do(func() { d.body, d.err = d.doc.Bytes() })
	if d.err != nil {
		return nil, fmt.Errorf("tokengate: building the detokenized body: %w", d.err)
	}

	out := req.Clone(req.Context())
	// The request addresses the destination, whatever Host the merchant
	// sent: a server there that routes by Host must not be steered to
	// another site.
	out.Host = hostFor(di, out.URL.Scheme)
	body.Replace(out, d.body)
	if d.guard != nil {
		// Ask for a body the guard can read; see guardResponse.
		out.Header.Set("Accept-Encoding", "identity")
	}
	d.sent.Store(true)
	resp, err := inner.RoundTrip(out)
	if err != nil || d.guard == nil {
		return resp, err
	}
	return guardResponse(resp, d.guard, responseRedactions.WithLabelValues(d.set.Name))
}

// guardResponse redacts the response's headers and streams its body through
// the guard. A gzip body is decoded on the way; a body in any other encoding,
// or a protocol switch, cannot be inspected and is refused (the client gets
// 502), so nothing the guard could not read reaches the merchant.
func guardResponse(resp *http.Response, g *redact.Guard, redactions prometheus.Counter) (*http.Response, error) {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body.Close()
		return nil, &refusal{upstream: "the destination", reason: "it switched protocols, and the response guard cannot inspect the stream"}
	}
	for name, values := range resp.Header {
		for i, v := range values {
			var n int
			values[i], n = g.String(v)
			redactions.Add(float64(n))
		}
		resp.Header[name] = values
	}
	src := resp.Body
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			src.Close()
			return nil, &refusal{upstream: "the destination", reason: "its gzip response does not decode"}
		}
		src = readCloser{zr, src}
		resp.Header.Del("Content-Encoding")
	default:
		src.Close()
		return nil, &refusal{upstream: "the destination", reason: "its response is in the " + strconv.Quote(enc) + " encoding, which the response guard cannot inspect"}
	}
	resp.Uncompressed = false
	if resp.ContentLength >= 0 && resp.ContentLength <= bufferLimit {
		// The usual small answer: redact it whole and keep a length, so
		// that reverse_proxy sends it in one piece rather than flushing a
		// chunked stream read by read.
		b, err := io.ReadAll(io.LimitReader(src, bufferLimit+1))
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("tokengate: reading the destination's response: %w", err)
		}
		if len(b) <= bufferLimit {
			src.Close()
			out, n := g.Bytes(b)
			redactions.Add(float64(n))
			resp.Body = io.NopCloser(bytes.NewReader(out))
			resp.ContentLength = int64(len(out))
			resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
			return resp, nil
		}
		src = readCloser{io.MultiReader(bytes.NewReader(b), src), src} // decoded larger: stream it
	}
	resp.Body = countingReader{g.NewReader(src), redactions}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

// bufferLimit is the largest response the guard redacts whole; larger ones,
// and those of unknown length, are streamed.
const bufferLimit = 1 << 20

// countingReader counts a streamed answer's redactions when it is closed.
type countingReader struct {
	*redact.Reader
	redactions prometheus.Counter
}

func (c countingReader) Close() error {
	c.redactions.Add(float64(c.Count()))
	return c.Reader.Close()
}

// readCloser reads one stream and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// hostFor is the Host header for the destination dialed: its name, with the
// port unless it is the scheme's default.
func hostFor(di reverseproxy.DialInfo, scheme string) string {
	if scheme == "https" && di.Port == "443" || scheme == "http" && di.Port == "80" {
		return di.Host
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
