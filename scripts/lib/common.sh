# shellcheck shell=bash
#
# Helpers shared by the scripts in scripts/ (and nothing else). Source it, do not run it:
#
#   source "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"
#
# It only defines variables and functions; the caller chooses `set -euo pipefail` and its cwd.
# Every function that checks something either succeeds or stops the script with one clear line
# on stderr saying what is wrong and what to do about it.

# Sourcing twice is harmless (the readonly variables below would otherwise fail).
if [[ -n "${_BLOG_COMMON_SH_LOADED:-}" ]]; then
    return 0
fi
_BLOG_COMMON_SH_LOADED=1

# The project root is two levels above this file (scripts/lib/), wherever the caller's cwd is.
PROJECT_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
readonly PROJECT_ROOT

# The embedded MongoDB-compatible server, pinned: the tests and up.sh are only known to work with
# this version. It lives in a venv under .tools/ (git-ignored), never in the system Python.
readonly NX_VERSION=0.8.1
readonly NX_VENV="$PROJECT_ROOT/.tools/venv"
readonly NX_BIN="$NX_VENV/bin/nx-27017"

# schemathesis, the property-based fuzzer tests/openapi.rs runs against every service's OpenAPI
# document, pinned like nx-27017 and installed into the same venv (only scripts/test.sh needs it).
readonly SCHEMATHESIS_VERSION=4.32.5
readonly SCHEMATHESIS_BIN="$NX_VENV/bin/schemathesis"

# kubernetes-validate, which tests/kubernetes/ runs on every manifest in deploy/kubernetes
# against the Kubernetes API schemas it bundles (no cluster needed), pinned and installed into the
# same venv.
readonly KUBERNETES_VALIDATE_VERSION=1.37.0
readonly KUBERNETES_VALIDATE_BIN="$NX_VENV/bin/kubernetes-validate"

# The OpenTelemetry SDK for Python and its OTLP exporters, which tests/viewer_logs.rs runs as a
# service nobody here wrote (spans and log records over gRPC and HTTP), pinned and installed into
# the same venv.
readonly OTEL_PYTHON_VERSION=1.45.2

# pm2, the process manager ecosystem.config.js is written for, pinned like nx-27017 and installed
# from npm into a local prefix under .tools/ (never globally). The pm2 test runs it from here.
readonly PM2_VERSION=7.0.4
readonly PM2_PREFIX="$PROJECT_ROOT/.tools/npm"
readonly PM2_BIN="$PM2_PREFIX/node_modules/.bin/pm2"

# Name of the running script, for message prefixes ("up.sh: error: ...").
_SCRIPT_NAME=${0##*/}

# --- messages -------------------------------------------------------------------------------

# info MESSAGE...: a plain progress line on stdout.
info() {
    printf '%s\n' "$*"
}

# step MESSAGE...: a header that makes each phase of a long run easy to find in a log.
step() {
    printf '\n==> %s\n' "$*"
}

# warn MESSAGE...: something the user should know about that does not stop the script.
warn() {
    printf '%s: warning: %s\n' "$_SCRIPT_NAME" "$*" >&2
}

# err MESSAGE...: report an error without exiting (the caller decides what happens next).
err() {
    printf '%s: error: %s\n' "$_SCRIPT_NAME" "$*" >&2
}

# die MESSAGE...: report an error and exit 1 (EXIT traps still run).
die() {
    err "$@"
    exit 1
}

# --- tools ----------------------------------------------------------------------------------

# _install_hint CMD: how to get CMD on Debian.
_install_hint() {
    case "$1" in
        cargo | rustc | rustup)
            if [[ -x "$HOME/.cargo/bin/$1" ]]; then
                # Installed by rustup, but this shell's PATH does not include it.
                printf 'it is in ~/.cargo/bin, which is not on PATH: run "source ~/.cargo/env" or add ~/.cargo/bin to PATH'
            else
                printf 'install the Rust toolchain with rustup (the project needs Rust >= 1.89; the Debian cargo package is too old)'
            fi
            ;;
        python3) printf 'apt-get install -y python3 python3-venv' ;;
        curl) printf 'apt-get install -y curl' ;;
        openssl) printf 'apt-get install -y openssl' ;;
        ss) printf 'apt-get install -y iproute2' ;;
        setsid) printf 'apt-get install -y util-linux' ;;
        timeout | tail | mktemp | realpath) printf 'apt-get install -y coreutils' ;;
        shellcheck) printf 'apt-get install -y shellcheck' ;;
        node | npm) printf 'apt-get install -y nodejs npm' ;;
        git) printf 'apt-get install -y git' ;;
        *) printf 'install the Debian package that provides it (apt-file search bin/%s)' "$1" ;;
    esac
}

