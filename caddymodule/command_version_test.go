package caddymodule

import (
	"runtime"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/version"
)

// TestVersionCommand: caddy tokengate version prints the stamped version,
// Caddy's, and the Go version and platform (.ci/run checks the built
// ./caddy prints what ./xcaddy.sh stamped).
func TestVersionCommand(t *testing.T) {
	defer func(v string) { version.Version = v }(version.Version)
	version.Version = "v1.2.3-4-gabcdef0-dirty"
	out, _, err := runTokengate(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "tokengate v1.2.3-4-gabcdef0-dirty" || !strings.HasPrefix(lines[1], "caddy ") /* "unknown" in a test binary, which records no dependencies */ ||
		lines[2] != runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("caddy tokengate version printed:\n%s", out)
	}
}
