#!/usr/bin/env bash
#
# Walks the platform's story against a running platform (scripts/up.sh, docker compose or pm2),
# with curl: the administrator creates a reader and a writer, the writer posts, the reader reads,
# and three requests are refused on purpose (a reader's write, a wrong password, an anonymous
# read) so that error traces are there to look at too. Each step prints what it does, the HTTP
# status and the trace it was served in, with its link in the Jaeger UI. When a trace viewer answers
# there (`traces serve`, which scripts/up.sh starts when nothing receives spans, or Jaeger v2), it
# ends with each step's trace drawn as a waterfall in the terminal (`traces show`), and the reader's
# list of blogs beside the anonymous one that was refused (`traces diff --baseline`): what the
# refused request never did comes first, as docs/scenarios.md finds a cause.
#
# Users get new names at every run (reader-<time>-<random>, ...), so it can run again and again.
# Exits 1 if any step's status is not the expected one. Run with --help for the settings.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<'EOF'
Usage: scripts/demo.sh

Environment (all optional):
  AUTHEN_PORT, USER_PORT, BLOG_PORT, AUTHOR_PORT   service ports (3001, 3002, 3003, 3004)
  HOST            where the services listen (127.0.0.1)
  ADMIN_USERNAME  the administrator (admin)
  ADMIN_PASSWORD  its password (default: the one scripts/up.sh saved in .data/admin-password)
  JAEGER_UI       the Jaeger UI or trace viewer the trace links point to (http://localhost:16686);
                  when its query API answers, each step's trace is shown at the end
EOF
}

case "${1:-}" in
    "") ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
esac

require_cmd curl python3

HOST=${HOST:-127.0.0.1}
AUTHEN_URL="http://$HOST:${AUTHEN_PORT:-3001}"
USER_URL="http://$HOST:${USER_PORT:-3002}"
BLOG_URL="http://$HOST:${BLOG_PORT:-3003}"
AUTHOR_URL="http://$HOST:${AUTHOR_PORT:-3004}"
JAEGER_UI=${JAEGER_UI:-http://localhost:16686}
JAEGER_UI=${JAEGER_UI%/}

WORK=$(mktemp -d)
trap 'rm -rf -- "$WORK"' EXIT

# --- helpers --------------------------------------------------------------------------------

# json_body KEY=STRING | KEY:=RAW_JSON ...: print a JSON object (python3 does the escaping).
json_body() {
    python3 - "$@" <<'PY'
import json, sys
body = {}
for arg in sys.argv[1:]:
    key, value = arg.split("=", 1)
    if key.endswith(":"):
        body[key[:-1]] = json.loads(value)
    else:
        body[key] = value
print(json.dumps(body))
PY
}

# json_field KEY: print the top-level KEY of the JSON in the last response's body (empty if none).
json_field() {
    python3 - "$1" "$WORK/body" <<'PY'
import json, sys
try:
    with open(sys.argv[2], encoding="utf-8") as body:
        value = json.load(body).get(sys.argv[1], "")
except (ValueError, AttributeError):
    value = ""
print(value if isinstance(value, str) else json.dumps(value))
PY
}

STEP=0
FAILED=()
STATUS=""
TRACES=()       # the trace id of each step ("" when it had none)
DESCRIPTIONS=() # what each step did

# step EXPECTED DESCRIPTION METHOD URL [TOKEN] [BODY]: send one request, print what it was for,
# its status and its trace. The body and headers stay in $WORK for json_field.
step() {
    local expected=$1 description=$2 method=$3 url=$4 token=${5:-} body=${6:-}
    STEP=$((STEP + 1))
    printf '\n%2d. %s\n    %s %s\n' "$STEP" "$description" "$method" "$url"

    # The token goes in a header file and the body on stdin, not on curl's command line.
    local args=(-s -X "$method" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}'
        --max-time 10 -H 'accept: application/json')
    : >"$WORK/auth"
    if [[ -n "$token" ]]; then
        printf 'Authorization: Bearer %s\n' "$token" >"$WORK/auth"
        args+=(-H "@$WORK/auth")
    fi
    if [[ -n "$body" ]]; then
        args+=(-H 'content-type: application/json' --data-binary @-)
    fi
    : >"$WORK/body"
    : >"$WORK/headers"
    STATUS=$(curl "${args[@]}" "$url" <<<"$body") || STATUS=000

    # traceresponse: 00-<trace-id>-<span-id>-<flags>
    local traceresponse trace_id=""
    traceresponse=$(tr -d '\r' <"$WORK/headers" | sed -n 's/^traceresponse:[[:space:]]*//Ip' | tail -n 1)
    if [[ "$traceresponse" =~ ^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$ ]]; then
        trace_id=${BASH_REMATCH[1]}
    fi

    local verdict="as expected"
    if [[ "$STATUS" != "$expected" ]]; then
        verdict="EXPECTED $expected"
        FAILED+=("$STEP")
    fi
    if [[ "$STATUS" == 000 ]]; then
        printf '    no answer (%s)\n' "$verdict"
    else
        printf '    HTTP %s (%s)' "$STATUS" "$verdict"
        if [[ "$STATUS" -ge 400 ]]; then
            # Problem details: the title and detail say why.
            printf ': %s' "$(json_field title)"
            local detail
            detail=$(json_field detail)
            [[ -z "$detail" ]] || printf ' - %s' "$detail"
        fi
        printf '\n'
    fi
    TRACES+=("$trace_id")
    DESCRIPTIONS+=("$description")
    if [[ -n "$trace_id" ]]; then
        printf '    trace %s  %s/trace/%s\n' "$trace_id" "$JAEGER_UI" "$trace_id"
    elif [[ "$STATUS" != 000 ]]; then
        printf '    (no traceresponse header)\n'
    fi
}

