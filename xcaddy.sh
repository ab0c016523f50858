#!/usr/bin/env bash
# Builds ./caddy with Caddy's standard modules and tokengate's.
# With xcaddy on PATH it uses xcaddy (the usual way to build Caddy plugins);
# otherwise it builds the repository's own cmd/caddy, which imports the same.
set -euo pipefail
cd "$(dirname "$0")"
if command -v xcaddy >/dev/null 2>&1; then
	version=$(go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
	xcaddy build "$version" --with github.com/tokengate/tokengate=. --output ./caddy
else
	go build -o ./caddy ./cmd/caddy
fi
echo "built ./caddy"