# require_cmd NAME...: stop unless every NAME is on PATH; names all the missing ones at once.
require_cmd() {
    local cmd missing=0
    for cmd in "$@"; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            err "'$cmd' is required but not found on PATH: $(_install_hint "$cmd")"
            missing=1
        fi
    done
    if ((missing)); then
        exit 1
    fi
}

# ensure_nx_venv: make sure $NX_BIN (nx-27017 $NX_VERSION) is installed in $NX_VENV, creating the
# venv and (re)installing the package when needed. Quiet when everything is already in place.
ensure_nx_venv() {
    require_cmd python3
    local py="$NX_VENV/bin/python"

    # A venv whose interpreter no longer runs (Python upgraded or removed since) cannot be repaired
    # in place: rebuild it. The directory is ours (.tools/ is git-ignored).
    if [[ -e "$NX_VENV" ]] && ! "$py" -c 'import sys' >/dev/null 2>&1; then
        warn "$NX_VENV is broken (its python does not run); recreating it"
        rm -rf -- "$NX_VENV"
    fi

    if [[ ! -e "$NX_VENV" ]]; then
        info "creating the Python venv for nx-27017 in ${NX_VENV#"$PROJECT_ROOT"/}"
        mkdir -p -- "$(dirname -- "$NX_VENV")"
        # On Debian, `python3 -m venv` fails without python3-venv (ensurepip is split out).
        if ! python3 -m venv "$NX_VENV"; then
            rm -rf -- "$NX_VENV"
            die "python3 could not create a virtual environment in $NX_VENV: install the Debian package python3-venv (apt-get install -y python3-venv) and run again"
        fi
    fi

    _venv_install nx-27017 "$NX_VERSION"
    if [[ ! -x "$NX_BIN" ]]; then
        die "nx-27017 $NX_VERSION is installed but $NX_BIN is missing or not executable; delete $NX_VENV and run again"
    fi
}

# ensure_schemathesis: make sure $SCHEMATHESIS_BIN (schemathesis $SCHEMATHESIS_VERSION) is
# installed in $NX_VENV, next to nx-27017. Quiet when it is already in place.
ensure_schemathesis() {
    ensure_nx_venv
    _venv_install schemathesis "$SCHEMATHESIS_VERSION"
    if [[ ! -x "$SCHEMATHESIS_BIN" ]]; then
        die "schemathesis $SCHEMATHESIS_VERSION is installed but $SCHEMATHESIS_BIN is missing or not executable; delete $NX_VENV and run again"
    fi
}

# ensure_kubernetes_validate: make sure $KUBERNETES_VALIDATE_BIN (kubernetes-validate
# $KUBERNETES_VALIDATE_VERSION) is installed in $NX_VENV. Quiet when it is already in place.
ensure_kubernetes_validate() {
    ensure_nx_venv
    _venv_install kubernetes-validate "$KUBERNETES_VALIDATE_VERSION"
    if [[ ! -x "$KUBERNETES_VALIDATE_BIN" ]]; then
        die "kubernetes-validate $KUBERNETES_VALIDATE_VERSION is installed but $KUBERNETES_VALIDATE_BIN is missing or not executable; delete $NX_VENV and run again"
    fi
}

# ensure_otel_python: make sure the OpenTelemetry SDK for Python and its OTLP/gRPC and OTLP/HTTP
# exporters ($OTEL_PYTHON_VERSION) are installed in $NX_VENV. Quiet when they are already there.
ensure_otel_python() {
    ensure_nx_venv
    local package
    for package in opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc \
        opentelemetry-exporter-otlp-proto-http; do
        _venv_install "$package" "$OTEL_PYTHON_VERSION"
    done
}

