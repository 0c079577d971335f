#!/usr/bin/env python3
"""Writes docs/scenarios.md's walkthrough from a real run: for each scenario flag, how the viewer
finds the cause, with the commands' own output; and docs/tracing.md's failing request with its log
records.

    scripts/walkthrough.py             run it, and rewrite the walkthrough's regions
    scripts/walkthrough.py --print     run it, and print the regions instead

Against a running platform and trace viewer (scripts/up.sh, as for scripts/demo.sh): it logs in as
the administrator, creates a reader, and for each of the four flags sends normal `GET /blogs`
requests, switches the flag on with scripts/scenario.sh, sends requests until the flag acts,
switches it off, waits for the traces in the viewer, and runs `traces search --attr`, `traces diff`
and `traces show --critical-path` on them; for `authorFailureRate`, also `traces show --logs` of a
failed request, once its log records have arrived. The flags file is put back as it was, byte for
byte.

The regions lie between `<!-- bench:begin walkthrough-FLAG -->` (`walkthrough-logs` in
docs/tracing.md) and `<!-- bench:end ... -->`,
the markers scripts/bench/docs.py writes the benchmark's figures between (its markdown_region
does the writing). Each says the date and commit of its run: trace ids and timings change from
run to run.

Environment (all optional): AUTHEN_PORT, USER_PORT, BLOG_PORT, AUTHOR_PORT (3001 to 3004), HOST
(127.0.0.1), ADMIN_USERNAME (admin), ADMIN_PASSWORD (default: .data/admin-password), JAEGER_UI
(the viewer, http://localhost:16686), FLAGS_FILE (flags.json). Only the standard library is used.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "bench"))
from docs import markdown_region  # noqa: E402  (the one writer of generated regions)

DOC = Path("docs/scenarios.md")
# The failing request's trace with its log records.
LOGS_DOC = Path("docs/tracing.md")
LOGS_REGION = "walkthrough-logs"
# The log data model's SeverityNumber of WARN: a failure's record is WARN or worse.
SEVERITY_WARN = 13
HOST = os.environ.get("HOST", "127.0.0.1")
URL = {
    name: f"http://{HOST}:{os.environ.get(f'{name.upper()}_PORT', port)}"
    for name, port in [("authen", 3001), ("user", 3002), ("blog", 3003), ("author", 3004)]
}
VIEWER = os.environ.get("JAEGER_UI", "http://localhost:16686").rstrip("/")
FLAGS_FILE = Path(os.environ.get("FLAGS_FILE", ROOT / "flags.json"))
# Normal requests before each flag: they keep the typical `GET /blogs` a normal one (the median of
# the last 100), however many slow ones the scenarios before added.
NORMAL_REQUESTS = 15
# How long the services take to apply a change of the flags file, at most (docs/scenarios.md).
RELOAD_SECONDS = 2
# Diff rows shown: what changed most comes first.
DIFF_ROWS = 6


def die(message):
    sys.exit(f"walkthrough.py: error: {message}")


def request(method, url, token=None, body=None, timeout=30):
    """(status, parsed JSON body or None, trace id or None, seconds taken)."""
    headers = {"accept": "application/json"}
    data = None
    if token:
        headers["authorization"] = f"Bearer {token}"
    if body is not None:
        headers["content-type"] = "application/json"
        data = json.dumps(body).encode()
    started = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method),
                                    timeout=timeout) as response:
            status, raw, head = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, head = error.code, error.read(), error.headers
    taken = time.monotonic() - started
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    # traceresponse: 00-<trace-id>-<span-id>-<flags>
    parts = (head.get("traceresponse") or "").split("-")
    return status, parsed, parts[1] if len(parts) == 4 else None, taken


def scenario(*args):
    subprocess.run([str(ROOT / "scripts/scenario.sh"), *args], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "FLAGS_FILE": str(FLAGS_FILE)})


def all_off():
    """Every flag off, once the services have read the file: they read it every half second, and
    nothing in an answer says the flags changed when none acts."""
    scenario("off")
    time.sleep(RELOAD_SECONDS)


def traces(*args):
    """`traces ARGS --from VIEWER`'s output, without colour."""
    binary = ROOT / "target/release/traces"
    run = subprocess.run([str(binary), *args, "--from", VIEWER], capture_output=True, text=True,
                         env={**os.environ, "NO_COLOR": "1"})
    if run.returncode != 0:
        die(f"traces {' '.join(args)} failed: {run.stderr.strip()}")
    return run.stdout.rstrip("\n")


