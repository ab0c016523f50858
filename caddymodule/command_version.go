package caddymodule

import (
	"fmt"
	"io"
	"runtime"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/version"
)

// cmdVersion prints caddy tokengate version: tokengate's version (stamped
// by ./xcaddy.sh and the Dockerfile, see package version), the Caddy it is
// built into, and the Go toolchain and platform, the three things a bug
// report or an upgrade check needs.
func cmdVersion(out io.Writer) (int, error) {
	caddyVersion, _ := caddy.Version()
	fmt.Fprintf(out, "tokengate %s\ncaddy %s\n%s %s/%s\n", version.Get(), caddyVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitSuccess, nil
}