# _venv_install PACKAGE VERSION: install PACKAGE==VERSION from PyPI into $NX_VENV (which must
# exist) unless that version is already there.
_venv_install() {
    local package=$1 version=$2 py="$NX_VENV/bin/python" installed
    installed=$("$py" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' \
        "$package" 2>/dev/null || true)
    if [[ "$installed" != "$version" ]]; then
        info "installing $package==$version into ${NX_VENV#"$PROJECT_ROOT"/} (found: ${installed:-none})"
        if ! "$py" -m pip install --quiet --disable-pip-version-check --no-input \
            "$package==$version"; then
            die "pip could not install $package==$version into $NX_VENV (is PyPI reachable? see pip's output above)"
        fi
    fi
}

# ensure_pm2: make sure $PM2_BIN (pm2 $PM2_VERSION) is installed in $PM2_PREFIX, installing it
# with npm when it is missing or another version. Quiet when it is already in place.
ensure_pm2() {
    require_cmd node npm
    local installed
    installed=$(node -p 'require(process.argv[1]).version' \
        "$PM2_PREFIX/node_modules/pm2/package.json" 2>/dev/null || true)
    if [[ "$installed" != "$PM2_VERSION" ]]; then
        info "installing pm2@$PM2_VERSION into ${PM2_PREFIX#"$PROJECT_ROOT"/} (found: ${installed:-none})"
        mkdir -p -- "$PM2_PREFIX"
        if ! npm install --prefix "$PM2_PREFIX" --save-exact --no-audit --no-fund \
            --loglevel=error "pm2@$PM2_VERSION"; then
            die "npm could not install pm2@$PM2_VERSION into $PM2_PREFIX (is the npm registry reachable? see npm's output above)"
        fi
    fi
    if [[ ! -x "$PM2_BIN" ]]; then
        die "pm2 $PM2_VERSION is installed but $PM2_BIN is missing or not executable; delete $PM2_PREFIX and run again"
    fi
}

# ensure_apt_cmd CMD PACKAGE [WHY]: make sure CMD is on PATH, installing the Debian package
# PACKAGE with apt-get when it is missing: directly as root, else through sudo; otherwise it stops
# with what to run. --no-install-recommends keeps the install to what CMD needs. WHY (optional)
# says in the progress line what the tool is for.
ensure_apt_cmd() {
    local cmd=$1 package=$2 why=${3:-}
    if command -v "$cmd" >/dev/null 2>&1; then
        return 0
    fi
    local hint="install it as root with 'apt-get update && apt-get install -y --no-install-recommends $package' and run again"
    command -v apt-get >/dev/null 2>&1 || die "$cmd is not installed and there is no apt-get here: $hint (or put any $cmd on PATH)"
    local -a as_root=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "$cmd is not installed, this is not root and there is no sudo: $hint"
        as_root=(sudo --non-interactive)
    fi
    info "installing $cmd (Debian's package $package${why:+, $why}) with ${as_root[*]:+sudo }apt-get"
    if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        || ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$package"; then
        die "apt-get could not install $package (see its output above): $hint"
    fi
    command -v "$cmd" >/dev/null 2>&1 || die "$package was installed but $cmd is not on PATH ($PATH)"
}

# ensure_docker_compose: make sure `docker-compose` is on PATH (tests/compose.rs checks
# docker-compose.yml with `docker-compose config`). Only the compose client is installed (without
# recommends, apt leaves out the docker.io engine): validating a compose file needs no engine.
ensure_docker_compose() {
    ensure_apt_cmd docker-compose docker-compose "client only"
}

# ensure_chromium: make sure Debian's `chromium` is on PATH, and set CHROMIUM_BIN to its path
# (tests/viewer.rs renders the trace viewer's pages in it, headless). Debian's own build runs
# without a download of its own, which test tools' bundled browsers need and cannot do offline.
ensure_chromium() {
    ensure_apt_cmd chromium chromium "a headless browser for the trace viewer's tests"
    CHROMIUM_BIN=$(command -v chromium)
}

# ensure_nginx: make sure Debian's `nginx` is installed, and set NGINX_BIN to its path
# (tests/replicas.rs balances two replicas of every service with it, started by the tests
# themselves on loopback ports: the package's own server is never started, and Debian's policy
# keeps it from starting in a container). nginx lives in /usr/sbin, which is not on every user's
# PATH.
ensure_nginx() {
    PATH="$PATH:/usr/sbin" ensure_apt_cmd nginx nginx "the load balancer of the replicated tests"
    NGINX_BIN=$(PATH="$PATH:/usr/sbin" command -v nginx)
}

# cargo_build_release: build every binary of the workspace in release mode (into
# "$(cargo_target_dir)/release").
cargo_build_release() {
    cargo build --release --workspace --bins
}

# cargo_target_dir: print where cargo builds: target/ in the project, or wherever CARGO_TARGET_DIR
# or a cargo config's build.target-dir says, as `cargo metadata` reports it.
cargo_target_dir() {
    local metadata
    metadata=$(cd -- "$PROJECT_ROOT" && cargo metadata --format-version 1 --no-deps) ||
        die "cargo metadata failed (see above): cannot tell where cargo builds"
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata"
}

# --- the platform ---------------------------------------------------------------------------

# start_launcher STATE_FILE COMMAND...: run COMMAND (the launcher with its arguments, and any
# environment before it: env X=1 .../launcher --state STATE_FILE ...) in the background, in a
# session of its own, so that a Ctrl-C in the terminal reaches this script alone, whose trap then
# stops the platform with stop_launcher. Waits until the launcher has written STATE_FILE: every
# process of the platform is ready. Sets LAUNCHER_PID. Returns 1 if the launcher exits first
# (it said why on stderr).
start_launcher() {
    local state=$1
    shift
    rm -f -- "$state"
    # In a non-interactive shell a background job is not a process-group leader, so setsid execs
    # in place and $! is the launcher itself.
    setsid "$@" </dev/null &
    LAUNCHER_PID=$!
    until [[ -s "$state" ]]; do
        if ! kill -0 "$LAUNCHER_PID" 2>/dev/null; then
            wait "$LAUNCHER_PID" 2>/dev/null || true
            LAUNCHER_PID=""
            return 1
        fi
        sleep 0.2
    done
}

# stop_launcher: ask the launcher to stop the platform (SIGTERM: the services, then the database)
# and wait until it has. Returns the launcher's status.
stop_launcher() {
    local status=0
    [[ -n "${LAUNCHER_PID:-}" ]] || return 0
    kill -TERM "$LAUNCHER_PID" 2>/dev/null || true
    wait "$LAUNCHER_PID" 2>/dev/null || status=$?
    LAUNCHER_PID=""
    return "$status"
}

# launcher_state STATE_FILE: the processes the launcher runs, one per line: NAME PORT PID LOG.
launcher_state() {
    python3 - "$1" <<'PY'
import json, sys
for process in json.load(open(sys.argv[1]))["processes"]:
    print(process["name"], process["port"], process["pid"], process["log"])
PY
}

# --- network --------------------------------------------------------------------------------

# port_in_use PORT: true when something listens on TCP PORT (any local address).
port_in_use() {
    local port=$1 listeners
    # ss sees listeners on every address; if it is missing or not allowed to read sockets here,
    # fall back to trying to connect on loopback, which is what our services and clients use.
    if listeners=$(ss -Hltn "sport = :$port" 2>/dev/null); then
        [[ -n "$listeners" ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

# --- processes ------------------------------------------------------------------------------

# show_log_tail FILE: the last lines of a log, to explain a failure without opening the file.
show_log_tail() {
    local file=$1
    if [[ -s "$file" ]]; then
        printf -- '--- last 40 lines of %s ---\n' "$file" >&2
        tail -n 40 -- "$file" >&2
        printf -- '--- end of %s ---\n' "$file" >&2
    else
        printf '(%s is empty)\n' "$file" >&2
    fi
}

# stop_processes NAME=PID...: SIGTERM them all at once, wait up to 10 s (the services promise
# 5 s), then SIGKILL what is left. Reaps them so no zombie stays behind.
stop_processes() {
    local entry name pid alive
    for entry in "$@"; do
        pid=${entry#*=}
        kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in {1..100}; do
        alive=false
        for entry in "$@"; do
            if kill -0 "${entry#*=}" 2>/dev/null; then
                alive=true
            fi
        done
        $alive || break
        sleep 0.1
    done
    for entry in "$@"; do
        name=${entry%%=*} pid=${entry#*=}
        if kill -0 "$pid" 2>/dev/null; then
            warn "$name (pid $pid) did not stop within 10 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}