def wait_for_trace(trace_id, names):
    """Waits (at most 30 s: spans leave in batches) until the viewer has the trace with a span of
    each of `names`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, answer, _, _ = request("GET", f"{VIEWER}/api/v3/traces/{trace_id}")
        if status == 200:
            seen = {span["name"] for resource in answer["result"]["resourceSpans"]
                    for scope in resource["scopeSpans"] for span in scope["spans"]}
            if set(names) <= seen:
                return
        time.sleep(0.5)
    die(f"trace {trace_id} did not reach {VIEWER} with {', '.join(names)} within 30 s")


def wait_for_records(trace_id, services):
    """Waits (at most 30 s: records leave in batches too) until the viewer has a WARN-or-worse
    record of each of `services` in the trace."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, answer, _, _ = request("GET", f"{VIEWER}/api/logs?traceId={trace_id}")
        if status == 200:
            warned = {attribute["value"].get("stringValue")
                      for resource in answer["result"]["resourceLogs"]
                      if any(int(record.get("severityNumber", 0)) >= SEVERITY_WARN
                             for scope in resource.get("scopeLogs", [])
                             for record in scope.get("logRecords", []))
                      for attribute in resource.get("resource", {}).get("attributes", [])
                      if attribute["key"] == "service.name"}
            if set(services) <= warned:
                return
        time.sleep(0.5)
    die(f"the log records of trace {trace_id} did not reach {VIEWER} from {', '.join(services)} within 30 s")


class Platform:
    def __init__(self):
        for url in [*URL.values()]:
            try:
                request("GET", f"{url}/healthz", timeout=3)
            except OSError:
                die(f"nothing answers at {url}/healthz: start the platform first (scripts/up.sh)")
        try:
            request("GET", f"{VIEWER}/api/v3/services", timeout=3)
        except OSError:
            die(f"no trace viewer answers at {VIEWER} (JAEGER_UI)")
        admin = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD")
        if password is None:
            file = ROOT / ".data/admin-password"
            if not file.exists():
                die("no admin password: set ADMIN_PASSWORD, or start the platform with scripts/up.sh")
            password = file.read_text().strip()
        token = self.login(admin, password)
        reader = f"reader-walkthrough-{time.strftime('%m%d%H%M%S')}"
        reader_password = os.urandom(12).hex()
        status, _, _, _ = request("POST", f"{URL['user']}/users", token,
                                  {"username": reader, "password": reader_password,
                                   "permissions": ["READ"]})
        if status != 201:
            die(f"creating the reader answered {status}")
        self.reader = self.login(reader, reader_password)

    @staticmethod
    def login(username, password):
        status, body, _, _ = request("POST", f"{URL['authen']}/login", None,
                                     {"username": username, "password": password})
        if status != 200:
            die(f"logging in as {username} answered {status}")
        return body["access_token"]

    def list_blogs(self):
        return request("GET", f"{URL['blog']}/blogs?limit=5", self.reader)

    def normal_requests(self):
        for _ in range(NORMAL_REQUESTS):
            status, _, _, _ = self.list_blogs()
            if status != 200:
                die(f"a GET /blogs with every flag off answered {status}")

    def until(self, acted, concurrency=1, enough=1):
        """Sends `concurrency` GET /blogs at a time until `enough` replies have `acted` (within
        15 s: the services read the flags file every half second), then one more round; the
        replies."""
        replies = []
        deadline = time.monotonic() + 15
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            while sum(1 for reply in replies if acted(reply)) < enough:
                if time.monotonic() > deadline:
                    die("the flag did not act within 15 s")
                replies += pool.map(lambda _: self.list_blogs(), range(concurrency))
                time.sleep(0.1)
            replies += pool.map(lambda _: self.list_blogs(), range(concurrency))
        return replies


def console(commands):
    """A console block: each command, then its output."""
    lines = ["```console"]
    for command, output in commands:
        lines.append(f"$ {command}")
        if output:
            lines += output.splitlines()
    return lines + ["```"]


