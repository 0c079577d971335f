#!/usr/bin/env bash
#
# The one command to try the blog platform on a fresh machine: it makes the signing keys, builds
# the workspace, and has the launcher (tools/launcher, the platform's one definition) start an
# embedded MongoDB-compatible server (nx-27017), the local trace viewer when nothing else receives
# spans, and the services on 127.0.0.1; then it prints the administrator's password and a curl
# walkthrough, and waits. Ctrl-C stops everything it started.
# Run with --help for the settings.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<'EOF'
Usage: scripts/up.sh

Builds and starts MongoDB (embedded nx-27017), the local trace viewer (when nothing listens on
the OTLP port) and the four services in the foreground; Ctrl-C stops them all. Everything it writes goes under .data/ (git-ignored):
  .data/mongo/              the embedded server's databases (kept across runs; delete to start afresh)
  .data/traces/             the local trace viewer's traces, logs and counts (kept across runs)
  .data/logs/<name>.log     each process's output (rewritten at every start)
  .data/platform.json       what runs (name, port, pid, log of each process), while it runs
  .data/admin-password      the generated admin password (mode 0600)

Environment (all optional):
  AUTHEN_PORT, USER_PORT, BLOG_PORT, AUTHOR_PORT   service ports (3001, 3002, 3003, 3004;
                        0: any free port, shown once running)
  MONGO_PORT            port of the embedded server (27017)
  MONGODB_URI           use this MongoDB instead of starting the embedded server
  MONGODB_DB            database name (the services' default: blog)
  ADMIN_USERNAME        administrator created at start by user-service (admin)
  ADMIN_PASSWORD        its password (default: .data/admin-password, generated on first run)
  JWT_PRIVATE_KEY, JWT_PUBLIC_KEY   key files (keys/private.pem, keys/public.pem; made if missing;
                        JWT_PUBLIC_KEY may list several, comma-separated: keys/README.md)
  FLAGS_FILE            the scenario flags (flags.json; switch them with scripts/scenario.sh)
  OTEL_*, RUST_LOG      passed through to the services

The services bind 127.0.0.1 only. up.sh sets PORT, HOST, AUTHOR_URL, MONGODB_URI and
ADMIN_USERNAME/ADMIN_PASSWORD for them itself, so those values in a .env file are not used:
export them in your shell instead. The processes are the launcher's to start and stop:
target/release/launcher --help (in cargo's target directory) describes them.
EOF
}

case "${1:-}" in
    "") ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
esac

# --- settings -------------------------------------------------------------------------------

readonly DATA_DIR=.data # relative to the project root, which is our cwd from here on
readonly STATE_FILE="$DATA_DIR/platform.json"
readonly ADMIN_PASSWORD_FILE="$DATA_DIR/admin-password"

LAUNCHER_PID=""     # the launcher, which runs the platform's processes
declare -A PORT_OF=() # service (authen, user, blog, author) -> the port it listens on
ADMIN_USER=""
ADMIN_PASS=""
ADMIN_PASS_SOURCE="" # env | file | generated
ADMIN_MAY_EXIST=false # a generated password cannot apply to an administrator created earlier

# --- keys -----------------------------------------------------------------------------------

