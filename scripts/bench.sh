#!/usr/bin/env bash
#
# The benchmark: throughput, latency, CPU and memory of the release services, with tracing at 100%
# and with the OpenTelemetry SDK disabled, written to docs/benchmarks.md. Runs from a fresh clone
# (after scripts/test.sh, or on its own: it builds and installs what it needs). Run with --help.
#
# Everything runs on this machine, so the figures are only as good as the machine is quiet: the
# report measures how much CPU other processes took during each run and says so when it was more
# than a little.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    cat <<'EOF'
Usage: scripts/bench.sh [options]

Builds the services as they ship (the production profile: release with fat LTO), starts
nx-27017 (a MongoDB wire-protocol server), an OTLP trace sink (otlp-sink) and the four services on
free loopback ports with fresh keys, seeds a writer, a reader and --blogs blogs, then drives each
case with wrk at each connection count, once per mode (--modes: by default with tracing at 100%
and with OTEL_SDK_DISABLED=true), restarting everything in between. Writes the report to --out
and prints its summary.

Options:
  --duration T        measured time per run: 10s, 1m or seconds (default 10s)
  --connections "N…"  connection counts for each case (default "16 64")
  --cases "C…"        cases to run, in this order (default: all of them):
                        authorize     POST /authorize            author-service only
                        list-blogs    GET /blogs?limit=20        blog -> author -> MongoDB
                        login         POST /login                authen (argon2id) -> MongoDB
                        login-burst   GET /blogs at 16 connections alone, then with a POST /login
                                      flood (--burst-connections) running at the same time
                        outage        GET /blogs at 16 connections for 15 s, the sink frozen
                                      (SIGSTOP) from the 5th to the 10th second, as a collector
                                      that stops answering: the spans lost (traced mode only)
                        list-blogs-failing  GET /blogs?limit=20 with the authorFailureRate
                                      flag at 0.2: a fifth of the requests fail (503) and
                                      write their log records (two each)
                        create-blog   POST /blogs                blog -> author -> MongoDB
                        viewer        the trace viewer (traces serve), measured by traces-bench
                                      after the platform: spans ingested per second of its CPU,
                                      memory per stored span, p50/p99 of GET /api/v3/traces/{id},
                                      of a search by attribute, of the critical path and the
                                      comparisons of a 1 000-span trace, with 10 000 traces
                                      stored; appended to the report
  --modes "M…"        modes to measure each case in (default "traced untraced"):
                        traced     OTEL_TRACES_SAMPLER=always_on, exported over OTLP/gRPC to the sink
                        untraced   OTEL_SDK_DISABLED=true
                        library    traced, the services built with opentelemetry-otlp's exporter
                                   instead of ours (platform's opentelemetry-otlp-exporter feature)
                        tls-gzip   traced, exported over TLS (the sink's private authority in
                                   OTEL_EXPORTER_OTLP_CERTIFICATE) with OTEL_EXPORTER_OTLP_COMPRESSION=gzip
                        traced-nologs  traced, without log records (OTEL_LOGS_EXPORTER=none): against
                                   traced (which exports them, as shipped), what the records cost
  --burst-connections N   connections of the login flood (default 16)
  --blogs N           blogs to seed before measuring (default 1000)
  --profile P         the cargo profile of the measured services: production (default: what
                      ships) or release (the same code without fat LTO, built in minutes rather
                      than tens of them; its figures compare modes, not what ships)
  --threads N         wrk threads (default 2; never more than the connections)
  --repeat N          run every case and mode N times (default 1), alternating which mode goes
                      first, so that the report can give tracing's overhead as the median of N
                      rounds with their spread instead of one pair of runs
  --out FILE          the markdown report (default docs/benchmarks.md; - for stdout only)
  --note TEXT         a note shown at the top of the report (e.g. "development run, busy machine")
  --keep              keep the working directory (logs, raw results) instead of deleting it
  --update-docs       measure nothing: copy the figures of docs/benchmarks.md (the current report)
                      into README.md, docs/deploy.md and deploy/kubernetes, between their
                      bench:begin and bench:end markers (scripts/bench/docs.py; tests/docs.rs
                      checks that they match)
  -h, --help          show this help

A report written to a file that holds an earlier report moves that one into
docs/benchmarks-history/ first, marked as history.

Cases run in the order given. create-blog adds thousands of blogs, and listing gets slower with
every blog the database counts, so put it after list-blogs and login-burst (as the default order
does) for those to list --blogs blogs. Each mode starts on a fresh database. Ctrl-C stops
everything the benchmark started.
EOF
}

# --- settings -------------------------------------------------------------------------------

