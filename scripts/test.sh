#!/usr/bin/env bash
#
# Build and test the whole workspace, from a fresh clone:
#
#   scripts/test.sh                    # everything
#   scripts/test.sh -p e2e-tests       # extra arguments go to `cargo test --release --workspace --lib --bins --tests`
#   scripts/test.sh login -- --nocapture
#   scripts/test.sh --soak             # only the soak: 5 minutes at 70% of measured capacity
#   SOAK_SECONDS=30 scripts/test.sh --soak
#
# The end-to-end tests start their own nx-27017 (the embedded MongoDB-compatible server) on
# random ports, from the binary named by NX_27017_BIN, and fuzz the services with the
# schemathesis named by SCHEMATHESIS_BIN, and validate the Kubernetes manifests with the
# kubernetes-validate named by KUBERNETES_VALIDATE_BIN; this script installs all three into
# .tools/venv and exports their paths, and the OpenTelemetry SDK for Python there too
# (tests/viewer_logs.rs runs it). tests/viewer.rs renders the trace viewer's pages in the
# headless Chromium named by CHROMIUM_BIN, and tests/replicas.rs balances replicas with the nginx
# named by NGINX_BIN; this script installs both with apt-get (as root, or through sudo) when they
# are missing. Exits non-zero on the first failure.
#
# --soak runs tests/soak.rs, which the default run skips (it is #[ignore]d): it measures the
# platform's capacity with a short burst, then drives about 70% of it for SOAK_SECONDS (default
# 300) and prints a table of rates, statuses, latencies and each service's memory. Give it alone.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '3,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
fi

soak=false
if [[ "${1:-}" == --soak ]]; then
    (($# == 1)) || die "--soak takes no other arguments"
    soak=true
    shift
fi

cd "$PROJECT_ROOT"

step "Checking the tools"
require_cmd cargo python3 openssl curl
info "$(cargo --version), $(python3 --version)"

step "Preparing nx-27017 $NX_VERSION in .tools/venv"
ensure_nx_venv
export NX_27017_BIN="$NX_BIN"
if [[ ! -x "$NX_27017_BIN" ]]; then
    die "NX_27017_BIN=$NX_27017_BIN is not an executable file; delete .tools/venv and run again"
fi
info "NX_27017_BIN=$NX_27017_BIN"

if $soak; then
    step "Building the release binaries (cargo build --release --workspace --bins)"
    cargo_build_release
    step "Running the soak (cargo test --release -p e2e-tests --test soak -- --ignored --nocapture)"
    cargo test --release -p e2e-tests --test soak -- --ignored --nocapture
    exit 0
fi

# tests/openapi.rs fuzzes every service's OpenAPI document with schemathesis, from SCHEMATHESIS_BIN.
step "Preparing schemathesis $SCHEMATHESIS_VERSION in .tools/venv"
ensure_schemathesis
export SCHEMATHESIS_BIN
info "SCHEMATHESIS_BIN=$SCHEMATHESIS_BIN"

# tests/viewer_logs.rs sends spans and log records to the viewer from the OpenTelemetry SDK for
# Python.
step "Preparing the OpenTelemetry SDK for Python $OTEL_PYTHON_VERSION in .tools/venv"
ensure_otel_python

# tests/pm2.rs runs the platform under pm2 (ecosystem.config.js), from the binary named by PM2_BIN.
step "Preparing pm2 $PM2_VERSION in .tools/npm"
ensure_pm2
export PM2_BIN
info "PM2_BIN=$PM2_BIN"

# tests/kubernetes/ validates deploy/kubernetes with kubernetes-validate (no cluster needed).
step "Preparing kubernetes-validate $KUBERNETES_VALIDATE_VERSION in .tools/venv"
ensure_kubernetes_validate
export KUBERNETES_VALIDATE_BIN
info "KUBERNETES_VALIDATE_BIN=$KUBERNETES_VALIDATE_BIN"

# tests/compose.rs checks docker-compose.yml with `docker-compose config` (no Docker engine needed).
step "Preparing docker-compose"
ensure_docker_compose
info "$(docker-compose version --short 2>/dev/null || docker-compose --version)"

# tests/viewer.rs renders the trace viewer's pages in headless Chromium, from CHROMIUM_BIN.
step "Preparing Chromium"
ensure_chromium
export CHROMIUM_BIN
info "CHROMIUM_BIN=$CHROMIUM_BIN ($("$CHROMIUM_BIN" --version 2>/dev/null || echo 'version unknown'))"

# tests/replicas.rs runs two replicas of every service behind nginx, from NGINX_BIN.
step "Preparing nginx"
ensure_nginx
export NGINX_BIN
info "NGINX_BIN=$NGINX_BIN ($("$NGINX_BIN" -v 2>&1 || echo 'version unknown'))"

step "Building the release binaries (cargo build --release --workspace --bins)"
cargo_build_release

# Without arguments: --lib --bins --tests, since the project has no doc-tests and skipping their
# empty runs keeps the suite's last summary line a real one. With arguments (e.g. `--test pm2`),
# they choose the targets.
targets=(--lib --bins --tests)
(($# > 0)) && targets=()
step "Running the tests (cargo test --release --workspace ${targets[*]}${*:+ $*})"
cargo test --release --workspace "${targets[@]}" "$@"
