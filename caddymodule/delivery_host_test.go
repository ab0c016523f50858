package caddymodule

import (
	"net"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// hostFor returns the dial address itself when it is what JoinHostPort
// would build: the Host header must be the same either way.
func TestHostForMatchesJoinHostPort(t *testing.T) {
	for _, di := range []reverseproxy.DialInfo{
		{Address: "127.0.0.1:8443", Host: "127.0.0.1", Port: "8443"},
		{Address: "psp.example.com:8443", Host: "psp.example.com", Port: "8443"},
		{Address: "[::1]:8443", Host: "::1", Port: "8443"},
		{Address: "::1:8443", Host: "::1", Port: "8443"},
		{Address: "other.example.com:8443", Host: "psp.example.com", Port: "8443"},
		{Address: "psp.example.com:8444", Host: "psp.example.com", Port: "8443"},
		{Address: "psp.example.com:443", Host: "psp.example.com", Port: "443"},
		{Address: "", Host: "psp.example.com", Port: "8443"},
	} {
		for _, scheme := range []string{"http", "https"} {
			want := net.JoinHostPort(di.Host, di.Port)
			if scheme == "https" && di.Port == "443" {
				want = di.Host
			}
			if got := hostFor(di, scheme); got != want {
				t.Errorf("hostFor(%+v, %s) = %q, want %q", di, scheme, got, want)
			}
		}
	}
}

func FuzzHostFor(f *testing.F) {
	f.Add("127.0.0.1:8080", "127.0.0.1", "8080")
	f.Add("[::1]:80", "::1", "80")
	f.Fuzz(func(t *testing.T, addr, host, port string) {
		di := reverseproxy.DialInfo{Address: addr, Host: host, Port: port}
		want := net.JoinHostPort(host, port)
		if port == "443" {
			want = host
		}
		if got := hostFor(di, "https"); got != want {
			t.Fatalf("hostFor(%+v) = %q, want %q", di, got, want)
		}
	})
}
