#!/usr/bin/env bash
#
# The one command to try the blog platform on a fresh machine: it makes the signing keys, builds
# the four services, starts an embedded MongoDB-compatible server (nx-27017) and the services on
# 127.0.0.1, prints what runs where and a curl walkthrough, then waits. Ctrl-C stops everything
# it started. Run with --help for the settings.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<'EOF'
Usage: scripts/up.sh

Builds and starts MongoDB (embedded nx-27017) and the four services in the foreground; Ctrl-C
stops them all. Everything it writes goes under .data/ (git-ignored):
  .data/mongo/              the embedded server's databases (kept across runs; delete to start afresh)
  .data/logs/<name>.log     each process's output (rewritten at every start)
  .data/admin-password      the generated admin password (mode 0600)

Environment (all optional):
  AUTHEN_PORT, USER_PORT, BLOG_PORT, AUTHOR_PORT   service ports (3001, 3002, 3003, 3004)
  MONGO_PORT            port of the embedded server (27017)
  MONGODB_URI           use this MongoDB instead of starting the embedded server
  MONGODB_DB            database name (the services' default: blog)
  ADMIN_USERNAME        administrator created at start by user-service (admin)
  ADMIN_PASSWORD        its password (default: .data/admin-password, generated on first run)
  JWT_PRIVATE_KEY, JWT_PUBLIC_KEY   key files (keys/private.pem, keys/public.pem; made if missing)
  FLAGS_FILE            the scenario flags (flags.json; switch them with scripts/scenario.sh)
  OTEL_*, RUST_LOG      passed through to the services

The services bind 127.0.0.1 only. up.sh sets PORT, HOST, AUTHOR_URL, MONGODB_URI and
ADMIN_USERNAME/ADMIN_PASSWORD for them itself, so those values in a .env file are not used:
export them in your shell instead.
EOF
}

case "${1:-}" in
    "") ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
esac

# --- settings -------------------------------------------------------------------------------

AUTHEN_PORT=${AUTHEN_PORT:-3001}
USER_PORT=${USER_PORT:-3002}
BLOG_PORT=${BLOG_PORT:-3003}
AUTHOR_PORT=${AUTHOR_PORT:-3004}
MONGO_PORT=${MONGO_PORT:-27017}

# Start order: author-service first, since the /readyz of user- and blog-service asks it.
readonly SERVICES=(author authen user blog)
declare -A PORT_OF=([authen]=$AUTHEN_PORT [user]=$USER_PORT [blog]=$BLOG_PORT [author]=$AUTHOR_PORT)
declare -A PID_OF=()

readonly DATA_DIR=.data # relative to the project root, which is our cwd from here on
readonly LOG_DIR="$DATA_DIR/logs"
readonly NX_PID_FILE="$DATA_DIR/nx-27017.pid"
readonly NX_LOG="$LOG_DIR/nx-27017.log"
# nx-27017 logs both to --log-file and to stderr; stderr also gets Python tracebacks from a crash
# at start, so it is kept too, in its own file rather than doubling every line of the log.
readonly NX_CONSOLE_LOG="$LOG_DIR/nx-27017.console.log"
readonly ADMIN_PASSWORD_FILE="$DATA_DIR/admin-password"

NX_PID=""           # set when we started the embedded server
EMBEDDED_MONGO=false
ADMIN_USER=""
ADMIN_PASS=""
ADMIN_PASS_SOURCE="" # env | file | generated
ADMIN_MAY_EXIST=false # a generated password cannot apply to an administrator created earlier

log_of() {
    printf '%s/%s-service.log' "$LOG_DIR" "$1"
}

