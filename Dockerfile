# syntax=docker/dockerfile:1
# tokengate: Caddy with Caddy's standard modules and tokengate's, as one
# static binary on a distroless base (no shell, no package manager, a
# non-root user). Build it from the repository's root:
#
#   docker build --build-arg TOKENGATE_VERSION=$(git describe --tags --always --dirty) -t tokengate .
#
# Run the quick start in it (its vault and development keys in the /data
# volume; see deploy/README.md for production):
#
#   docker run --rm -p 8080-8084:8080-8084 -v tokengate-data:/data tokengate
#
# For production mount your Caddyfile at /etc/caddy/Caddyfile and your rules
# file, and hand the keyset and the key-encrypting key over as secrets
# (keyset_file /run/secrets/..., kek_file /run/secrets/...): deploy/compose.yaml.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change reuses the downloaded modules layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git (.dockerignore), so git describe cannot run
# here: the version comes in as a build argument.
ARG TOKENGATE_VERSION=unknown
# The same build as a developer's: ./xcaddy.sh (go build ./cmd/caddy here, no
# xcaddy in this image), static with CGO_ENABLED=0 so the binary needs no libc
# on the distroless base. -buildvcs=false: there is no .git to read.
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false TOKENGATE_VERSION=${TOKENGATE_VERSION} ./xcaddy.sh \
	&& ./caddy tokengate version \
	&& ./caddy build-info | grep -qx 'build.CGO_ENABLED=0'
# The quick start's Caddyfile with its paths made absolute: the rules beside
# the Caddyfile, the vault and the development keys in the /data volume.
RUN mkdir -p /out/etc/caddy /out/data /out/config \
	&& sed -e 's|rules rules.example.yaml|rules /etc/caddy/rules.example.yaml|' \
		-e 's|\./tokengate-data/|/data/tokengate/|g' Caddyfile.example >/out/etc/caddy/Caddyfile \
	&& cp rules.example.yaml /out/etc/caddy/ \
	&& ./caddy adapt --config /out/etc/caddy/Caddyfile >/dev/null

# static-debian12 holds CA certificates (/etc/ssl/certs/ca-certificates.crt,
# for TLS to processors and network token services), tzdata, an /etc/passwd
# with the nonroot user (65532) and nothing else: no shell, which is why the
# directories were made in the build stage.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/caddy /usr/bin/caddy
COPY --from=build /out/etc/caddy /etc/caddy
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/config /config
# Caddy keeps its own state (certificates, autosave.json) under these, as the
# official Caddy image does; tokengate's vault and keys go under /data too.
ENV XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
WORKDIR /data
# Volumes, so that a read-only root file system (docker run --read-only,
# compose's read_only) still has these two writable, owned by 65532 as the
# image made them (a tmpfs would be root's).
VOLUME ["/data", "/config"]
# The quick start's ports: inbound, outbound, demo PSP, Basis Theory API,
# Juspay API. A production Caddyfile chooses its own (ports under 1024 need
# net.ipv4.ip_unprivileged_port_start=0, Docker's default since 20.10, or
# CAP_NET_BIND_SERVICE).
EXPOSE 8080 8081 8082 8083 8084
# Exec form: caddy is PID 1 and gets SIGTERM itself (a graceful stop).
ENTRYPOINT ["caddy", "run", "--config", "/etc/caddy/Caddyfile"]
