package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "5974d9f0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}
	for _, c := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build information", nil, "(devel)"},
		{"main module at a release", &debug.BuildInfo{Main: debug.Module{Path: Module, Version: "v1.2.3"}}, "v1.2.3"},
		{"main module from a checkout, Go stamping a pseudo-version",
			&debug.BuildInfo{Main: debug.Module{Path: Module, Version: "v0.0.0-20261207053000-5974d9f01234+dirty"}}, "v0.0.0-20261207053000-5974d9f01234+dirty"},
		{"main module, revision only", &debug.BuildInfo{Main: debug.Module{Path: Module, Version: "(devel)"}, Settings: vcs}, "5974d9f01234-dirty"},
		{"dependency at a release (xcaddy --with …@v1.2.3)",
			&debug.BuildInfo{Main: debug.Module{Path: "caddy"}, Deps: []*debug.Module{{Path: Module, Version: "v1.2.3"}}}, "v1.2.3"},
		{"dependency replaced by a directory (xcaddy --with …=.)",
			&debug.BuildInfo{Main: debug.Module{Path: "caddy"}, Deps: []*debug.Module{{Path: Module, Version: "v0.0.0-00010101000000-000000000000", Replace: &debug.Module{Path: "/src"}}}, Settings: vcs}, "(devel)"},
		{"not in the build", &debug.BuildInfo{Main: debug.Module{Path: "caddy"}}, "(devel)"},
	} {
		if got := fromBuildInfo(c.bi); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestGetPrefersTheStampedVersion(t *testing.T) {
	defer func(v string) { Version = v }(Version)
	Version = "v9.9.9-3-gabcdef"
	if got := Get(); got != "v9.9.9-3-gabcdef" {
		t.Fatalf("Get() = %q", got)
	}
}
