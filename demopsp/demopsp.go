// Package demopsp is a stand-in payment processor for the quick start and
// tests: it answers each request with the body it received, as many real
// processors echo a request back, and keeps the last requests it received
// so that a person can see what tokengate delivered to it.
//
// With tokengate's response guard on, the echo reaches the merchant
// redacted, as it should; GET <path>/received, asked of the processor
// directly, shows what it really got. It holds card data in memory: it is
// for demos, never for production.
package demopsp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(new(PSP))
	httpcaddyfile.RegisterHandlerDirective("demo_psp", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("demo_psp", httpcaddyfile.Before, "respond")
}

// Defaults.
const (
	defaultKeep  = 20
	maxBodyBytes = 1 << 20
)

// PSP is the demo processor handler.
type PSP struct {
	// Keep is how many received requests GET /received lists, newest last.
	// The default is 20.
	Keep int `json:"keep,omitempty"`

	mu       sync.Mutex
	received []Received
}

// Received is one request the processor got.
type Received struct {
	// Time is when it arrived.
	Time time.Time `json:"time"`
	// Method and Path are the request line's.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Host is the Host header the request carried.
	Host string `json:"host"`
	// ContentType is the request's Content-Type.
	ContentType string `json:"content_type,omitempty"`
	// Body is the request body as received (at most 1 MiB).
	Body string `json:"body"`
}

// CaddyModule returns the Caddy module information.
func (*PSP) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.demo_psp", New: func() caddy.Module { return new(PSP) }}
}

// Provision sets defaults.
func (p *PSP) Provision(caddy.Context) error {
	if p.Keep <= 0 {
		p.Keep = defaultKeep
	}
	return nil
}

// ServeHTTP lists what was received on GET .../received, and otherwise
// records the request and echoes its body.
func (p *PSP) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/received") {
		p.mu.Lock()
		out, err := json.MarshalIndent(p.received, "", "  ")
		p.mu.Unlock()
		if err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, err)
		}
		w.Header().Set("Content-Type", "application/json")
		_, err = w.Write(append(out, '\n'))
		return err
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	p.mu.Lock()
	p.received = append(p.received, Received{Time: time.Now().UTC(), Method: r.Method, Path: r.URL.Path, Host: r.Host, ContentType: r.Header.Get("Content-Type"), Body: string(b)})
	if len(p.received) > p.Keep {
		p.received = append(p.received[:0:0], p.received[len(p.received)-p.Keep:]...)
	}
	p.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	_, err = w.Write(b)
	return err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	demo_psp [<keep>]
func (p *PSP) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		n, err := parseKeep(d.Val())
		if err != nil {
			return d.Errf("demo_psp: keep: %v", err)
		}
		p.Keep = n
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(PSP)
	err := p.UnmarshalCaddyfile(h.Dispenser)
	return p, err
}

func parseKeep(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err == nil && n <= 0 {
		err = errors.New("must be a positive number")
	}
	return n, err
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*PSP)(nil)
	_ caddyhttp.MiddlewareHandler = (*PSP)(nil)
	_ caddyfile.Unmarshaler       = (*PSP)(nil)
)