# create-blog comes last because it adds blogs, and GET /blogs gets slower with every blog it counts:
# list-blogs and login-burst must both list the same --blogs blogs.
readonly ALL_CASES=(authorize list-blogs list-blogs-failing login login-burst outage create-blog viewer)
readonly ALL_MODES=(traced untraced library tls-gzip traced-nologs)
# The list-blogs-failing case: the share of author-service's answers the authorFailureRate flag
# fails (docs/scenarios.md), and how long the services take at most to read a changed flags file.
readonly FAILURE_RATE=0.2
readonly FLAGS_RELOAD_SECONDS=2
# The outage case: GET /blogs at 16 connections (the target is stated there) for OUTAGE_RUN_SECONDS,
# the sink stopped from OUTAGE_START_SECONDS for OUTAGE_SECONDS, whatever --duration says.
readonly OUTAGE_CONNECTIONS=16
readonly OUTAGE_RUN_SECONDS=15
readonly OUTAGE_START_SECONDS=5
readonly OUTAGE_SECONDS=5
# Where the library mode's services are copied, beside the profile's own directory: cargo builds
# them into the same target directory as the shipped ones (only platform and the services differ,
# by their features), whose binaries the shipped build then puts back (and copies to
# $PROFILE-measured).
readonly LIBRARY_BIN_DIR_SUFFIX=-opentelemetry-otlp
# With tracing on, the pause after any load before the sink's span count is read: long enough for
# the batch span processor's schedule (OTEL_BSP_SCHEDULE_DELAY, 5 s by default) to send the last
# spans, so that each run's count is its own.
readonly SETTLE_SECONDS=6
# Before each measured run, the same load unmeasured: connection pools (to author-service and
# MongoDB) grow to the run's concurrency and the allocator settles, so the run sees steady state.
readonly WARMUP_SECONDS=2
# Between loads, the platform must be idle: all the measured processes together under this share
# of one core (in %) over a second. wrk abandons the requests in flight when a run ends, but
# nx-27017 still executes every command it has received, answered or not; with slow queries that
# backlog takes seconds, and a run started meanwhile would measure it.
readonly IDLE_PERCENT=5
readonly IDLE_MAX_SECONDS=120
# What the platform uses with nothing to do (the driver's connection-pool maintenance and server
# monitoring, the revocation and flag polls), in ticks a second, measured once it has started:
# "idle" is that plus IDLE_PERCENT. On some days this machine makes that rest cost several times
# IDLE_PERCENT on its own, and an absolute threshold then waits IDLE_MAX_SECONDS after every run.
RESTING_TICKS=0
# GET /blogs in the login-burst case: the target is stated at 16 connections.
readonly BURST_LIST_CONNECTIONS=16
# The endpoint each simple case loads (start_load's targets).
declare -Ar TARGET_OF=([authorize]=authorize [list-blogs]=list [list-blogs-failing]=list [create-blog]=create
    [login]=login)
readonly LUA_SCRIPT="$PROJECT_ROOT/scripts/bench/wrk.lua"
readonly REPORT_SCRIPT="$PROJECT_ROOT/scripts/bench/report.py"
# ~600 characters: a blog of a few sentences, so that a page of 20 is a realistic 13 KB response.
readonly BLOG_CONTENT="Tracing a request across services shows where its time goes: the call to the author service, the query on the database, the hashing of a password. This post is one of the blogs the benchmark seeds so that listing them reads a realistic page. Each blog has a title and a paragraph of content like this one, which is long enough for the page of twenty that the listing returns to weigh about as much as a real one would, and short enough to keep seeding quick. The words carry no meaning for the benchmark; their length does. Nothing here is read by a person, but it is written as if it were."

DURATION=10s
CONNECTIONS="16 64"
CASES="${ALL_CASES[*]}"
MODES_ASKED="traced untraced"
PROFILE=production
BURST_CONNECTIONS=16
BLOGS=1000
THREADS=2
REPEAT=1
OUT=docs/benchmarks.md
NOTE=""
KEEP=false
# The command line, for the report: the exact command to run again.
COMMAND="scripts/bench.sh"
for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=,+-]+$ ]]; then
        COMMAND+=" $arg"
    else
        # Single quotes read better than printf %q's backslashes; ' itself becomes '\''.
        COMMAND+=" '${arg//\'/\'\\\'\'}'"
    fi
done

while (($# > 0)); do
    case "$1" in
        --duration | --connections | --cases | --modes | --burst-connections | --blogs | --profile | --threads | --repeat | --out | --note)
            (($# >= 2)) || die "$1 needs a value (see --help)"
            case "$1" in
                --duration) DURATION=$2 ;;
                --connections) CONNECTIONS=$2 ;;
                --cases) CASES=$2 ;;
                --modes) MODES_ASKED=$2 ;;
                --burst-connections) BURST_CONNECTIONS=$2 ;;
                --blogs) BLOGS=$2 ;;
                --profile) PROFILE=$2 ;;
                --threads) THREADS=$2 ;;
                --repeat) REPEAT=$2 ;;
                --out) OUT=$2 ;;
                --note) NOTE=$2 ;;
            esac
            shift 2
            ;;
        --keep) KEEP=true; shift ;;
        --update-docs)
            (($# == 1)) || die "--update-docs takes no other arguments"
            exec python3 "$PROJECT_ROOT/scripts/bench/docs.py"
            ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

# seconds_of T: 10s, 2m or 10 -> seconds.
seconds_of() {
    case "$1" in
        *[!0-9smh]* | "" | [smh]*) return 1 ;;
        *s) printf '%d' "$((10#${1%s}))" ;;
        *m) printf '%d' "$((10#${1%m} * 60))" ;;
        *h) printf '%d' "$((10#${1%h} * 3600))" ;;
        *) printf '%d' "$((10#$1))" ;;
    esac
}

positive_int() {
    [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 > 0))
}

if ! DURATION_S=$(seconds_of "$DURATION" 2>/dev/null) || ((DURATION_S == 0)); then
    die "--duration $DURATION: give a time such as 10s, 1m or 30"
