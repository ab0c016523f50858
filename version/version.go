// Package version says which tokengate a binary holds, for `caddy tokengate
// version` and for `caddy version` (through Caddy's CustomVersion, which
// ./xcaddy.sh and the Dockerfile stamp too).
//
// Go's build information alone cannot say it for the usual build: xcaddy
// builds tokengate as a dependency replaced by a local directory, which
// debug.ReadBuildInfo reports as "(devel)" with no revision. So the build
// stamps Version with -ldflags (see ./xcaddy.sh), and what the build
// information knows is the fallback.
package version

import (
	"runtime/debug"
	"strings"
)

// Version is set at build time:
//
//	-ldflags "-X github.com/tokengate/tokengate/version.Version=$(git describe --tags --always --dirty)"
var Version string

// Module is tokengate's module path, as it appears in build information.
const Module = "github.com/tokengate/tokengate"

// Get is tokengate's version: Version when stamped, else what the build
// information knows, else "(devel)".
func Get() string {
	if Version != "" {
		return Version
	}
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi)
}

// fromBuildInfo finds tokengate's version in bi: the module's own version
// (a `go install …@v1.2.3` or a dependency at a release), a replacement's
// version, or, when tokengate is the main module built from a git checkout,
// the revision Go stamped (with +dirty for uncommitted changes).
func fromBuildInfo(bi *debug.BuildInfo) string {
	if bi == nil {
		return "(devel)"
	}
	mod := &bi.Main
	if mod.Path != Module {
		mod = nil
		for _, dep := range bi.Deps {
			if dep.Path == Module {
				mod = dep
				break
			}
		}
	}
	if mod == nil {
		return "(devel)"
	}
	if mod.Replace != nil && known(mod.Replace.Version) {
		return mod.Replace.Version
	}
	if known(mod.Version) {
		return mod.Version
	}
	if mod != &bi.Main {
		return "(devel)" // a dependency replaced by a directory: no revision is recorded
	}
	var revision, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if revision == "" {
		return "(devel)"
	}
	return revision[:min(len(revision), 12)] + modified
}

func known(v string) bool {
	return v != "" && v != "(devel)" && !strings.HasPrefix(v, "v0.0.0-00010101000000-")
}
