#!/usr/bin/env bash
# Builds ./caddy with Caddy's standard modules and tokengate's.
# With xcaddy on PATH it uses xcaddy (the usual way to build Caddy plugins);
# otherwise it builds the repository's own cmd/caddy, which imports the same.
#
# The binary carries tokengate's version, for `caddy tokengate version` and
# `caddy version`: git describe of this checkout, or TOKENGATE_VERSION when
# set (the Dockerfile sets it: its build context has no .git). Go's own build
# information cannot say it for an xcaddy build, where tokengate is a
# dependency replaced by this directory and shows as (devel). No -trimpath:
# with it Go leaves -ldflags out of the build information, and `caddy
# build-info` would not show the stamp either.
# CGO_ENABLED, GOOS, GOARCH and GOFLAGS from the environment apply as usual.
set -euo pipefail
cd "$(dirname "$0")"
version=${TOKENGATE_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo unknown)}
if [[ ! $version =~ ^[A-Za-z0-9._+-]+$ ]]; then
	echo "xcaddy.sh: version \"$version\" has characters that cannot go into -ldflags" >&2
	exit 1
fi
ldflags="-X github.com/tokengate/tokengate/version.Version=$version -X github.com/caddyserver/caddy/v2.CustomVersion=tokengate-$version"
if command -v xcaddy >/dev/null 2>&1; then
	caddy_version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
	XCADDY_GO_BUILD_FLAGS="-ldflags='$ldflags'" \
		xcaddy build "$caddy_version" --with github.com/tokengate/tokengate=. --output ./caddy
else
	go build -ldflags "$ldflags" -o ./caddy ./cmd/caddy
fi
echo "built ./caddy (tokengate $version)"