fi
# Commas are accepted too ("16,64"), as users type lists both ways.
read -ra CONNECTION_LIST <<<"${CONNECTIONS//,/ }"
((${#CONNECTION_LIST[@]} > 0)) || die "--connections needs at least one number"
for c in "${CONNECTION_LIST[@]}"; do
    positive_int "$c" || die "--connections: '$c' is not a positive whole number"
done
read -ra CASE_LIST <<<"${CASES//,/ }"
((${#CASE_LIST[@]} > 0)) || die "--cases needs at least one case"
for case_name in "${CASE_LIST[@]}"; do
    [[ " ${ALL_CASES[*]} " == *" $case_name "* ]] ||
        die "--cases: unknown case '$case_name' (known: ${ALL_CASES[*]})"
done
read -ra MODES <<<"${MODES_ASKED//,/ }"
((${#MODES[@]} > 0)) || die "--modes needs at least one mode"
for mode_name in "${MODES[@]}"; do
    [[ " ${ALL_MODES[*]} " == *" $mode_name "* ]] ||
        die "--modes: unknown mode '$mode_name' (known: ${ALL_MODES[*]})"
done
[[ "$PROFILE" == production || "$PROFILE" == release ]] ||
    die "--profile: '$PROFILE' is neither production nor release"
positive_int "$BURST_CONNECTIONS" || die "--burst-connections must be a positive whole number"
[[ "$BLOGS" =~ ^[0-9]+$ ]] || die "--blogs must be a whole number"
positive_int "$THREADS" || die "--threads must be a positive whole number"
positive_int "$REPEAT" || die "--repeat must be a positive whole number"
if [[ "$OUT" != - ]]; then
    # Relative to where the user ran the script, as they would expect, before we cd.
    OUT=$(realpath -m -- "$OUT")
fi

# --- state ----------------------------------------------------------------------------------

WORK=""                # the working directory (mktemp), deleted at exit unless --keep or failure
declare -A PID_OF=()   # process name (author, ..., nx-27017, otlp-sink) -> pid
SERVICES=()            # the services (author, ...), in the order the launcher starts them
declare -A PORT_OF=()  # process (service, nx-27017, otlp-sink-grpc/-http) -> port
declare -A LOG_OF=()   # process (service, nx-27017) -> its log
LAUNCHER_PID=""        # the launcher running the platform of the mode being measured
LAUNCHER=""            # cargo's target directory's release/launcher, and the same for traffic
TRAFFIC=""
TARGET_DIR=""          # cargo's target directory
LOAD_PIDS=()           # wrk processes still running
SINK_GRPC="" SINK_HTTP=""
SINK_TLS="" SINK_CA=""  # the sink's OTLP/gRPC over TLS and its authority's certificate (tls-gzip)
ADMIN_USER=bench-admin
ADMIN_PASS=""
READER_TOKEN="" WRITER_TOKEN=""
READER_PASS=""
CLK_TCK=100
HWM_RESETTABLE=true
COMPLETED=false
MODE=""                # the mode being measured (traced, untraced, library, tls-gzip, traced-nologs)
ROUND=1                # the round of --repeat being measured (mode_dir)
PAUSE_PID=""           # the sleep of a running pause

# --- processes ------------------------------------------------------------------------------

# Every long-running process starts with setsid, in a session of its own: a Ctrl-C in the terminal
# then reaches only this script, whose cleanup stops them in order (services, then the database
# they use, then the sink they export to). In a non-interactive shell a background job is not a
# process-group leader, so setsid execs in place and $! is the process itself, whose
# /proc/<pid>/stat is what we measure.

# pause SECONDS: sleep in the background and wait for it, so that a signal ends the pause at once
# (bash runs a trap only after a foreground command has finished).
pause() {
    sleep "$1" &
    PAUSE_PID=$!
    wait "$PAUSE_PID" || true
    PAUSE_PID=""
}

# mode_dir MODE: where this round's runs of MODE go. The first round's lie directly in $WORK, as
# they always have; with --repeat, round N's in $WORK/roundN.
mode_dir() {
    if ((ROUND == 1)); then
        printf '%s/%s' "$WORK" "$1"
    else
        printf '%s/round%d/%s' "$WORK" "$ROUND" "$1"
    fi
}

start_sink() {
    local log="$WORK/otlp-sink.log" tls=()
    [[ " ${MODES[*]} " != *" tls-gzip "* ]] || tls=(--tls)
    # Port 0: the sink reports the ports it got, so there is no race for a free port.
    setsid "$TARGET_DIR/release/otlp-sink" --grpc 127.0.0.1:0 --http 127.0.0.1:0 "${tls[@]}" \
        </dev/null >"$log" 2>&1 &
    PID_OF[otlp-sink]=$!
    local deadline=$((SECONDS + 15)) banner=""
    until banner=$(grep -m1 '^otlp-sink: OTLP/gRPC on' "$log" 2>/dev/null); do
        kill -0 "${PID_OF[otlp-sink]}" 2>/dev/null || { show_log_tail "$log"; die "otlp-sink exited at start"; }
        ((SECONDS < deadline)) || die "otlp-sink did not start within 15 s (see $log)"
        sleep 0.1
    done
    # "otlp-sink: OTLP/gRPC on http://A, OTLP/HTTP on http://B (GET /stats for the counts)"
    SINK_GRPC=$(sed -E 's|.*OTLP/gRPC on (http://[0-9.:]+),.*|\1|' <<<"$banner")
    SINK_HTTP=$(sed -E 's|.*OTLP/HTTP on (http://[0-9.:]+) .*|\1|' <<<"$banner")
    PORT_OF[otlp-sink-grpc]=${SINK_GRPC##*:} PORT_OF[otlp-sink-http]=${SINK_HTTP##*:}
    info "otlp-sink: OTLP/gRPC at $SINK_GRPC, counts at $SINK_HTTP/stats"
    ((${#tls[@]} > 0)) || return 0
    # "otlp-sink: OTLP/gRPC over TLS on https://A, certified by PATH", printed just after.
    until banner=$(grep -m1 '^otlp-sink: OTLP/gRPC over TLS on' "$log" 2>/dev/null); do
        ((SECONDS < deadline)) || die "otlp-sink did not start its TLS front within 15 s (see $log)"
        sleep 0.1
    done
    SINK_TLS=$(sed -E 's|.*over TLS on (https://[0-9.:]+), .*|\1|' <<<"$banner")
    SINK_CA=${banner#*, certified by }
    info "otlp-sink: OTLP/gRPC over TLS at $SINK_TLS, its authority in $SINK_CA"
}

# traced MODE: whether MODE exports spans.
traced() {
    [[ "$1" != untraced ]]
}

# mode_description MODE: what MODE sets, for the progress.
mode_description() {
    case "$1" in
        traced) echo "OTEL_TRACES_SAMPLER=always_on" ;;
        untraced) echo "OTEL_SDK_DISABLED=true" ;;
        library) echo "OTEL_TRACES_SAMPLER=always_on, opentelemetry-otlp's exporter" ;;
        tls-gzip) echo "OTEL_TRACES_SAMPLER=always_on, over TLS with gzip" ;;
        traced-nologs) echo "OTEL_TRACES_SAMPLER=always_on, OTEL_LOGS_EXPORTER=none" ;;
    esac
}

# start_platform MODE: the launcher (the platform's one definition) starts nx-27017 and the four
# services as they ship (the production profile), each on a port of its own choosing, with fresh
# keys and a clean environment: the figures must not depend on the caller's OTEL_* or RUST_LOG,
# and the working directory is the mode's, so that no .env file is read.
start_platform() {
    local mode=$1 dir tracing bin_dir="$TARGET_DIR/$PROFILE-measured"
    dir=$(mode_dir "$mode")
    mkdir -p -- "$dir"
    local exporting=(OTEL_EXPORTER_OTLP_ENDPOINT="$SINK_GRPC")
    case "$mode" in
        untraced) tracing=(OTEL_SDK_DISABLED=true) ;;
        traced-nologs) tracing=(OTEL_TRACES_SAMPLER=always_on OTEL_LOGS_EXPORTER=none) ;;
        *) tracing=(OTEL_TRACES_SAMPLER=always_on) ;;
    esac
    case "$mode" in
        library) bin_dir="$TARGET_DIR/$PROFILE$LIBRARY_BIN_DIR_SUFFIX" ;;
        tls-gzip)
            exporting=(OTEL_EXPORTER_OTLP_ENDPOINT="$SINK_TLS" OTEL_EXPORTER_OTLP_CERTIFICATE="$SINK_CA"
                OTEL_EXPORTER_OTLP_COMPRESSION=gzip)
            ;;
    esac
    # Tokens are made once per mode; they must outlive the longest run (JWT_TTL_SECONDS).
    start_launcher "$dir/platform.json" env -i -C "$dir" PATH="$PATH" RUST_LOG=info \
        MONGODB_DB=blog JWT_PRIVATE_KEY="$WORK/keys/private.pem" \
        JWT_PUBLIC_KEY="$WORK/keys/public.pem" JWT_TTL_SECONDS=86400 \
        "${exporting[@]}" OTEL_EXPORTER_OTLP_PROTOCOL=grpc "${tracing[@]}" \
        ADMIN_USERNAME="$ADMIN_USER" ADMIN_PASSWORD="$ADMIN_PASS" NX_27017_BIN="$NX_BIN" \
        "$LAUNCHER" --any-port --bin-dir "$bin_dir" --data-dir "$dir" \
        --state "$dir/platform.json" >"$dir/launcher.log" 2>&1 ||
        { show_log_tail "$dir/launcher.log"; die "the platform did not start"; }
    local name port pid log
    SERVICES=()
    while read -r name port pid log; do
        name=${name%-service}
        PID_OF[$name]=$pid PORT_OF[$name]=$port LOG_OF[$name]=$log
        [[ "$name" == nx-27017 ]] || SERVICES+=("$name")
    done < <(launcher_state "$dir/platform.json")
    for svc in "${SERVICES[@]}"; do
        # The pid we measure must be the service itself, not a wrapper.
        [[ "$(readlink "/proc/${PID_OF[$svc]}/exe")" == */"$svc-service" ]] ||
            die "pid ${PID_OF[$svc]} is not $svc-service; cannot measure it"
    done
}

# stop_platform: the services (flushing their spans), then the database.
stop_platform() {
    stop_launcher || warn "the launcher reported a problem while stopping (see $(mode_dir "$MODE")/launcher.log)"
    local name
    for name in "${SERVICES[@]}" nx-27017; do
        unset 'PID_OF[$name]'
    done
}

cleanup() {
    local status=$?
    # Carry on whatever fails here: leaving processes behind is worse than a lost message. A
    # second Ctrl-C must not cut the stopping short either.
    set +e
    trap '' INT TERM HUP PIPE
    local pid
    [[ -z "$PAUSE_PID" ]] || kill "$PAUSE_PID" 2>/dev/null
    for pid in "${LOAD_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    stop_platform
    if [[ -n "${PID_OF[otlp-sink]:-}" ]]; then
        # Stopped by the outage case, it would not hear SIGTERM.
        kill -CONT "${PID_OF[otlp-sink]}" 2>/dev/null
        stop_processes "otlp-sink=${PID_OF[otlp-sink]}"
        unset 'PID_OF[otlp-sink]'
    fi
    local name busy=()
    for name in "${!PORT_OF[@]}"; do
        port_in_use "${PORT_OF[$name]}" && busy+=("${PORT_OF[$name]}")
    done
    if ((${#busy[@]} > 0)); then
        warn "something still listens on port(s) ${busy[*]}: see ss -ltnp"
    fi
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if $KEEP || ! $COMPLETED; then
            info "logs and raw results kept in $WORK"
        else
            rm -rf -- "$WORK"
        fi
    fi
    exit "$status"
}

# --- measuring ------------------------------------------------------------------------------

# cpu_ticks PID: utime + stime of the process, all its threads, in clock ticks (0 once it is gone).
cpu_ticks() {
    local line fields
    read -r line 2>/dev/null <"/proc/$1/stat" || { echo 0; return; }
    # The command name is in parentheses and may hold spaces: split after it. The state is the
    # first field after it, utime the 12th and stime the 13th.
    read -ra fields <<<"${line##*) }"
    echo $((fields[11] + fields[12]))
}

# machine_busy_ticks: CPU time of the whole machine that was not idle (user, nice, system, irq,
# softirq, steal), in clock ticks summed over all cores.
machine_busy_ticks() {
    # cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest is in user)
    local user nice system irq softirq steal _
    read -r _ user nice system _ _ irq softirq steal _ </proc/stat
    echo $((user + nice + system + irq + softirq + steal))
}

# status_kb PID FIELD: a "FIELD: N kB" line of /proc/PID/status (VmRSS, VmHWM), in kB.
status_kb() {
    local key value _
    while read -r key value _; do
        if [[ "$key" == "$2:" ]]; then
            echo "$value"
            return
        fi
    done <"/proc/$1/status"
    echo 0
}

# measured_processes: "name pid" for each process whose CPU and memory the report shows.
measured_processes() {
    local name
    for name in "${SERVICES[@]}" nx-27017 otlp-sink; do
        [[ -n "${PID_OF[$name]:-}" ]] && printf '%s %s\n' "$name" "${PID_OF[$name]}"
    done
}

# snapshot FILE: the wall clock, the machine's busy ticks and each process's CPU ticks.
snapshot() {
    local name pid
    {
        printf 'time_us %s\n' "${EPOCHREALTIME/./}"
        printf 'machine %s\n' "$(machine_busy_ticks)"
        while read -r name pid; do
            printf '%s %s\n' "$name" "$(cpu_ticks "$pid")"
        done < <(measured_processes)
    } >"$1"
}

# rss FILE FIELD: each process's VmRSS or VmHWM, in kB.
rss() {
    local name pid
    while read -r name pid; do
        printf '%s %s\n' "$name" "$(status_kb "$pid" "$2")"
    done < <(measured_processes) >"$1"
}

# reset_peak_rss: start each process's VmHWM (peak RSS) afresh (Linux >= 4.0, our own processes),
# so that after a run it holds that run's peak rather than the peak since start.
reset_peak_rss() {
    local name pid
    $HWM_RESETTABLE || return 0
    while read -r name pid; do
        if ! { echo 5 >"/proc/$pid/clear_refs"; } 2>/dev/null; then
            warn "cannot reset the peak RSS of $name (/proc/$pid/clear_refs); peaks under load are since each process started"
            HWM_RESETTABLE=false
            return 0
        fi
    done < <(measured_processes)
}

spans_received() {
    curl -sf --max-time 5 "$SINK_HTTP/stats" || echo '{}'
}

# start_load TARGET CONNECTIONS SECONDS RESULT: wrk against one endpoint, in the background (so
# that a signal reaches this script at once, and cleanup can stop it); sets LOAD_PID. RESULT gets
# the figures as JSON (scripts/bench/wrk.lua), RESULT.txt wrk's own output.
start_load() {
    local target=$1 connections=$2 seconds=$3 result=$4
    local url method=POST body="" token=""
    case "$target" in
        authorize)
            url="http://127.0.0.1:${PORT_OF[author]}/authorize"
            body='{"permission":"READ"}' token=$READER_TOKEN
            ;;
        list)
            url="http://127.0.0.1:${PORT_OF[blog]}/blogs?limit=20"
            method=GET token=$READER_TOKEN
            ;;
        create)
            url="http://127.0.0.1:${PORT_OF[blog]}/blogs"
            body="{\"title\":\"Benchmark post\",\"content\":\"$BLOG_CONTENT\"}" token=$WRITER_TOKEN
            ;;
        login)
            url="http://127.0.0.1:${PORT_OF[authen]}/login"
            body="{\"username\":\"bench-reader\",\"password\":\"$READER_PASS\"}"
            ;;
        *) die "internal error: unknown load target $target" ;;
    esac
    local threads=$((THREADS < connections ? THREADS : connections))
    # --timeout 10s: a slow answer (a login queueing behind argon2) is a latency to report, not
    # a socket error, which is what wrk's default of 2 s would turn it into.
    BENCH_METHOD=$method BENCH_BODY=$body BENCH_TOKEN=$token BENCH_RESULT=$result \
        BENCH_CLK_TCK=$CLK_TCK \
        wrk --threads "$threads" --connections "$connections" --duration "${seconds}s" \
        --timeout 10s --script "$LUA_SCRIPT" "$url" </dev/null >"$result.txt" 2>&1 &
    LOAD_PID=$!
    LOAD_PIDS+=("$LOAD_PID")
}

# finish_load PID RESULT: wait for a wrk run and check that it left its figures.
finish_load() {
    local pid=$1 result=$2 status=0
    wait "$pid" || status=$?
    local kept=()
    for p in "${LOAD_PIDS[@]}"; do
        [[ "$p" == "$pid" ]] || kept+=("$p")
    done
    LOAD_PIDS=("${kept[@]}")
    if ((status != 0)) || [[ ! -s "$result" ]]; then
        cat -- "$result.txt" >&2 2>/dev/null
        die "wrk failed (status $status); its output is above"
    fi
}

# run_load TARGET CONNECTIONS SECONDS RESULT: start_load, then finish_load.
run_load() {
    start_load "$@"
    finish_load "$LOAD_PID" "$4"
}

# busy_ticks: CPU ticks of all the measured processes together.
busy_ticks() {
    local name pid total=0
    while read -r name pid; do
        total=$((total + $(cpu_ticks "$pid")))
    done < <(measured_processes)
    echo "$total"
}

# measure_resting: RESTING_TICKS, the least the platform used in one of three seconds just after
# it started, before any request.
measure_resting() {
    local before after least=-1
    before=$(busy_ticks)
    for _ in 1 2 3; do
        pause 1
        after=$(busy_ticks)
        if ((least < 0 || after - before < least)); then
            least=$((after - before))
        fi
        before=$after
    done
    RESTING_TICKS=$least
    info "at rest the platform uses $((RESTING_TICKS * 100 / CLK_TCK))% of a core"
}

# wait_idle FILE: wait until the platform is idle (see IDLE_PERCENT); FILE gets the seconds it took.
wait_idle() {
    local file=$1 started=$SECONDS before after
    before=$(busy_ticks)
    while :; do
        pause 1
        after=$(busy_ticks)
        if (((after - before - RESTING_TICKS) * 100 <= IDLE_PERCENT * CLK_TCK)); then
            break
        fi
        if ((SECONDS - started >= IDLE_MAX_SECONDS)); then
            warn "the platform was still busy ${IDLE_MAX_SECONDS}s after the load stopped; measuring anyway"
            break
        fi
        before=$after
    done
    echo $((SECONDS - started)) >"$file"
}

# wait_ready FILE WHAT: wait until every service's /readyz answers 200 again; FILE gets the seconds it
# took. A run that overloads the platform can leave a service unable to reach its dependencies for
# a while after the load has stopped; the next run must not measure that aftermath.
wait_ready() {
    local file=$1 what=$2 started=$SECONDS svc
    for svc in "${SERVICES[@]}"; do
        until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
            "http://127.0.0.1:${PORT_OF[$svc]}/readyz")" == 200 ]]; do
            if ((SECONDS - started >= IDLE_MAX_SECONDS)); then
                warn "$svc-service was still not ready ${IDLE_MAX_SECONDS}s after $what; measuring anyway"
                break
            fi
            pause 1
        done
    done
    local waited=$((SECONDS - started))
    echo "$waited" >"$file"
    if ((waited > 2)); then
        warn "the platform was not ready again until ${waited}s after $what had stopped and the platform was idle"
    fi
}

# settle SINCE: with tracing on, sleep until SETTLE_SECONDS have passed since SECONDS was SINCE.
settle() {
    traced "$MODE" || return 0
    local left=$((SETTLE_SECONDS - (SECONDS - $1)))
    ((left <= 0)) || pause "$left"
}

# check_alive: stop the benchmark, with its log, if a process of the platform has died.
check_alive() {
    local name pid log
    while read -r name pid; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log=${LOG_OF[$name]:-$WORK/otlp-sink.log}
            show_log_tail "$log"
            die "$name (pid $pid) died during the benchmark"
        fi
    done < <(measured_processes)
}

# measure DIR TARGET CONNECTIONS [FLOOD_TARGET FLOOD_CONNECTIONS | outage]: one measured run into
# DIR. Without a flood, an unmeasured warm-up with the same load comes first. With one, the flood
# (the second load) starts a second before the measured window and ends a second after it, as a
# disturbance; the run before (the same load alone) is the warm-up. With `outage`, the run lasts
# OUTAGE_RUN_SECONDS and the sink is stopped for OUTAGE_SECONDS in the middle of it.
measure() {
    local dir=$1 target=$2 connections=$3 flood=${4:-} flood_connections=${5:-}
    mkdir -p -- "$dir"
    if [[ -z "$flood" || "$flood" == outage ]]; then
        run_load "$target" "$connections" "$WARMUP_SECONDS" "$dir/warmup.json"
    fi
    local ended=$SECONDS
    wait_idle "$dir/idle-wait.before"
    wait_ready "$dir/ready-wait.before" "the warm-up"
    settle "$ended"
    local flood_pid=""
    if [[ -n "$flood" && "$flood" != outage ]]; then
        start_load "$flood" "$flood_connections" $((DURATION_S + 2)) "$dir/flood.json"
        flood_pid=$LOAD_PID
        pause 1
    fi
    reset_peak_rss
    spans_received >"$dir/spans.before"
    snapshot "$dir/cpu.before"
    if [[ "$flood" == outage ]]; then
        start_load "$target" "$connections" "$OUTAGE_RUN_SECONDS" "$dir/load.json"
        local load_pid=$LOAD_PID
        pause "$OUTAGE_START_SECONDS"
        # SIGSTOP: the sink keeps its connections and ports but answers nothing, as a collector
        # that hangs; the exporters' requests wait, then time out or are answered late.
        kill -STOP "${PID_OF[otlp-sink]}"
        pause "$OUTAGE_SECONDS"
        kill -CONT "${PID_OF[otlp-sink]}"
        finish_load "$load_pid" "$dir/load.json"
    else
        run_load "$target" "$connections" "$DURATION_S" "$dir/load.json"
    fi
    snapshot "$dir/cpu.after"
    rss "$dir/rss.peak" VmHWM
    rss "$dir/rss.after" VmRSS
    if [[ -n "$flood_pid" ]]; then
        finish_load "$flood_pid" "$dir/flood.json"
    fi
    check_alive
    ended=$SECONDS
    wait_idle "$dir/idle-wait.after"
    wait_ready "$dir/ready-wait.after" "the run"
    settle "$ended"
    spans_received >"$dir/spans.after"
    local summary
    summary=$(python3 "$REPORT_SCRIPT" --one-line "$dir")
    info "  $summary"
}

# set_failure_rate MODE RATE: the authorFailureRate flag at RATE (0: every flag off) in the flags
# file the services of MODE read (flags.json in their working directory, docs/scenarios.md), once
# they have read it.
set_failure_rate() {
    local file
    file="$(mode_dir "$1")/flags.json"
    if [[ "$2" == 0 ]]; then
        rm -f -- "$file"
    else
        printf '{"flags": {"authorFailureRate": {"state": "ENABLED", "variants": {"on": %s},
          "defaultVariant": "on"}}}\n' "$2" >"$file"
    fi
    pause "$FLAGS_RELOAD_SECONDS"
}

