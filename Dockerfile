# The four services in one image; a container runs one of them, named as its command:
#
#   docker build -t blog-platform:local .
#   docker run --rm -e MONGODB_URI=... blog-platform:local blog-service
#
# docker-compose.yml builds this image and runs the whole platform (see docs/deploy.md, "Docker compose").
#
# Builder: Debian bookworm, like the runtime stage, so the binaries link against the same glibc.
# The C parts of the TLS and crypto crates (aws-lc-sys, ring) and of the allocator (mimalloc)
# build with the image's own gcc:
# aws-lc-sys uses its cc builder with pregenerated bindings on x86_64 and aarch64 Linux, so no
# cmake, clang or nasm is needed.
FROM rust:1.95.0-slim-bookworm AS builder
WORKDIR /build
# The image ships the production profile (release, linked with fat LTO; see Cargo.toml). It keeps
# the release profile's line tables (debug = "line-tables-only") for local backtraces; in the image
# they would make each binary about 100 MB instead of about 15 MB. Panics still name the functions
# (symbols are kept), without file and line.
ENV CARGO_PROFILE_PRODUCTION_DEBUG=none

# 1. The dependencies alone, from the manifests and the lock file, with stub sources for our own
#    crates: this layer is rebuilt only when a Cargo.toml or Cargo.lock changes, not on every edit.
#    Every workspace member's manifest must be here (cargo loads the whole workspace; the compose
#    test checks this against `cargo metadata`); the tests' and the tools' crates are never built,
#    only their manifests are needed.
COPY Cargo.toml Cargo.lock ./
COPY services/platform/Cargo.toml services/platform/
COPY services/authen/Cargo.toml services/authen/
COPY services/user/Cargo.toml services/user/
COPY services/blog/Cargo.toml services/blog/
COPY services/author/Cargo.toml services/author/
COPY tests/Cargo.toml tests/
COPY tools/launcher/Cargo.toml tools/launcher/
COPY tools/loadgen/Cargo.toml tools/loadgen/
COPY tools/traffic/Cargo.toml tools/traffic/
COPY tools/traces/Cargo.toml tools/traces/
RUN set -eux; \
    for binary in services/authen services/user services/blog services/author tools/launcher \
        tools/traffic tools/traces; do \
        mkdir -p "$binary/src"; \
        echo 'fn main() {}' > "$binary/src/main.rs"; \
    done; \
    mkdir -p services/platform/src tests/support tools/loadgen/src; \
    touch services/platform/src/lib.rs tests/support/lib.rs tools/launcher/src/lib.rs \
        tools/loadgen/src/lib.rs tools/traces/src/lib.rs; \
    cargo build --profile production --locked --bins \
        -p authen-service -p user-service -p blog-service -p author-service

# 2. The real sources. COPY keeps their modification times, which can be older than the stub
#    build's, so they are touched: otherwise cargo would take the stubs' artifacts as up to date.
COPY services services
RUN set -eux; \
    find services -name '*.rs' -exec touch {} +; \
    cargo build --profile production --locked --bins \
        -p authen-service -p user-service -p blog-service -p author-service; \
    mkdir -p /out; \
    for binary in authen-service user-service blog-service author-service; do \
        cp "target/production/$binary" /out/; \
    done

# Runtime: the binaries, CA certificates (for a MongoDB or collector reached over TLS) and nothing
# else. No curl: each binary's `healthcheck` subcommand is the container's health probe.
FROM debian:bookworm-slim AS runtime
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 blog; \
    useradd --system --uid 10001 --gid blog --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin blog
COPY --from=builder /out/authen-service /out/user-service /out/blog-service /out/author-service \
    /usr/local/bin/
# Listen on every interface inside the container (the services default to 127.0.0.1).
ENV HOST=0.0.0.0
EXPOSE 3001 3002 3003 3004
# A fixed, non-root UID. docker-compose.yml runs the containers as the owner of keys/private.pem
# instead (BLOG_UID/BLOG_GID), since that key is mounted from the host with mode 0600.
USER 10001:10001