def diff_top(trace_id):
    """`traces diff ID`'s heading and its first rows."""
    lines = traces("diff", trace_id).splitlines()
    # The durations, a blank line, the column titles, then the rows.
    head = lines.index("") + 1 if "" in lines else 0
    shown = lines[: head + 1 + DIFF_ROWS]
    if len(lines) > len(shown):
        shown.append(f"... ({len(lines) - len(shown)} more rows)")
    return "\n".join(shown)


def run_flags(platform):
    """Each flag's region lines."""
    binary = "target/release/traces"
    regions = {}

    # 1. author-service fails half of its answers: the failed requests, found by the flag's event.
    platform.normal_requests()
    began = time.monotonic()
    scenario("authorFailureRate", "0.5")
    replies = platform.until(lambda reply: reply[0] == 503, enough=3)
    all_off()
    failed = [reply[2] for reply in replies if reply[0] == 503]
    for trace_id in failed:
        wait_for_trace(trace_id, ["GET /blogs", "POST /authorize"])
    # Since the flag was switched on: this run's requests, not an earlier run's.
    since = f"{int(time.monotonic() - began) + 1}s"
    search = ["search", "--attr", "feature_flag.key=authorFailureRate", "--since", since]
    status = ["search", "--attr", "http.response.status_code=503", "--attr",
              "http.route=/blogs", "--since", since]
    regions["authorFailureRate"] = console([
        ("scripts/scenario.sh authorFailureRate 0.5", ""),
        (f"{binary} {' '.join(search)}", traces(*search)),
        (f"{binary} {' '.join(status)}", traces(*status)),
        (f"{binary} diff {failed[0]}", diff_top(failed[0])),
    ])
    # The same failed request with the records that say why: author-service's and blog-service's.
    wait_for_records(failed[0], ["author-service", "blog-service"])
    regions["logs"] = console([
        (f"{binary} show {failed[0]} --logs", traces("show", failed[0], "--logs")),
    ])

    # 2. to 4.: a slow request beside the typical one, and its critical path.
    for flag, switch, acted, concurrency, names in [
        ("authorLatencyMs", [("authorLatencyMs", "500")],
         lambda reply: reply[3] >= 0.5, 1, ["authorize.delay"]),
        ("blogDatabaseLatencyMs", [("blogDatabaseLatencyMs", "300")],
         lambda reply: reply[3] >= 0.3, 1, ["mongodb.delay"]),
        ("blogDatabaseBottleneck", [("blogDatabaseBottleneck", "true"), ("blogDatabaseLatencyMs", "300")],
         lambda reply: reply[3] >= 1.0, 4, ["mongodb.queue", "mongodb.delay"]),
    ]:
        platform.normal_requests()
        for args in switch:
            scenario(*args)
        replies = platform.until(lambda reply: acted(reply) and reply[0] == 200, concurrency)
        all_off()
        slowest = max((reply for reply in replies if reply[0] == 200), key=lambda reply: reply[3])
        wait_for_trace(slowest[2], ["GET /blogs", "find", "count", *names])
        regions[flag] = console([
            *((f"scripts/scenario.sh {' '.join(args)}", "") for args in switch),
            (f"{binary} diff {slowest[2]}", diff_top(slowest[2])),
            (f"{binary} show {slowest[2]} --critical-path", traces("show", slowest[2], "--critical-path")),
        ])
    return regions


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--print", action="store_true",
                        help="print the regions instead of rewriting docs/scenarios.md and docs/tracing.md")
    args = parser.parse_args()
    if not (ROOT / "target/release/traces").exists():
        die("target/release/traces is missing: cargo build --release -p traces")
    platform = Platform()
    saved = FLAGS_FILE.read_bytes() if FLAGS_FILE.exists() else None
    try:
        all_off()
        regions = run_flags(platform)
    finally:
        if saved is None:
            FLAGS_FILE.unlink(missing_ok=True)
        else:
            FLAGS_FILE.write_bytes(saved)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    stamp = f"From the run of {date} at {commit} (`scripts/walkthrough.py`):"
    if args.print:
        for flag, lines in regions.items():
            print(f"<!-- walkthrough-{flag} -->\n{stamp}\n\n" + "\n".join(lines) + "\n")
        return 0
    for path in (DOC, LOGS_DOC):
        text = (ROOT / path).read_text()
        for flag, lines in regions.items():
            name = f"walkthrough-{flag}"
            if (name == LOGS_REGION) == (path == LOGS_DOC):
                text = markdown_region(text, name, [stamp, "", *lines], path)
        (ROOT / path).write_text(text)
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