# --- seeding --------------------------------------------------------------------------------

# seed MODE: the reader and the writer, their tokens, and $BLOGS blogs, made through the API by
# `traffic seed` (the load engine's closed loop, 8 blogs at a time), which checks they are listed.
seed() {
    local dir
    dir=$(mode_dir "$1")
    local url="http://127.0.0.1"
    if ! ADMIN_PASSWORD=$ADMIN_PASS "$TRAFFIC" seed --authen "$url:${PORT_OF[authen]}" \
        --user "$url:${PORT_OF[user]}" --blog "$url:${PORT_OF[blog]}" --admin-user "$ADMIN_USER" \
        --account bench-writer=READ,WRITE --account bench-reader=READ --blogs "$BLOGS" \
        --content "$BLOG_CONTENT" >"$dir/seed.json" 2>"$dir/seed.log"; then
        show_log_tail "$dir/seed.log"
        die "seeding failed"
    fi
    cat -- "$dir/seed.log"
    # One line per account: name, password, token.
    local name password token
    while read -r name password token; do
        case "$name" in
            bench-writer) WRITER_TOKEN=$token ;;
            bench-reader) READER_TOKEN=$token READER_PASS=$password ;;
        esac
    done < <(python3 - "$dir/seed.json" <<'PY'
import json, sys
for name, account in json.load(open(sys.argv[1]))["accounts"].items():
    print(name, account["password"], account["token"])
PY
    )
    [[ -n "$WRITER_TOKEN" && -n "$READER_TOKEN" ]] || die "seeding gave no token (see $dir/seed.json)"
    info "seeded: bench-writer, bench-reader and $BLOGS blogs"
}