check_settings() {
    local name port seen=" "
    for name in AUTHEN_PORT USER_PORT BLOG_PORT AUTHOR_PORT MONGO_PORT; do
        port=${!name}
        if [[ ! "$port" =~ ^[0-9]+$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
            die "$name=$port is not a TCP port number (1-65535)"
        fi
        if [[ "$seen" == *" $port "* ]]; then
            die "$name=$port: that port is already given to another process; the five ports must differ"
        fi
        seen+="$port "
    done
}

check_ports_free() {
    local svc
    for svc in "${SERVICES[@]}"; do
        free_port_check "${PORT_OF[$svc]}" "$svc-service"
    done
    if [[ -z "${MONGODB_URI:-}" ]]; then
        free_port_check "$MONGO_PORT" "the embedded MongoDB server nx-27017; set MONGO_PORT to use another"
    fi
}

# --- keys -----------------------------------------------------------------------------------

ensure_keys() {
    # Paths as the services will see them: relative ones are relative to the project root.
    local private=${JWT_PRIVATE_KEY:-keys/private.pem}
    local public=${JWT_PUBLIC_KEY:-keys/public.pem}

    if [[ -n "${JWT_PRIVATE_KEY:-}${JWT_PUBLIC_KEY:-}" ]]; then
        # Keys chosen by the user: check them, never generate over them.
        [[ -r "$private" ]] || die "JWT_PRIVATE_KEY: $private is not a readable file (relative paths start at $PROJECT_ROOT)"
        [[ -r "$public" ]] || die "JWT_PUBLIC_KEY: $public is not a readable file (relative paths start at $PROJECT_ROOT)"
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

# --- processes ------------------------------------------------------------------------------

# Every process is started with setsid, in a session of its own: a Ctrl-C in the terminal then
# reaches only this script, which stops the services first and the database last, in order,
# instead of everyone getting SIGINT at once. (In a non-interactive shell a background job is not
# a process-group leader, so setsid execs in place and $! is the real process id.)

start_mongo() {
    if [[ -n "${MONGODB_URI:-}" ]]; then
        info "MONGODB_URI is set: using that database, not starting the embedded server"
        return 0
    fi
    # (ensure_nx_venv has run before the build, so $NX_BIN is in place.)

    # nx-27017 refuses to start while its pid file names a live process, so deal with the file
    # left by a run that did not stop cleanly (kill -9, a crash, a reboot).
    if [[ -f "$NX_PID_FILE" ]]; then
        local old
        old=$(<"$NX_PID_FILE")
        if [[ "$old" =~ ^[0-9]+$ ]] && kill -0 "$old" 2>/dev/null &&
            tr '\0' ' ' 2>/dev/null <"/proc/$old/cmdline" | grep -q nx-27017; then
            die "nx-27017 from an earlier run is still running (pid $old, see $NX_PID_FILE); stop it with: kill $old"
        fi
        info "removing the stale pid file $NX_PID_FILE (process ${old:-?} is gone)"
        rm -f -- "$NX_PID_FILE"
    fi

    mkdir -p -- "$DATA_DIR/mongo"
    : >"$NX_LOG"
    info "starting nx-27017 on 127.0.0.1:$MONGO_PORT (data in $DATA_DIR/mongo)"
    setsid "$NX_BIN" --host 127.0.0.1 -p "$MONGO_PORT" \
        --data-dir "$PROJECT_ROOT/$DATA_DIR/mongo" \
        --pid-file "$PROJECT_ROOT/$NX_PID_FILE" \
        --log-file "$PROJECT_ROOT/$NX_LOG" \
        </dev/null >"$NX_CONSOLE_LOG" 2>&1 &
    NX_PID=$!
    EMBEDDED_MONGO=true
    if ! wait_tcp 127.0.0.1 "$MONGO_PORT" 30 "$NX_PID"; then
        show_log_tail "$NX_CONSOLE_LOG"
        die "the embedded MongoDB server did not start"
    fi
    export MONGODB_URI="mongodb://127.0.0.1:$MONGO_PORT"
}

start_service() {
    local svc=$1
    local bin="target/release/$svc-service" log
    log=$(log_of "$svc")
    [[ -x "$bin" ]] || die "$bin is missing although the build succeeded; is the binary named $svc-service?"

    local env_args=(
        PORT="${PORT_OF[$svc]}"
        HOST=127.0.0.1
        AUTHOR_URL="http://127.0.0.1:$AUTHOR_PORT"
        FLAGS_FILE="${FLAGS_FILE:-$PROJECT_ROOT/flags.json}"
    )
    if [[ "$svc" == user ]]; then
        # Only user-service bootstraps the administrator, so only it gets the password.
        env_args+=(ADMIN_USERNAME="$ADMIN_USER" ADMIN_PASSWORD="$ADMIN_PASS")
    fi
    info "starting $svc-service on 127.0.0.1:${PORT_OF[$svc]}"
    setsid env "${env_args[@]}" "$bin" </dev/null >"$log" 2>&1 &
    PID_OF[$svc]=$!
}

CLEANED_UP=false
# cleanup: the EXIT trap. Stops whatever was started (services, then the database, which they
# use until they are down), then checks that their ports are free again.
cleanup() {
    local status=$?
    if $CLEANED_UP; then
        return
    fi
    CLEANED_UP=true
    # Carry on whatever fails here (even writing to a terminal that hung up): leaving processes
    # behind is worse than a lost message.
    set +e
    # Stopping is bounded (about 20 s at worst); a second Ctrl-C must not cut it short and leave
    # processes behind, and neither may a closed stdout (PIPE: see the traps in main).
    trap '' INT TERM HUP PIPE

    local svc entries=() ports=()
    for svc in "${SERVICES[@]}"; do
        if [[ -n "${PID_OF[$svc]:-}" ]]; then
            entries+=("$svc-service=${PID_OF[$svc]}")
        fi
    done
    if ((${#entries[@]} == 0)) && [[ -z "$NX_PID" ]]; then
        exit "$status"
    fi

    echo
    info "stopping..."
    if ((${#entries[@]} > 0)); then
        stop_processes "${entries[@]}"
    fi
    if [[ -n "$NX_PID" ]]; then
        stop_processes "nx-27017=$NX_PID"
        rm -f -- "$NX_PID_FILE" # nx-27017 removes it itself, unless it had to be killed
    fi

    for svc in "${SERVICES[@]}"; do
        ports+=("${PORT_OF[$svc]}")
    done
    if $EMBEDDED_MONGO; then
        ports+=("$MONGO_PORT")
    fi
    local port busy=()
    for port in "${ports[@]}"; do
        if port_in_use "$port"; then
            busy+=("$port")
        fi
    done
    if ((${#busy[@]} > 0)); then
        warn "something still listens on port(s) ${busy[*]}: see ss -ltnp"
        ((status != 0)) || status=1
    else
        info "stopped; nothing is listening on ports ${ports[*]} any more"
    fi
    exit "$status"
}

# --- output ---------------------------------------------------------------------------------

print_table() {
    local svc
    echo
    printf '%-16s %-34s %-8s %s\n' PROCESS URL PID LOG
    for svc in "${SERVICES[@]}"; do
        printf '%-16s %-34s %-8s %s\n' "$svc-service" "http://127.0.0.1:${PORT_OF[$svc]}" \
            "${PID_OF[$svc]}" "$(log_of "$svc")"
    done
    if $EMBEDDED_MONGO; then
        printf '%-16s %-34s %-8s %s\n' nx-27017 "$MONGODB_URI" "$NX_PID" "$NX_LOG"
    else
        printf '%-16s %-34s %-8s %s\n' mongodb "(MONGODB_URI from your environment)" - -
    fi
}

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
    # A local collector that is not running is the usual reason for "where are my traces?".
    local hostport=${endpoint#*://}
    hostport=${hostport%%/*}
    local host=${hostport%:*} port=${hostport##*:}
    if [[ "$host" =~ ^(localhost|127\.0\.0\.1)$ && "$port" =~ ^[0-9]+$ ]] && ! port_in_use "$port"; then
        info "  Nothing listens on port $port right now."
    fi
    info "  Without a collector running there, spans are dropped silently (the services work as usual)."
    info "  'docker compose up -d jaeger' starts one, with the Jaeger UI at http://localhost:16686;"
    info "  search there for the trace id from any response's traceresponse header (00-<trace-id>-<span-id>-01)."
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
ADMIN_TOKEN=\$(curl -s -w "\$W" -X POST localhost:$AUTHEN_PORT/login $json -d "{\"username\":\"$ADMIN_USER\",\"password\":\"$password_expr\"}" | $token_of)

# 2. The administrator creates a reader (READ) and a writer (READ, WRITE) at user-service.
#    (Run again, these answer 409: the users exist already.)
curl -s -w "\$W" -X POST localhost:$USER_PORT/users -H "Authorization: Bearer \$ADMIN_TOKEN" $json -d '{"username":"reader","password":"reader-pass-1","permissions":["READ"]}'; echo
curl -s -w "\$W" -X POST localhost:$USER_PORT/users -H "Authorization: Bearer \$ADMIN_TOKEN" $json -d '{"username":"writer","password":"writer-pass-1","permissions":["READ","WRITE"]}'; echo

# 3. The writer logs in and posts a blog (blog-service asks author-service: may this token WRITE?).
WRITER_TOKEN=\$(curl -s -w "\$W" -X POST localhost:$AUTHEN_PORT/login $json -d '{"username":"writer","password":"writer-pass-1"}' | $token_of)
BLOG_ID=\$(curl -s -w "\$W" -X POST localhost:$BLOG_PORT/blogs -H "Authorization: Bearer \$WRITER_TOKEN" $json -d '{"title":"Hello","content":"First post"}' | $id_of); echo "BLOG_ID=\$BLOG_ID"

# 4. The reader logs in, lists the blogs (newest first) and reads the new one.
READER_TOKEN=\$(curl -s -w "\$W" -X POST localhost:$AUTHEN_PORT/login $json -d '{"username":"reader","password":"reader-pass-1"}' | $token_of)
curl -i "localhost:$BLOG_PORT/blogs?limit=20" -H "Authorization: Bearer \$READER_TOKEN"; echo
curl -i "localhost:$BLOG_PORT/blogs/\$BLOG_ID" -H "Authorization: Bearer \$READER_TOKEN"; echo

# 5. The reader may not write: 403, a problem+json body, and nothing is stored.
curl -i -X POST localhost:$BLOG_PORT/blogs -H "Authorization: Bearer \$READER_TOKEN" $json -d '{"title":"Nope","content":"readers cannot post"}'; echo

# The public key tokens are checked against (JWKS):
curl -s localhost:$AUTHEN_PORT/.well-known/jwks.json; echo
---------------------------------------------------------------------------------------------
EOF
}

# --- main -----------------------------------------------------------------------------------

cd "$PROJECT_ROOT"
check_settings

step "Checking the tools"
require_cmd cargo curl openssl python3 setsid

if [[ -f .env ]]; then
    warn ".env exists: the services read it, but PORT, HOST, AUTHOR_URL, MONGODB_URI and ADMIN_* set by up.sh take precedence (export them in your shell to change them)"
fi

# Fail before a long build rather than after it; checked again right before starting, since the
# build can take minutes.
check_ports_free

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

mkdir -p -- "$LOG_DIR"
setup_admin

# From here on, leave by `exit` only, so that cleanup runs. A signal without a trap would kill
# this script without running the EXIT trap and leave the processes running. That includes PIPE:
# with `scripts/up.sh | tee log`, Ctrl-C also kills tee, and the next line written here would.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

step "Starting"
check_ports_free
start_mongo
for svc in "${SERVICES[@]}"; do
    start_service "$svc"
done

# All four start at once; each /readyz turns 200 once its own dependencies answer.
for svc in "${SERVICES[@]}"; do
    if ! wait_http "http://127.0.0.1:${PORT_OF[$svc]}/readyz" 60 "${PID_OF[$svc]}"; then
        show_log_tail "$(log_of "$svc")"
        die "$svc-service did not become ready; stopping everything"
    fi
    info "$svc-service is ready"
done

print_table
print_admin
print_tracing
print_walkthrough
echo
info "All running. Press Ctrl-C to stop everything."

# Watch the processes until a signal arrives (the traps above exit, and cleanup stops the rest)
# or one of them dies on its own, which is reported before everything else is stopped.
while :; do
    for svc in "${SERVICES[@]}"; do
        if ! kill -0 "${PID_OF[$svc]}" 2>/dev/null; then
            status=0
            wait "${PID_OF[$svc]}" 2>/dev/null || status=$?
            err "$svc-service (pid ${PID_OF[$svc]}) exited unexpectedly (status $status)"
            show_log_tail "$(log_of "$svc")"
            unset 'PID_OF[$svc]'
            exit 1
        fi
    done
    if [[ -n "$NX_PID" ]] && ! kill -0 "$NX_PID" 2>/dev/null; then
        err "nx-27017 (pid $NX_PID) exited unexpectedly"
        show_log_tail "$NX_CONSOLE_LOG"
        NX_PID=""
        exit 1
    fi
    # sleep in the foreground delays a trap by at most this second; fine for a watcher.
    sleep 1
done
