#!/usr/bin/env bash
#
# Switches the platform's scenarios (failures and latency to find in the traces) on and off, by
# rewriting the flags file the services read every half second: no restart needed. Run with no
# argument to list the scenarios and what is on; docs/scenarios.md walks through each one.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"

# The flags, their types and what they do; the services know the same four (services/platform/src/flags.rs).
readonly FLAGS=(authorFailureRate authorLatencyMs blogDatabaseLatencyMs blogDatabaseBottleneck)
declare -A TYPE_OF=(
    [authorFailureRate]="a number from 0 to 1"
    [authorLatencyMs]="whole milliseconds"
    [blogDatabaseLatencyMs]="whole milliseconds"
    [blogDatabaseBottleneck]="true or false"
)
declare -A EFFECT_OF=(
    [authorFailureRate]="that share of author-service's POST /authorize answer 500; callers answer 503"
    [authorLatencyMs]="author-service answers POST /authorize that much later (callers give up at 2 s: 503)"
    [blogDatabaseLatencyMs]="each MongoDB operation of blog-service takes that much longer"
    [blogDatabaseBottleneck]="blog-service runs one MongoDB operation at a time; the others queue"
)
declare -A EXAMPLE_OF=(
    [authorFailureRate]=0.2
    [authorLatencyMs]=2500
    [blogDatabaseLatencyMs]=300
    [blogDatabaseBottleneck]=true
)

FLAGS_FILE=${FLAGS_FILE:-$PROJECT_ROOT/flags.json}

usage() {
    cat <<EOF
Usage: scripts/scenario.sh                 list the scenarios, and which are on
       scripts/scenario.sh FLAG VALUE      switch one on (VALUE off switches it off)
       scripts/scenario.sh off             switch every one off

$(flag_table)

Examples:
  scripts/scenario.sh authorFailureRate 0.2
  scripts/scenario.sh blogDatabaseBottleneck true
  scripts/scenario.sh off

It writes $FLAGS_FILE (FLAGS_FILE, default flags.json in the project root), in flagd's
flag-definition format; every service reads it again within a second. docs/scenarios.md walks
through each scenario: switch it on, run tools/traffic, find the cause in the traces.
EOF
}

flag_table() {
    local flag
    printf '%-24s %-22s %s\n' FLAG VALUE EFFECT
    for flag in "${FLAGS[@]}"; do
        printf '%-24s %-22s %s\n' "$flag" "${TYPE_OF[$flag]}" "${EFFECT_OF[$flag]}"
    done
}

# check_value FLAG VALUE: stop unless VALUE has FLAG's type (or is `off`).
check_value() {
    local flag=$1 value=$2 ok=false
    case "$flag" in
        authorFailureRate) [[ "$value" =~ ^(0(\.[0-9]+)?|1(\.0+)?)$ ]] && ok=true ;;
        authorLatencyMs | blogDatabaseLatencyMs) [[ "$value" =~ ^[0-9]{1,9}$ ]] && ok=true ;;
        blogDatabaseBottleneck) [[ "$value" =~ ^(true|false)$ ]] && ok=true ;;
    esac
    if [[ "$value" == off ]]; then
        ok=true
    fi
    $ok || die "$flag takes ${TYPE_OF[$flag]} (or off), not '$value'; e.g. scripts/scenario.sh $flag ${EXAMPLE_OF[$flag]}"
}