# login_once USER PASSWORD: one login, its answer discarded (the warm-up's).
login_once() {
    curl -sf --max-time 10 -o /dev/null -X POST "http://127.0.0.1:${PORT_OF[authen]}/login" \
        -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"$2\"}" || die "login as $1 failed"
}

# warm_up MODE: a little of each kind of request, then the idle memory.
warm_up() {
    local dir
    dir=$(mode_dir "$1")
    rss "$dir/rss.start" VmRSS
    run_load authorize 4 2 "$dir/warmup-authorize.json"
    run_load list 4 2 "$dir/warmup-list.json"
    for _ in 1 2 3 4; do
        login_once bench-reader "$READER_PASS"
    done
    # Idle: after the warm-up's spans have left and nothing is in flight.
    local ended=$SECONDS
    wait_idle "$dir/idle-wait.warm-up"
    settle "$ended"
    rss "$dir/rss.idle" VmRSS
}

# --- main -----------------------------------------------------------------------------------

cd "$PROJECT_ROOT"

step "Checking the tools"
require_cmd cargo curl openssl python3 setsid realpath getconf awk nproc
ensure_apt_cmd wrk wrk "the benchmark's load generator"
ensure_nx_venv
CLK_TCK=$(getconf CLK_TCK)

# The figures are only worth publishing from a quiet machine: say so early, before our own build
# raises the load. (The report also measures the disturbance run by run: its "other" CPU.)
read -r load1 _ </proc/loadavg
if awk -v load="$load1" -v cores="$(nproc)" 'BEGIN { exit !(load > cores / 4) }'; then
    warn "the load average is $load1 on $(nproc) cores: other work is running, so these figures will be disturbed"