ensure_keys() {
    # Paths as the services will see them: relative ones are relative to the project root.
    local private=${JWT_PRIVATE_KEY:-keys/private.pem}
    local public=${JWT_PUBLIC_KEY:-keys/public.pem}

    if [[ -n "${JWT_PRIVATE_KEY:-}${JWT_PUBLIC_KEY:-}" ]]; then
        # Keys chosen by the user: check them, never generate over them.
        [[ -r "$private" ]] || die "JWT_PRIVATE_KEY: $private is not a readable file (relative paths start at $PROJECT_ROOT)"
        # JWT_PUBLIC_KEY may list several files, separated by commas (keys/README.md).
        local file files
        IFS=, read -ra files <<<"$public"
        for file in "${files[@]}"; do
            file=${file#"${file%%[! ]*}"}
            file=${file%"${file##*[! ]}"}
            [[ -r "$file" ]] || die "JWT_PUBLIC_KEY: $file is not a readable file (relative paths start at $PROJECT_ROOT)"
        done
        return 0
    fi

    if [[ ! -e "$private" ]]; then
        if [[ -e "$public" ]]; then
            # A public key alone verifies nothing we could sign: replace it along with the new
            # private key.
            info "keys/private.pem is missing; generating a new pair (replacing the lone keys/public.pem)"
            "$PROJECT_ROOT/scripts/gen-keys.sh" --force
        else
            info "keys/private.pem is missing; generating a new key pair"
            "$PROJECT_ROOT/scripts/gen-keys.sh"
        fi
    elif [[ ! -e "$public" ]]; then
        die "keys/public.pem is missing but keys/private.pem exists; run scripts/gen-keys.sh --force for a new pair (tokens signed with the old key will be refused)"
    fi
}

# --- administrator --------------------------------------------------------------------------

setup_admin() {
    ADMIN_USER=${ADMIN_USERNAME:-admin}
    if [[ -n "${ADMIN_PASSWORD:-}" ]]; then
        ADMIN_PASS=$ADMIN_PASSWORD
        ADMIN_PASS_SOURCE="env"
    elif [[ -s "$ADMIN_PASSWORD_FILE" ]]; then
        ADMIN_PASS=$(<"$ADMIN_PASSWORD_FILE")
        ADMIN_PASS_SOURCE="file"
    else
        ADMIN_PASS=$(openssl rand -base64 24)
        # umask first, so the file is never readable by others, not even between create and chmod.
        (umask 077 && printf '%s\n' "$ADMIN_PASS" >"$ADMIN_PASSWORD_FILE.tmp")
        chmod 0600 "$ADMIN_PASSWORD_FILE.tmp"
        mv -f -- "$ADMIN_PASSWORD_FILE.tmp" "$ADMIN_PASSWORD_FILE"
        ADMIN_PASS_SOURCE="generated"
        # The embedded server keeps one file per database (MONGODB_DB, default blog).
        if [[ -n "${MONGODB_URI:-}" || -e "$DATA_DIR/mongo/${MONGODB_DB:-blog}.db" ]]; then
            ADMIN_MAY_EXIST=true
        fi
    fi
    if ((${#ADMIN_PASS} < 8 || ${#ADMIN_PASS} > 128)); then
        warn "the admin password has ${#ADMIN_PASS} characters; user-service accepts 8 to 128"
    fi
}

# --- the platform ---------------------------------------------------------------------------

# start_platform: the launcher (target/release/launcher, the platform's one definition) starts
# the embedded MongoDB server unless MONGODB_URI is set, then the four services in order, and
# prints where each runs once all are ready. It reads the ports and MONGODB_URI from this
# environment; the administrator's credentials go to user-service alone.
start_platform() {
    local launcher
    launcher="$(cargo_target_dir)/release/launcher"
    [[ -x "$launcher" ]] || die "$launcher is missing although the build succeeded"
    # The launcher also starts the local trace viewer (`traces serve`) when nothing listens on
    # the OTLP port (see print_tracing).
    if ! start_launcher "$STATE_FILE" env NX_27017_BIN="$NX_BIN" ADMIN_USERNAME="$ADMIN_USER" \
        ADMIN_PASSWORD="$ADMIN_PASS" "$launcher" --data-dir "$DATA_DIR" --state "$STATE_FILE"; then
        die "the platform did not start (the launcher said why above)"
    fi
    local name port _
    while read -r name port _; do
        PORT_OF[${name%-service}]=$port
    done < <(launcher_state "$STATE_FILE")
}

# on_signal STATUS: the platform stops (the launcher stops the services, then the database,
# and checks that their ports are free), then this script, with STATUS.
# shellcheck disable=SC2317 # called by the traps in main
on_signal() {
    # Stopping is bounded (about 20 s at worst); a second Ctrl-C must not cut it short and leave
    # processes behind, and neither may a closed stdout (PIPE: see the traps in main).
    trap '' INT TERM HUP PIPE
    echo
    stop_launcher || true
    exit "$1"
}

# --- output ---------------------------------------------------------------------------------

print_admin() {
    echo
    case "$ADMIN_PASS_SOURCE" in
        generated)
            info "Administrator: $ADMIN_USER, password (generated now, shown only this once): $ADMIN_PASS"
            info "  saved to $DATA_DIR/admin-password (mode 0600); later runs read it from there."
            if $ADMIN_MAY_EXIST; then
                info "  If '$ADMIN_USER' already existed in this database, its password is unchanged (the"
                info "  bootstrap never overwrites one); delete $DATA_DIR/ to start afresh with the embedded server."
            fi
            ;;
        file) info "Administrator: $ADMIN_USER, password in $DATA_DIR/admin-password" ;;
        env) info "Administrator: $ADMIN_USER, password from ADMIN_PASSWORD" ;;
    esac
}

print_tracing() {
    local endpoint=${OTEL_EXPORTER_OTLP_ENDPOINT:-http://localhost:4317}
    echo
    if [[ "${OTEL_SDK_DISABLED:-}" == true ]]; then
        info "Traces: disabled (OTEL_SDK_DISABLED=true)."
        return
    fi
    info "Traces: sent over OTLP (${OTEL_EXPORTER_OTLP_PROTOCOL:-grpc}) to $endpoint (OTEL_EXPORTER_OTLP_ENDPOINT)."
    if [[ -n "${PORT_OF[traces]:-}" ]]; then
        # Nothing listened there, so the launcher started the local trace viewer on that port.
        info "  Nothing else listened there, so the local trace viewer receives them: open"
        info "  http://localhost:${PORT_OF[traces]}/search, or in a terminal, for the trace id of any"
        info "  response's traceresponse header (00-<trace-id>-<span-id>-01):"
        info "    $(cargo_target_dir)/release/traces show <trace-id>"
        info "  It keeps the last 10 000 traces in $DATA_DIR/traces, so a restart finds them, and stops"
        info "  with the platform (docs/viewer.md)."
        return
    fi
    info "  Search there (Jaeger's UI: http://localhost:16686) for the trace id from any response's"
    info "  traceresponse header (00-<trace-id>-<span-id>-01)."
}

# print_walkthrough: a curl session to copy into another terminal, telling the whole story.
# In the here-document, \$ marks what the reader's shell expands when pasting; plain $ is
# filled in now (ports, paths, the admin's name).
print_walkthrough() {
    local password_expr password_check=""
    if [[ "$ADMIN_PASS_SOURCE" == env ]]; then
        # Never echo a password the user chose; their shell needs it in ADMIN_PASSWORD.
        # shellcheck disable=SC2016 # expanded by the reader's shell, on purpose
        password_expr='$ADMIN_PASSWORD'
        password_check=$'\n# ADMIN_PASSWORD must hold the password you gave up.sh:\n: "${ADMIN_PASSWORD:?set ADMIN_PASSWORD first}"'
    else
        # shellcheck disable=SC2016 # expanded by the reader's shell, on purpose
        password_expr="\$(cat $DATA_DIR/admin-password)"
    fi
    local json='-H '\''content-type: application/json'\'''
    local extract='python3 -c '\''import json,sys;print(json.load(sys.stdin)["%s"])'\'''
    local token_of id_of
    # shellcheck disable=SC2059 # the format is ours
    token_of=$(printf "$extract" access_token)
    # shellcheck disable=SC2059
    id_of=$(printf "$extract" id)

    cat <<EOF

---------------------------------------------------------------------------------------------
Try it (copy into another terminal). Each call prints its HTTP status and the traceresponse
header naming its trace; the -i calls show every header.

cd $(printf '%q' "$PROJECT_ROOT")
W='%{stderr}  -> HTTP %{http_code}  traceresponse: %header{traceresponse}\n'
$password_check
# 1. The administrator logs in at authen-service and keeps the access token.
ADMIN_TOKEN=\$(curl -s -w "\$W" -X POST localhost:${PORT_OF[authen]}/login $json -d "{\"username\":\"$ADMIN_USER\",\"password\":\"$password_expr\"}" | $token_of)

# 2. The administrator creates a reader (READ) and a writer (READ, WRITE) at user-service.
#    (Run again, these answer 409: the users exist already.)
curl -s -w "\$W" -X POST localhost:${PORT_OF[user]}/users -H "Authorization: Bearer \$ADMIN_TOKEN" $json -d '{"username":"reader","password":"reader-pass-1","permissions":["READ"]}'; echo
curl -s -w "\$W" -X POST localhost:${PORT_OF[user]}/users -H "Authorization: Bearer \$ADMIN_TOKEN" $json -d '{"username":"writer","password":"writer-pass-1","permissions":["READ","WRITE"]}'; echo

# 3. The writer logs in and posts a blog (blog-service asks author-service: may this token WRITE?).
WRITER_TOKEN=\$(curl -s -w "\$W" -X POST localhost:${PORT_OF[authen]}/login $json -d '{"username":"writer","password":"writer-pass-1"}' | $token_of)
BLOG_ID=\$(curl -s -w "\$W" -X POST localhost:${PORT_OF[blog]}/blogs -H "Authorization: Bearer \$WRITER_TOKEN" $json -d '{"title":"Hello","content":"First post"}' | $id_of); echo "BLOG_ID=\$BLOG_ID"

# 4. The reader logs in, lists the blogs (newest first) and reads the new one.
READER_TOKEN=\$(curl -s -w "\$W" -X POST localhost:${PORT_OF[authen]}/login $json -d '{"username":"reader","password":"reader-pass-1"}' | $token_of)
curl -i "localhost:${PORT_OF[blog]}/blogs?limit=20" -H "Authorization: Bearer \$READER_TOKEN"; echo
curl -i "localhost:${PORT_OF[blog]}/blogs/\$BLOG_ID" -H "Authorization: Bearer \$READER_TOKEN"; echo

# 5. The reader may not write: 403, a problem+json body, and nothing is stored.
curl -i -X POST localhost:${PORT_OF[blog]}/blogs -H "Authorization: Bearer \$READER_TOKEN" $json -d '{"title":"Nope","content":"readers cannot post"}'; echo

# The public key tokens are checked against (JWKS):
curl -s localhost:${PORT_OF[authen]}/.well-known/jwks.json; echo
---------------------------------------------------------------------------------------------
EOF
}

# --- main -----------------------------------------------------------------------------------

cd "$PROJECT_ROOT"

step "Checking the tools"
require_cmd cargo curl openssl python3 setsid

if [[ -f .env ]]; then
    warn ".env exists: the services read it, but PORT, HOST, AUTHOR_URL, MONGODB_URI and ADMIN_* set by up.sh take precedence (export them in your shell to change them)"
fi

step "Signing keys"
ensure_keys
info "using ${JWT_PRIVATE_KEY:-keys/private.pem} and ${JWT_PUBLIC_KEY:-keys/public.pem}"

if [[ -z "${MONGODB_URI:-}" ]]; then
    step "Embedded MongoDB server (nx-27017 $NX_VERSION in .tools/venv)"
    ensure_nx_venv
    info "$NX_BIN"
fi

step "Building (cargo build --release --workspace --bins)"
cargo_build_release

mkdir -p -- "$DATA_DIR"
setup_admin

# From here on, leave by `exit` only, so that the platform is stopped. A signal without a trap
# would end this script and leave the launcher running. That includes PIPE: with
# `scripts/up.sh | tee log`, Ctrl-C also kills tee, and the next line written here would.
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP
trap 'on_signal 141' PIPE

step "Starting"
start_platform
print_admin
print_tracing
print_walkthrough
echo
info "All running. Press Ctrl-C to stop everything."

# The launcher watches the processes: it returns when one of them dies on its own (it says which,
# with the end of its log, and stops the rest). A signal ends the wait at once; its trap stops it.
status=0
wait "$LAUNCHER_PID" || status=$?
exit "$status"