# flags_file ACTION [FLAG VALUE]: reads the file and, for `set`, writes it back changed.
#   list           print each flag's state
#   set FLAG VAL   FLAG on with VAL (a checked value), or off for `off`
#   set all off    every flag off
#
# The file is rewritten in place, with one write of the whole text, not by renaming a new file over
# it: docker compose mounts this one file into the containers, and a mount of a file keeps showing
# the file it was made with, so a renamed-over file would never reach them. A service that reads the
# file in the middle of that write sees it does not parse, reads it again 100 ms later and gets the
# new flags; it never acts on half a file.
flags_file() {
    python3 - "$FLAGS_FILE" "$@" <<'PYTHON'
import json, os, sys

path, action, *args = sys.argv[1:]
# The value each flag has when off.
OFF = {"authorFailureRate": 0, "authorLatencyMs": 0, "blogDatabaseLatencyMs": 0,
       "blogDatabaseBottleneck": False}

try:
    with open(path, encoding="utf-8") as file:
        document = json.load(file)
    if not isinstance(document, dict) or not isinstance(document.get("flags"), dict):
        raise ValueError('it has no "flags" object')
except FileNotFoundError:
    document = None
except (OSError, ValueError) as error:
    if action == "list" or args != ["all", "off"]:
        sys.exit(f"scenario.sh: error: {path} does not parse ({error}); the services keep their "
                 "last good flags. "
                 "Fix it, or start afresh with: scripts/scenario.sh off")
    document = None
if document is None:
    document = {"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {}}
flags = document["flags"]

def state(key):
    definition = flags.get(key)
    if not isinstance(definition, dict) or definition.get("state") != "ENABLED":
        return "off"
    variant = definition.get("defaultVariant")
    value = definition.get("variants", {}).get(variant)
    if value == OFF[key]:
        return "off"
    return f"on: {variant} ({json.dumps(value)})"

if action == "list":
    for key in OFF:
        print(f"{key:<24} {state(key)}")
    sys.exit(0)

def variant_name(key, value):
    if value == OFF[key]:
        return "off"
    if key == "authorFailureRate":
        return f"{value * 100:g}%"
    if key == "blogDatabaseBottleneck":
        return "on"
    return f"{value}ms"

def switch(key, value):
    definition = flags.setdefault(key, {})
    variants = definition.setdefault("variants", {})
    variants["off"] = OFF[key]
    if value is None:
        definition["state"] = "DISABLED"
        definition["defaultVariant"] = "off"
    else:
        name = variant_name(key, value)
        variants[name] = value
        definition["state"] = "ENABLED"
        definition["defaultVariant"] = name
    # flagd's order, as the shipped file has it.
    flags[key] = {field: definition.pop(field) for field in ("state", "variants", "defaultVariant")}
    flags[key].update(definition)

def parse(key, raw):
    """The value scenario.sh checked, as JSON wants it; None for off."""
    if raw == "off":
        return None
    if key == "authorFailureRate":
        value = float(raw)
        value = int(value) if value.is_integer() else value
    elif key == "blogDatabaseBottleneck":
        value = raw == "true"
    else:
        value = int(raw)
    return None if value == OFF[key] else value

key, raw = args
for each in (OFF if key == "all" else [key]):
    switch(each, parse(each, raw))
text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
with open(path, "w", encoding="utf-8") as file:
    file.write(text)
for key in OFF:
    print(f"{key:<24} {state(key)}")
PYTHON
}

require_cmd python3
if [[ -d "$FLAGS_FILE" ]]; then
    die "$FLAGS_FILE is a directory, not the flags file (Docker makes one where a file it should mount is missing): remove it (rmdir) and restore the file (git checkout flags.json)"
fi

case "${1:-}" in
    -h | --help)
        usage
        exit 0
        ;;
    "" | list)
        [[ $# -le 1 ]] || die "list takes no value"
        flag_table
        echo
        info "In force ($FLAGS_FILE):"
        flags_file list
        exit 0
        ;;
    off)
        [[ $# -eq 1 ]] || die "off takes no value (to switch one flag off: scripts/scenario.sh FLAG off)"
        flags_file set all off
        ;;
    *)
        flag=$1 known=false
        for each in "${FLAGS[@]}"; do
            [[ "$flag" == "$each" ]] && known=true
        done
        if ! $known; then
            die "unknown flag '$flag'; the flags are: ${FLAGS[*]} (scripts/scenario.sh --help says what each does)"
        fi
        [[ $# -eq 2 ]] || die "$flag needs a value: ${TYPE_OF[$flag]} (or off); e.g. scripts/scenario.sh $flag ${EXAMPLE_OF[$flag]}"
        check_value "$flag" "$2"
        flags_file set "$flag" "$2"
        ;;
esac
info "Written to $FLAGS_FILE; the services apply it within a second."