# need VALUE WHAT [HINT]: stop when a step the rest depends on did not give VALUE.
need() {
    if [[ -z "$1" ]]; then
        printf '\n' >&2
        die "step $STEP did not give $2 (HTTP $STATUS), which the rest of the story needs${3:+; $3}"
    fi
}

# show_traces: each step's trace as a waterfall (`traces show`), when the traces binary is built
# and a viewer's query API answers at $JAEGER_UI. Spans leave the services in batches (every
# OTEL_BSP_SCHEDULE_DELAY, 5 s by default), so the last step's trace is waited for first.
show_traces() {
    local traces
    traces="$(cargo_target_dir)/release/traces"
    [[ -x "$traces" ]] || return 0
    curl -sf -o /dev/null --max-time 2 "$JAEGER_UI/api/v3/services" || return 0
    local last=${TRACES[-1]} waited=0
    printf '\nThe traces, as %s received them:\n' "$JAEGER_UI"
    while [[ -n "$last" ]] && ! "$traces" show "$last" --from "$JAEGER_UI" >/dev/null 2>&1; do
        ((waited++ < 15)) || break
        sleep 1
    done
    local i
    for i in "${!TRACES[@]}"; do
        [[ -n "${TRACES[i]}" ]] || continue
        printf '\n%2d. %s\n' "$((i + 1))" "${DESCRIPTIONS[i]}"
        "$traces" show "${TRACES[i]}" --from "$JAEGER_UI" || true
    done
    [[ -n "$LIST_TRACE" && -n "$REFUSED_LIST_TRACE" ]] || return 0
    # Jaeger has no comparison: only the trace viewer answers it. The baseline is named rather
    # than the typical GET /blogs, which on a fresh platform is made of the refused list alone.
    printf '\nThe reader'"'"'s list beside the refused one (traces diff --baseline; the span whose own\ntime changed most comes first: the database, which the refused request never reached):\n'
    "$traces" diff "$LIST_TRACE" --baseline "$REFUSED_LIST_TRACE" --from "$JAEGER_UI" 2>/dev/null ||
        printf '    (%s does not compare traces: the trace viewer, traces serve, does)\n' "$JAEGER_UI"
}

# --- the story ------------------------------------------------------------------------------

for url in "$AUTHEN_URL" "$USER_URL" "$BLOG_URL" "$AUTHOR_URL"; do
    if ! curl -s -o /dev/null --max-time 3 "$url/healthz"; then
        die "nothing answers at $url/healthz: start the platform first (scripts/up.sh), or set the *_PORT variables to where it runs"
    fi
done

ADMIN_USER=${ADMIN_USERNAME:-admin}
if [[ -n "${ADMIN_PASSWORD:-}" ]]; then
    ADMIN_PASS=$ADMIN_PASSWORD
