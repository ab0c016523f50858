package caddymodule

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The tests write their configs, rules files and URLs with port numbers
// (":9080" the inbound site, ":9081" the outbound one, ":9082" the PSP,
// ":8080"-":8084" in the quick start's Caddyfile.example, ":2999" Caddy's
// admin endpoint...: see testPortNames). These numbers are names: before a config is loaded or
// a request is sent, the harness replaces each with a port it reserved for
// the test. So a test never binds a port a user's gateway (the quick start,
// the README's two gateways on 9080-9092) or another run of the tests
// uses, and two runs of this package can go at once. Real ports come from
// the kernel's ephemeral range (32768 and up by default), so none is ever
// taken for a name.
var testPortNames = regexp.MustCompile(`:(299[0-9]|808[0-9]|90[89][0-9]|944[34]|9999)\b`)

// testPorts holds the ports reserved for one test, by name.
type testPorts struct {
	mu    sync.Mutex
	t     testing.TB
	ports map[string]int
}

// port is the real port for name ("9080"), reserved on first use for the
// rest of the test.
func (p *testPorts) port(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if port, ok := p.ports[name]; ok {
		return port
	}
	port := reservePort(p.t)
	if p.ports == nil {
		p.ports = map[string]int{}
	}
	p.ports[name] = port
	return port
}

// rewrite replaces every named port in s with its real one.
func (p *testPorts) rewrite(s string) string {
	return testPortNames.ReplaceAllStringFunc(s, func(m string) string {
		return ":" + strconv.Itoa(p.port(m[1:]))
	})
}

// listen listens on addr, which names a test port, for a server of the
// test's own (a processor): with SO_REUSEPORT, as Caddy does, since the
// port is reserved so.
func (g *gateway) listen(addr string) net.Listener {
	g.t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	ln, err := lc.Listen(context.Background(), "tcp", g.addr(addr))
	if err != nil {
		g.t.Fatal(err)
	}
	return ln
}

// reservePort has the kernel choose a free TCP port and keeps it bound (not
// listening) until the test ends, with SO_REUSEPORT set, so that:
//   - Caddy, which binds every listener with SO_REUSEPORT, can bind it too
//     (same user), whether in this process or in a child;
//   - nothing else can have it meanwhile: the kernel's port choice (bind to
//     port 0, and the local port of an outgoing connection) skips ports in
//     use, and a listener without SO_REUSEPORT cannot bind it.
//
// Closing a listener and handing its port to Caddy, instead, leaves a window
// in which another run's test or any outgoing connection may take it; and
// since two sockets with SO_REUSEPORT share a port silently, two Caddy
// processes handed the same port would each receive half of the other's
// requests rather than fail.
func reservePort(t testing.TB) int {
	t.Helper()
	fd, port, err := reserve(unix.AF_INET6)
	if err != nil { // no IPv6: Caddy's ":port" is then IPv4 only, too
		fd, port, err = reserve(unix.AF_INET)
	}
	if err != nil {
		t.Fatalf("reserving a port: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return port
}

func reserve(family int) (fd, port int, err error) {
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{}
	if family == unix.AF_INET6 {
		// Dual stack, as Go listens on ":port".
		if err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			unix.Close(fd)
			return 0, 0, err
		}
		sa = &unix.SockaddrInet6{}
	}
	if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err == nil {
		err = unix.Bind(fd, sa)
	}
	if err == nil {
		sa, err = unix.Getsockname(fd)
	}
	if err != nil {
		unix.Close(fd)
		return 0, 0, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet6:
		return fd, a.Port, nil
	case *unix.SockaddrInet4:
		return fd, a.Port, nil
	}
	unix.Close(fd)
	return 0, 0, fmt.Errorf("unexpected socket address %T", sa)
}