fi

# The platform runs only for its own cases: `--cases viewer` measures the viewer alone.
PLATFORM_MODES=()
[[ "${CASE_LIST[*]}" == viewer ]] || PLATFORM_MODES=("${MODES[@]}")

# The services as they ship (the production profile, see Cargo.toml). The sink is a test tool:
# it comes from the same release build as scripts/test.sh's, so after the tests that is a no-op
# (building it alone would resolve the crates' features differently and rebuild half of them).
TARGET_DIR=$(cargo_target_dir)
if ((${#PLATFORM_MODES[@]} > 0)); then
    # Both builds select the same four packages, so that cargo resolves every other crate's
    # features alike and the two differ only by the exporter. The measured binaries are copied out
    # of $PROFILE/, which the release build of the whole workspace below would overwrite (with
    # --profile release) with binaries whose features it resolves differently.
    services=(-p authen-service -p user-service -p blog-service -p author-service)
    library_dir="$TARGET_DIR/$PROFILE$LIBRARY_BIN_DIR_SUFFIX" shipped_dir="$TARGET_DIR/$PROFILE-measured"
    if [[ " ${PLATFORM_MODES[*]} " == *" library "* ]]; then
        # A build that fails here is the comparison rotting: it stops the benchmark.
        step "Building the services with opentelemetry-otlp's exporter (cargo build --profile $PROFILE --features platform/opentelemetry-otlp-exporter)"
        cargo build --profile "$PROFILE" --features platform/opentelemetry-otlp-exporter "${services[@]}"
        mkdir -p -- "$library_dir"
        for svc in authen user blog author; do
            cp -- "$TARGET_DIR/$PROFILE/$svc-service" "$library_dir/"
        done
    fi
    step "Building (cargo build --profile $PROFILE, and cargo build --release --workspace --bins)"
    cargo build --profile "$PROFILE" "${services[@]}"
    mkdir -p -- "$shipped_dir"
    for svc in authen user blog author; do
        cp -- "$TARGET_DIR/$PROFILE/$svc-service" "$shipped_dir/"
    done
    if [[ " ${PLATFORM_MODES[*]} " == *" library "* ]] &&
        cmp -s -- "$shipped_dir/blog-service" "$library_dir/blog-service"; then
        die "cargo left opentelemetry-otlp's build in $TARGET_DIR/$PROFILE: the modes would measure the same binaries"
    fi
else
    step "Building (cargo build --release --workspace --bins)"
fi
cargo_build_release
LAUNCHER="$TARGET_DIR/release/launcher"
TRAFFIC="$TARGET_DIR/release/traffic"


trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blog-bench.XXXXXX")
step "Preparing $WORK"
"$PROJECT_ROOT/scripts/gen-keys.sh" --out-dir "$WORK/keys" >/dev/null
ADMIN_PASS=$(openssl rand -hex 16)
{
    printf 'command=%s\n' "$COMMAND"
    printf 'date=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'duration_s=%s\n' "$DURATION_S"
    printf 'connections=%s\n' "${CONNECTION_LIST[*]}"
    printf 'cases=%s\n' "${CASE_LIST[*]}"
    printf 'modes=%s\n' "${MODES[*]}"
    printf 'profile=%s\n' "$PROFILE"
    printf 'burst_connections=%s\n' "$BURST_CONNECTIONS"
    printf 'burst_list_connections=%s\n' "$BURST_LIST_CONNECTIONS"
    printf 'blogs=%s\n' "$BLOGS"
    printf 'threads=%s\n' "$THREADS"
    printf 'repeat=%s\n' "$REPEAT"
    printf 'settle_s=%s\n' "$SETTLE_SECONDS"
    printf 'warmup_s=%s\n' "$WARMUP_SECONDS"
    printf 'idle_percent=%s\n' "$IDLE_PERCENT"
    printf 'note=%s\n' "$NOTE"
    printf 'clk_tck=%s\n' "$CLK_TCK"
    printf 'commit=%s\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    printf 'rustc=%s\n' "$(rustc --version)"
    printf 'wrk=%s\n' "$(wrk --version 2>&1 | head -n 1 || true)"
    printf 'nx=%s\n' "$NX_VERSION"
    printf 'loadavg_start=%s\n' "$(cut -d ' ' -f 1-3 /proc/loadavg)"
} >"$WORK/meta"

if ((${#PLATFORM_MODES[@]} > 0)); then
    step "Starting the trace sink"
    start_sink
fi
# run_mode: start the platform in $MODE, seed it, measure every case, stop it.
run_mode() {
    local mode=$MODE round=""
    ((REPEAT == 1)) || round="Round $ROUND of $REPEAT: "
    step "${round}Mode: $mode ($(mode_description "$mode"))"
    start_platform "$mode"
    info "started: $(for n in "${SERVICES[@]}" nx-27017; do printf '%s=%s ' "$n" "${PID_OF[$n]}"; done)"
    measure_resting
    echo "$RESTING_TICKS" >"$(mode_dir "$mode")/resting-ticks"
    seed "$mode"
    warm_up "$mode"
    for case_name in "${CASE_LIST[@]}"; do
        case "$case_name" in
            authorize | list-blogs | list-blogs-failing | create-blog | login)
                [[ "$case_name" != list-blogs-failing ]] || set_failure_rate "$mode" "$FAILURE_RATE"
                for connections in "${CONNECTION_LIST[@]}"; do
                    info "$mode $case_name, $connections connections, ${DURATION_S}s"
                    measure "$(mode_dir "$mode")/$case_name/c$connections" \
                        "${TARGET_OF[$case_name]}" "$connections"
                done
                [[ "$case_name" != list-blogs-failing ]] || set_failure_rate "$mode" 0
                ;;
            login-burst)
                info "$mode login-burst: GET /blogs at $BURST_LIST_CONNECTIONS connections alone, ${DURATION_S}s"
                measure "$(mode_dir "$mode")/login-burst/alone" list "$BURST_LIST_CONNECTIONS"
                info "$mode login-burst: the same with POST /login at $BURST_CONNECTIONS connections"
                measure "$(mode_dir "$mode")/login-burst/burst" list "$BURST_LIST_CONNECTIONS" \
                    login "$BURST_CONNECTIONS"
                ;;
            outage)
                # The shipped exporter's loss is the target; the other modes would add minutes.
                if [[ "$mode" == traced ]]; then
                    info "$mode outage: GET /blogs at $OUTAGE_CONNECTIONS connections, ${OUTAGE_RUN_SECONDS}s, the sink stopped for ${OUTAGE_SECONDS}s from the ${OUTAGE_START_SECONDS}th"
                    measure "$(mode_dir "$mode")/outage/c$OUTAGE_CONNECTIONS" list "$OUTAGE_CONNECTIONS" outage
                fi
                ;;
        esac
    done
    step "Stopping the $mode platform"
    stop_platform
}

for ((ROUND = 1; ROUND <= REPEAT; ROUND++)); do
    # Even rounds take the modes the other way round, so that a drift of the machine during the
    # benchmark (a neighbour, heat) weighs on both modes alike.
    round_modes=("${PLATFORM_MODES[@]}")
    if ((ROUND % 2 == 0)); then
        for ((i = 0; i < ${#PLATFORM_MODES[@]}; i++)); do
            round_modes[i]=${PLATFORM_MODES[${#PLATFORM_MODES[@]} - 1 - i]}
        done
    fi
    for MODE in "${round_modes[@]}"; do
        run_mode
    done
done
printf 'loadavg_end=%s\n' "$(cut -d ' ' -f 1-3 /proc/loadavg)" >>"$WORK/meta"

if ((${#PLATFORM_MODES[@]} > 0)); then
    step "Report"
    report_args=("$WORK")
    [[ "$OUT" == - ]] || report_args+=(--out "$OUT")
    python3 "$REPORT_SCRIPT" "${report_args[@]}"
fi
if [[ " ${CASE_LIST[*]} " == *" viewer "* ]]; then
    # The viewer is measured alone, once the platform has stopped: traces-bench starts its own
    # `traces serve` and prints a markdown section of its own.
    step "The trace viewer (traces-bench)"
    if [[ "$OUT" == - ]]; then
        "$TARGET_DIR/release/traces-bench"
    else
        { echo; "$TARGET_DIR/release/traces-bench"; } >>"$OUT"
    fi
fi
COMPLETED=true
[[ "$OUT" == - ]] || info "report written to ${OUT#"$PROJECT_ROOT"/}"
[[ "$OUT" != "$PROJECT_ROOT/docs/benchmarks.md" ]] ||
    info "scripts/bench.sh --update-docs copies its figures into README.md, docs/deploy.md and deploy/kubernetes"