elif [[ -s "$PROJECT_ROOT/.data/admin-password" ]]; then
    ADMIN_PASS=$(<"$PROJECT_ROOT/.data/admin-password")
else
    die "no admin password: set ADMIN_PASSWORD (and ADMIN_USERNAME if it is not admin), or start the platform with scripts/up.sh, which saves it in .data/admin-password"
fi

RUN="$(date +%m%d%H%M%S)-$RANDOM"
READER="reader-$RUN"
WRITER="writer-$RUN"
READER_PASS="reader-pass-$RANDOM$RANDOM"
WRITER_PASS="writer-pass-$RANDOM$RANDOM"

info "The blog platform's story, run $RUN. The trace links open $JAEGER_UI, which has the"
info "traces if it is the collector the services export to (docker compose up -d jaeger)."

step 200 "The administrator '$ADMIN_USER' logs in at authen-service" \
    POST "$AUTHEN_URL/login" "" "$(json_body "username=$ADMIN_USER" "password=$ADMIN_PASS")"
ADMIN_TOKEN=$(json_field access_token)
need "$ADMIN_TOKEN" "an access token for the administrator" \
    "are ADMIN_USERNAME ($ADMIN_USER) and ADMIN_PASSWORD (or .data/admin-password) the platform's?"

step 201 "The administrator creates the reader '$READER' (READ)" \
    POST "$USER_URL/users" "$ADMIN_TOKEN" \
    "$(json_body "username=$READER" "password=$READER_PASS" 'permissions:=["READ"]')"

step 201 "The administrator creates the writer '$WRITER' (READ, WRITE)" \
    POST "$USER_URL/users" "$ADMIN_TOKEN" \
    "$(json_body "username=$WRITER" "password=$WRITER_PASS" 'permissions:=["READ","WRITE"]')"

step 200 "The writer logs in" \
    POST "$AUTHEN_URL/login" "" "$(json_body "username=$WRITER" "password=$WRITER_PASS")"
WRITER_TOKEN=$(json_field access_token)
need "$WRITER_TOKEN" "an access token for the writer"

step 201 "The writer posts a blog (blog-service asks author-service: may this token WRITE?)" \
    POST "$BLOG_URL/blogs" "$WRITER_TOKEN" \
    "$(json_body "title=Hello from run $RUN" "content=Posted by scripts/demo.sh.")"
BLOG_ID=$(json_field id)
need "$BLOG_ID" "the new blog's id"

step 200 "The reader logs in" \
    POST "$AUTHEN_URL/login" "" "$(json_body "username=$READER" "password=$READER_PASS")"
READER_TOKEN=$(json_field access_token)
need "$READER_TOKEN" "an access token for the reader"

step 200 "The reader lists the blogs, newest first" \
    GET "$BLOG_URL/blogs?limit=5" "$READER_TOKEN"
LIST_TRACE=${TRACES[-1]}
printf '    blogs in all: %s; the newest: "%s"\n' "$(json_field total)" \
    "$(python3 -c 'import json,sys; items=json.load(open(sys.argv[1]))["items"]; print(items[0]["title"] if items else "")' "$WORK/body" 2>/dev/null || true)"

step 200 "The reader reads the new blog" \
    GET "$BLOG_URL/blogs/$BLOG_ID" "$READER_TOKEN"

printf '\nAnd three refusals, to see what errors look like in a trace:\n'

step 403 "The reader tries to post: author-service says the token lacks WRITE, nothing is stored" \
    POST "$BLOG_URL/blogs" "$READER_TOKEN" "$(json_body "title=Nope" "content=Readers cannot post.")"

step 401 "Someone logs in as the writer with a wrong password" \
    POST "$AUTHEN_URL/login" "" "$(json_body "username=$WRITER" "password=not-the-password")"

step 401 "Someone lists the blogs without a token" \
    GET "$BLOG_URL/blogs"
REFUSED_LIST_TRACE=${TRACES[-1]}

show_traces

echo
if ((${#FAILED[@]} > 0)); then
    die "step(s) ${FAILED[*]} did not answer as expected (see above)"
fi
info "All $STEP steps answered as expected. Open a trace link above, or search Jaeger for the"
info "services (blog-service, author-service, ...) to see every hop, MongoDB commands included."
