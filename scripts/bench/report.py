#!/usr/bin/env python3
"""Turns the raw results of scripts/bench.sh into docs/benchmarks.md and a summary on stdout.

    report.py WORKDIR [--out FILE]     the report (stdout: the summary; FILE: the whole report)
    report.py --one-line RUNDIR        one run's figures on one line, for bench.sh's progress

The report ends with its figures as data (a JSON block in an HTML comment), which
scripts/bench/docs.py copies into the documents that quote them. A report that FILE replaces is
moved into benchmarks-history/ beside it first.

WORKDIR is what bench.sh writes: `meta` (key=value), and per mode (traced, untraced, library,
tls-gzip, traced-nologs)
`rss.start`, `rss.idle` and one directory per run with wrk's figures (`load.json`, `flood.json`),
CPU snapshots (`cpu.before`, `cpu.after`), peak RSS (`rss.peak`) and the sink's span counts
(`spans.before`, `spans.after`). With `--repeat N`, rounds 2 to N lie in `round2` ... `roundN`,
each laid out the same. Only the standard library is used.
"""

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

NAN = float("nan")
SERVICES = ["author", "authen", "user", "blog"]
PROCESSES = SERVICES + ["nx-27017", "otlp-sink"]
MODES = ["traced", "untraced", "library", "tls-gzip", "traced-nologs"]
MODE_TITLE = {
    "traced": "tracing on (100%)",
    "untraced": "OTEL_SDK_DISABLED",
    "library": "tracing on, opentelemetry-otlp's exporter",
    "tls-gzip": "tracing on, over TLS with gzip",
    "traced-nologs": "tracing on, log records off",
}
# The modes that export spans, each compared with `untraced`.
TRACED_MODES = ["traced", "library", "tls-gzip", "traced-nologs"]
CASES = {
    "authorize": ("POST /authorize", "author-service only: verify the RS256 token, check the permission"),
    "list-blogs": ("GET /blogs?limit=20", "blog-service → author-service → MongoDB (find + count)"),
    "login": ("POST /login", "authen-service: find the user in MongoDB, verify the argon2id hash, sign a token"),
    "list-blogs-failing": ("GET /blogs?limit=20, authorFailureRate 0.2",
                           "the same as `GET /blogs`, with a fifth of author-service's answers failing"
                           " (500): those requests answer 503, make no MongoDB span and write two log"
                           " records (author-service's ERROR, blog-service's WARN)"),
    "create-blog": ("POST /blogs", "blog-service → author-service → MongoDB (insert)"),
    "outage": ("GET /blogs?limit=20 across a collector outage",
               "the same as `GET /blogs`, for 15 s, with the sink stopped (SIGSTOP) from the 5th to"
               " the 10th second"),
}

# The spans one request of each case makes, by the `service.name` they are exported under (see
# docs/tracing.md): each service's SERVER span and the spans inside it; MongoDB's operation and
# command spans report as `mongodb`.
EXPECTED_SPANS = {
    "authorize": {"author-service": 2},  # POST /authorize, token.verify
    # blog: GET /blogs and its POST /authorize client span; author: as above; mongodb: find and
    # count, each an operation span with its command span inside.
    "list-blogs": {"blog-service": 2, "author-service": 2, "mongodb": 4},
    "login": {"authen-service": 3, "mongodb": 2},  # POST /login, password.verify, token.sign
    "create-blog": {"blog-service": 2, "author-service": 2, "mongodb": 2},
}
EXPECTED_SPANS["outage"] = EXPECTED_SPANS["list-blogs"]
# The cases whose traced runs must lose no span.
NO_DROP_CASES = ["authorize", "list-blogs"]

# The published figures for the Node.js demo (express, mongoose, OTel auto-instrumentation) on a
# 2-core machine with the same MongoDB-compatible server, 16 connections.
NODE = {
    "list-blogs": {"rps": 140.0, "p99_ms": 220.0},
    "authorize": {"rps": 600.0, "p99_ms": 75.0},
}

# The targets (2-core machine, 16 connections, tracing at 100%).
TARGET_AUTHORIZE_RPS = 10_000
TARGET_AUTHORIZE_P99_MS = 5.0
TARGET_LIST_P99_MS = NODE["list-blogs"]["p99_ms"] / 3
TARGET_OVERHEAD = 0.10
# The next bar for plain tracing (OTLP/gRPC without TLS or gzip).
NEXT_TARGET_OVERHEAD = 0.05
TARGET_IDLE_MB = 20
TARGET_LOAD_MB = 60
TARGET_BURST_FACTOR = 2.0
# What exporting log records may add to our services' CPU per request where no request fails (and
# so none writes a record): the processor and the exporter's idle cost.
TARGET_LOGS_OVERHEAD = 0.02
# nx-27017 serves on one asyncio thread: at 90% of a core it is the bottleneck.
DB_BOUND_CORES = 0.9
# Above this average CPU use by other processes during the runs, the report says it was noisy.
NOISY_CORES = 0.1


# --- reading ---------------------------------------------------------------------------------


def read_pairs(path, separator=None):
    pairs = {}
    if not path.exists():
        return pairs
    for line in path.read_text().splitlines():
        if separator == "=":
            key, _, value = line.partition("=")
        else:
            key, _, value = line.partition(" ")
        if key:
            pairs[key] = value.strip()
    return pairs


def read_ints(path):
    return {key: int(value) for key, value in read_pairs(path).items() if value.lstrip("-").isdigit()}


def read_int_file(path):
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Run:
    """One measured run: a load (wrk), maybe a flood beside it, and what the machine did."""

    def __init__(self, directory, clk_tck):
        self.dir = directory
        self.load = read_json(directory / "load.json")
        self.flood = read_json(directory / "flood.json")
        before = read_ints(directory / "cpu.before")
        after = read_ints(directory / "cpu.after")
        self.wall_s = max((after.get("time_us", 0) - before.get("time_us", 0)) / 1e6, 1e-9)
        # CPU seconds in the measured window, per process.
        self.cpu = {
            name: (after[name] - before.get(name, 0)) / clk_tck
            for name in PROCESSES
            if name in after
        }
        self.cpu["wrk"] = max(self.load["cpu_seconds"], 0) if self.load else 0.0
        if self.flood:
            # The flood ran longer than the window; count the window's share of its CPU.
            share = self.wall_s / max(self.flood["duration_us"] / 1e6, 1e-9)
            self.cpu["wrk"] += max(self.flood["cpu_seconds"], 0) * min(share, 1.0)
        machine = (after.get("machine", 0) - before.get("machine", 0)) / clk_tck
        self.cpu["other"] = max(machine - sum(self.cpu.values()), 0.0)
        self.rss_peak_kb = read_ints(directory / "rss.peak")
        # Seconds until the platform was idle again after the run (the database's backlog).
        self.idle_wait_s = read_int_file(directory / "idle-wait.after")
        # Seconds until every service's /readyz answered 200 again after that.
        self.ready_wait_s = read_int_file(directory / "ready-wait.after")
        spans_before = read_json(directory / "spans.before") or {}
        spans_after = read_json(directory / "spans.after") or {}
        self.spans = spans_after.get("spans", 0) - spans_before.get("spans", 0)
        self.spans_by_service = {
            service: count - spans_before.get("by_service", {}).get(service, 0)
            for service, count in spans_after.get("by_service", {}).items()
        }

    @property
    def ok(self):
        return self.load is not None

    @property
    def requests(self):
        return self.load["requests"] if self.load else 0

    @property
    def rps(self):
        return self.requests / (self.load["duration_us"] / 1e6) if self.load else 0.0

    def latency_ms(self, key, load=None):
        """NaN when nothing was answered: wrk then reports zeros, which would read as fast."""
        load = load or self.load
        if not load or not load["requests"]:
            return NAN
        return load["latency_us"][key] / 1000

    @staticmethod
    def error_count(load):
        return sum(load["errors"].values()) if load else 0

    @property
    def errors(self):
        return self.error_count(self.load)

    def cores(self, name):
        return self.cpu.get(name, 0.0) / self.wall_s

    def per_1000(self, name):
        return self.cpu.get(name, 0.0) / self.requests * 1000 if self.requests else float("nan")

    def services_ms_per_request(self):
        """CPU milliseconds our four services spent per request (not the database, sink or wrk)."""
        if not self.requests:
            return NAN
        return sum(self.cpu.get(name, 0.0) for name in SERVICES) / self.requests * 1000

    def span_accounting(self, case):
        """Per service: (expected, received, at most in flight at the end). The requests wrk
        counted each made the case's spans; the requests it abandoned when the run ended (at most
        one per connection) may have made theirs too, so a service that dropped none received at
        least `expected`."""
        connections = label_connections(self.dir.name) or 0
        return {
            service: (per_request * self.requests, self.spans_by_service.get(service, 0),
                      per_request * connections)
            for service, per_request in EXPECTED_SPANS.get(case, {}).items()
        }

    def spans_dropped(self, case):
        """Spans lost: expected but never received, over every service of the case."""
        return sum(max(expected - received, 0)
                   for expected, received, _ in self.span_accounting(case).values())

    @property
    def spans_per_request(self):
        """NaN with a flood, whose requests make spans too."""
        return self.spans / self.requests if self.requests and not self.flood else NAN


class Results:
    def __init__(self, work):
        self.work = Path(work)
        self.meta = read_pairs(self.work / "meta", "=")
        clk_tck = int(self.meta.get("clk_tck", "100"))
        self.rss = {}  # (mode, "start" | "idle") -> {process: kB}, of the first round
        for mode in MODES:
            for phase in ("start", "idle"):
                self.rss[(mode, phase)] = read_ints(self.work / mode / f"rss.{phase}")
        # Per round, (mode, case, label) -> Run. Every section but the rounds' reads the first.
        repeat = int(self.meta.get("repeat", "1"))
        self.rounds = [self.load_round(self.work, clk_tck)] + [
            self.load_round(self.work / f"round{n}", clk_tck) for n in range(2, repeat + 1)]
        self.runs = self.rounds[0]
        # The modes measured, in MODES' order.
        self.modes = [mode for mode in MODES if any(key[0] == mode for runs in self.rounds for key in runs)]
        self.connections = [int(c) for c in self.meta.get("connections", "").split()]
        self.cases = self.meta.get("cases", "").split()

    @staticmethod
    def load_round(directory, clk_tck):
        runs = {}
        for mode in MODES:
            mode_dir = directory / mode
            if not mode_dir.is_dir():
                continue
            for case_dir in sorted(mode_dir.iterdir()):
                if not case_dir.is_dir() or case_dir.name == "mongo":
                    continue
                for run_dir in case_dir.iterdir():
                    if (run_dir / "load.json").exists():
                        runs[(mode, case_dir.name, run_dir.name)] = Run(run_dir, clk_tck)
        return runs

    def run(self, mode, case, label):
        return self.runs.get((mode, case, label))

    def cpu_overheads(self, case, label, mode="traced", baseline="untraced"):
        """The CPU per request `mode` adds against `baseline` (tracing's overhead, by default) in
        each round that measured both modes."""
        return [cpu_overhead(runs[(mode, case, label)], runs[(baseline, case, label)])
                for runs in self.rounds
                if (mode, case, label) in runs and (baseline, case, label) in runs]


# --- formatting ------------------------------------------------------------------------------


def num(value, decimals=0):
    """1234567.8 -> '1 234 568' (a thin space would be nicer, but terminals mangle it)."""
    if value != value:  # NaN
        return "–"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ")


def ms(value):
    if value != value:
        return "–"
    if abs(value) < 10:
        return f"{value:.2f}"
    if abs(value) < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def mb(kb):
    return f"{kb / 1024:.1f}" if kb else "–"


def ratio(a, b):
    """a / b, NaN when b is 0 or either is NaN (every comparison with NaN is False)."""
    return a / b if b and b == b and a == a else NAN


def lower(node_ms, ours_ms):
    """'3.2× lower' or '1.9× higher': how our latency compares with Node's."""
    factor = ratio(node_ms, ours_ms)
    if factor != factor:
        return "not measured"
    return f"{factor:.1f}× lower" if factor >= 1 else f"{1 / factor:.1f}× higher"


def pct(value):
    return f"{value * 100:+.1f}%"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def label_connections(label):
    """The connections of a run labelled after them (c16, c64), else None (login-burst's)."""
    return int(label[1:]) if label.startswith("c") and label[1:].isdigit() else None


def run_label(label):
    return f"{label[1:]}" if label.startswith("c") else label


# --- sections --------------------------------------------------------------------------------


def machine_facts(meta):
    facts = {"cores (nproc)": str(os.cpu_count())}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["CPU"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                facts["RAM"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    facts["kernel"] = platform.release()
    try:
        facts["OS"] = next(
            line.split("=", 1)[1].strip('"')
            for line in Path("/etc/os-release").read_text().splitlines()
            if line.startswith("PRETTY_NAME=")
        )
    except (OSError, StopIteration):
        pass
    facts["rustc"] = meta.get("rustc", "?")
    facts["load generator"] = meta.get("wrk", "wrk")
    facts["database"] = f"nx-27017 {meta.get('nx', '?')} (MongoDB wire protocol on SQLite)"
    facts["commit"] = meta.get("commit", "?")
    facts["load average"] = f"{meta.get('loadavg_start', '?')} at the start, {meta.get('loadavg_end', '?')} at the end"
    return facts


def noise(results):
    others = [run.cores("other") for run in results.runs.values()]
    if not others:
        return 0.0, 0.0
    return sum(others) / len(others), max(others)


def case_section(results, case):
    title, path = CASES[case]
    if case == "list-blogs":
        path += f", with {results.meta.get('blogs', '?')} blogs in the collection"
    lines = [f"### `{title}`", "", f"{path}.", ""]
    rows = []
    for label in sorted({key[2] for key in results.runs if key[1] == case}, key=label_connections):
        connections = label_connections(label)
        for mode in MODES:
            run = results.run(mode, case, label)
            if not run:
                continue
            rows.append([
                connections, MODE_TITLE[mode], num(run.requests), num(run.rps), ms(run.latency_ms("p50")),
                ms(run.latency_ms("p99")), ms(run.latency_ms("max")), num(run.errors),
                f"{num(run.spans)} ({run.spans_per_request:.1f}/req)",
                f"{run.services_ms_per_request():.3f}",
            ])
        for mode in TRACED_MODES:
            traced, untraced = results.run(mode, case, label), results.run("untraced", case, label)
            if not (traced and untraced and traced.requests and untraced.requests):
                continue
            rows.append([
                connections, "**tracing overhead**" if mode == "traced" else f"**overhead: {mode}**", "",
                f"**{pct((untraced.rps - traced.rps) / untraced.rps).lstrip('+')}**" if traced.rps <= untraced.rps
                else f"**{pct((untraced.rps - traced.rps) / untraced.rps)}** (faster)",
                f"{ms(traced.latency_ms('p50') - untraced.latency_ms('p50'))}",
                f"{ms(traced.latency_ms('p99') - untraced.latency_ms('p99'))}", "", "", "",
                f"**{pct(cpu_overhead(traced, untraced))}**",
            ])
    lines.append(table(
        ["conns", "mode", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "spans received",
         "services CPU ms/req"], rows))
    lines += ["", "The overhead row: throughput lost with tracing on (a negative figure: it was faster),"
              " the p50 and p99 added, in ms, and the CPU our services spent per request added. The"
              " last column counts the four services only: not nx-27017, wrk or the collector,"
              " which share the machine's 2 cores (see *Where the CPU goes*). Errors: answers other"
              " than 2xx (such as the 503 a request gets at the services' 4.5 s deadline) and"
              " socket errors."]
    return "\n".join(lines)


def rounds_section(results):
    """With --repeat: each round's CPU per request and overhead, and their median and spread."""
    rows = []
    for (mode, case, label) in sorted(results.runs, key=lambda key: sort_key((key, None))):
        overheads = results.cpu_overheads(case, label, mode)
        if mode not in TRACED_MODES or len(overheads) < 2:
            continue
        pairs = [f"{pct(value)} ({runs[(mode, case, label)].services_ms_per_request():.3f} / "
                 f"{runs[('untraced', case, label)].services_ms_per_request():.3f})"
                 for runs, value in zip(results.rounds, overheads)]
        name = f"{case} {run_label(label)}" + ("" if mode == "traced" else f" {mode}")
        rows.append([name, *pairs, f"**{pct(statistics.median(overheads))}**",
                     f"{pct(min(overheads))} to {pct(max(overheads))}"])
    if not rows:
        return ""
    header = ["run"] + [f"round {n}" for n in range(1, len(results.rounds) + 1)] + ["median", "spread"]
    return "\n".join([
        table(header, rows),
        "",
        "What tracing adds to our services' CPU per request in each round, with the traced and"
        " untraced ms per request in parentheses; the rounds alternate which mode runs first, each on"
        " a freshly started platform. The spread between rounds is this machine's noise; the median"
        " is the figure to quote. The other sections show the first round."
        + ("" if results.modes == ["traced", "untraced"] else
           " A run named after a mode is that mode against the same round's untraced run: `library`"
           " is the services built with opentelemetry-otlp's span exporter instead of ours,"
           " `tls-gzip` ours exporting over TLS with gzip."),
    ])


def spans_section(results):
    rows = []
    for (mode, case, label), run in sorted(results.runs.items(), key=sort_key):
        if mode not in TRACED_MODES:
            continue
        for service, (expected, received, in_flight) in run.span_accounting(case).items():
            rows.append([f"{case} {run_label(label)}" + ("" if mode == "traced" else f" {mode}"), service, num(expected), num(received),
                         num(received - expected), num(in_flight), num(max(expected - received, 0))])
    if not rows:
        return ""
    return "\n".join([
        "Every traced run's spans, by the service that exported them: *expected* is the requests wrk"
        " counted times the spans one request makes (see docs/tracing.md), *received* what the sink"
        " got. The *extra* spans come from the requests wrk abandoned when the run ended (at most one"
        " per connection: *in flight*) and from the readiness checks between runs (a few). A service"
        " that received fewer than expected dropped spans: its export queue overflowed.",
        "",
        table(["run", "service", "expected", "received", "extra", "in flight at the end", "dropped"], rows),
    ])


def cpu_section(results):
    names = PROCESSES + ["wrk", "other"]
    header = ["run", "req/s"] + [f"{name}" for name in names] + ["idle after", "ready after"]
    rows = []
    for (mode, case, label), run in sorted(results.runs.items(), key=sort_key):
        cells = [f"{case} {run_label(label)} {mode}", num(run.rps)]
        for name in names:
            per_1000 = run.per_1000(name)
            cells.append(f"{per_1000:.3f} ({run.cores(name) * 100:.0f}%)" if per_1000 == per_1000
                         else f"– ({run.cores(name) * 100:.0f}%)")
        cells.append(f"{run.idle_wait_s} s")
        cells.append(f"**{run.ready_wait_s} s**" if run.ready_wait_s > 2 else f"{run.ready_wait_s} s")
        rows.append(cells)
    return "\n".join([
        "CPU seconds per 1 000 requests of each process, and in parentheses its average use of one"
        " core during the run (100% = one core busy; the machine has "
        f"{os.cpu_count()} cores). `wrk` is the load generator; `other` is everything else the"
        " machine ran meanwhile (should be ~0: else the run was disturbed). For login-burst the"
        " requests are the GET /blogs ones, the login flood's CPU included. `idle after`: how long"
        " the platform stayed busy after the load stopped (mostly nx-27017 executing the commands of"
        " requests wrk abandoned at the end of the run); `ready after`: how much longer until every"
        " service's `/readyz` answered 200 again (more than a second or two means the run left a"
        " service unable to reach a dependency for a while).",
        "",
        table(header, rows),
    ])


def sort_key(item):
    (mode, case, label), _ = item
    order = ["authorize", "list-blogs", "list-blogs-failing", "login", "login-burst", "outage", "create-blog"]
    connections = label_connections(label)
    if connections is None:
        connections = 0 if label == "alone" else 1
    return (order.index(case) if case in order else 99, connections, MODES.index(mode))


def rss_section(results):
    header = ["service"]
    for mode in results.modes:
        header += [f"{mode}: start", f"{mode}: idle", f"{mode}: peak under load (run)"]
    rows = []
    for name in SERVICES + ["nx-27017", "otlp-sink"]:
        cells = [name if name in SERVICES else f"{name} (not ours)"]
        for mode in results.modes:
            cells.append(mb(results.rss[(mode, "start")].get(name, 0)))
            cells.append(mb(results.rss[(mode, "idle")].get(name, 0)))
            peak, where = peak_rss(results, mode, name)
            cells.append(f"{mb(peak)} ({where})" if peak else "–")
        rows.append(cells)
    return "\n".join([
        "Resident memory in MB (MiB): `start` right after start-up, `idle` after a warm-up of each"
        " kind of request and a quiet pause, `peak` the highest VmHWM over the measured runs, with"
        " the run it was reached in.",
        "",
        table(header, rows),
        "",
        "Peak RSS per run (MB):",
        "",
        table(["run"] + SERVICES, [
            [f"{case} {run_label(label)} {mode}"] + [mb(run.rss_peak_kb.get(name, 0)) for name in SERVICES]
            for (mode, case, label), run in sorted(results.runs.items(), key=sort_key)
        ]),
    ])


def peak_rss(results, mode, name):
    best, where = 0, ""
    for (run_mode, case, label), run in results.runs.items():
        if run_mode == mode and run.rss_peak_kb.get(name, 0) > best:
            best, where = run.rss_peak_kb[name], f"{case} {run_label(label)}"
    return best, where


def burst_section(results):
    rows = []
    for mode in MODES:
        alone = results.run(mode, "login-burst", "alone")
        burst = results.run(mode, "login-burst", "burst")
        if not (alone and burst):
            continue
        for label, run in (("alone", alone), ("with the login flood", burst)):
            flood = run.flood
            rows.append([
                MODE_TITLE[mode], label, num(run.rps), ms(run.latency_ms("p50")),
                ms(run.latency_ms("p99")), ms(run.latency_ms("max")), num(run.errors),
                num(flood["requests"] / (flood["duration_us"] / 1e6)) if flood else "",
                ms(run.latency_ms("p99", flood)) if flood else "",
                num(Run.error_count(flood)) if flood else "",
            ])
        factor = ratio(burst.latency_ms("p99"), alone.latency_ms("p99"))
        rows.append([MODE_TITLE[mode], "**p99 with / alone**", "", "",
                     f"**{factor:.2f}×**" if factor == factor else "–", "", "", "", "", ""])
    if not rows:
        return "Not measured in this run."
    meta = results.meta
    return "\n".join([
        f"GET /blogs?limit=20 at {meta.get('burst_list_connections', 16)} connections, alone and while"
        f" POST /login (argon2id) is driven as fast as it goes at {meta.get('burst_connections', 16)}"
        " connections.",
        "",
        table(["mode", "GET /blogs", "req/s", "p50 ms", "p99 ms", "max ms", "errors",
               "login req/s", "login p99 ms", "login errors"], rows),
    ])


def no_answer(value):
    """The verdict's detail for a figure that could not be measured (NaN), else ''."""
    return "" if value == value else "no request was answered during the run"


def verdict(met, text):
    return ("✅ met" if met else "❌ missed") + (f": {text}" if text else "")


def unmeasurable(*runs):
    """Why these runs cannot judge a target (no answers, failed requests), or ''."""
    for run in runs:
        if not run.requests:
            return "no request was answered during the run"
        if run.errors:
            return f"{num(run.errors)} of {num(run.requests)} requests failed"
    return ""


def cpu_overhead(traced, untraced):
    """How much more CPU per request our services spent with tracing on, as a fraction."""
    return traced.services_ms_per_request() / untraced.services_ms_per_request() - 1


def targets_section(results):
    rows = []

    def add(target, result, met, detail="", runs=()):
        why = unmeasurable(*runs)
        if met is None:
            text = "not measured"
        elif why:
            text = f"❓ not measurable: {why}"
        else:
            text = verdict(met, detail)
        rows.append([target, result, text])

    run = results.run("traced", "authorize", "c16")
    if run:
        add("POST /authorize ≥ 10 000 req/s", f"{num(run.rps)} req/s", run.rps >= TARGET_AUTHORIZE_RPS,
            "" if run.rps >= TARGET_AUTHORIZE_RPS else f"{(1 - run.rps / TARGET_AUTHORIZE_RPS) * 100:.0f}% short",
            runs=[run])
        p99 = run.latency_ms("p99")
        add("POST /authorize p99 ≤ 5 ms", f"{ms(p99)} ms", p99 <= TARGET_AUTHORIZE_P99_MS,
            "" if p99 <= TARGET_AUTHORIZE_P99_MS else no_answer(p99) or f"{p99 / TARGET_AUTHORIZE_P99_MS:.1f}× the target",
            runs=[run])
    else:
        add("POST /authorize ≥ 10 000 req/s, p99 ≤ 5 ms", "–", None)

    run = results.run("traced", "list-blogs", "c16")
    if run:
        p99 = run.latency_ms("p99")
        add(f"GET /blogs p99 ≥ 3× lower than Node's 220 ms (≤ {TARGET_LIST_P99_MS:.1f} ms)",
            f"{ms(p99)} ms ({lower(NODE['list-blogs']['p99_ms'], p99)})", p99 <= TARGET_LIST_P99_MS,
            "" if p99 <= TARGET_LIST_P99_MS else no_answer(p99) or f"{p99 / TARGET_LIST_P99_MS:.1f}× the target",
            runs=[run])
        nx = run.cores("nx-27017")
        ours = sum(run.cores(name) for name in SERVICES)
        add("GET /blogs throughput limited by the database server, not our services",
            f"nx-27017 {nx * 100:.0f}% of a core, our four services {ours * 100:.0f}% together",
            nx >= DB_BOUND_CORES,
            "" if nx >= DB_BOUND_CORES else "the database was not saturated", runs=[run])
    else:
        add("GET /blogs p99 ≤ 73 ms, database-bound", "–", None)

    overheads = []
    for (mode, case, label), traced in results.runs.items():
        if mode != "traced" or case == "login-burst":
            continue
        untraced = results.run("untraced", case, label)
        if untraced and not unmeasurable(traced, untraced):
            overheads.append(((untraced.rps - traced.rps) / untraced.rps, f"{case} {run_label(label)}"))
    if overheads:
        worst, where = max(overheads)
        over = [f"{where_} ({value * 100:.0f}%)" for value, where_ in sorted(overheads, reverse=True)
                if value > TARGET_OVERHEAD]
        cpu = [(cpu_overhead(results.run("traced", case, label), results.run("untraced", case, label)),
                f"{case} {run_label(label)}")
               for (mode, case, label) in results.runs
               if mode == "traced" and case != "login-burst" and results.run("untraced", case, label)]
        cpu_worst, cpu_where = max(cpu)
        add("tracing overhead ≤ 10% of throughput (every case without failed requests)",
            f"worst {worst * 100:.1f}% ({where}); our services' CPU per request: worst"
            f" {pct(cpu_worst)} ({cpu_where})", worst <= TARGET_OVERHEAD,
            "" if not over else "over in " + ", ".join(over))
    else:
        add("tracing overhead ≤ 10%", "–", None)

    cpu = [(cpu_overhead(traced, untraced), f"{case} {run_label(label)}", traced, untraced)
           for (mode, case, label), traced in results.runs.items()
           if mode == "traced" and case in NO_DROP_CASES
           and (untraced := results.run("untraced", case, label))]
    if cpu and len(results.rounds) > 1:
        medians = [(statistics.median(overheads), f"{case} {run_label(label)}", overheads)
                   for (mode, case, label) in results.runs
                   if mode == "traced" and case in NO_DROP_CASES
                   and len(overheads := results.cpu_overheads(case, label)) > 1]
        worst, where, overheads = max(medians, key=lambda item: item[0])
        over = [f"{where_} ({pct(value)})" for value, where_, _ in medians if value > TARGET_OVERHEAD]
        add("tracing adds ≤ 10% to our services' CPU per request (authorize, list-blogs), median of"
            f" {len(results.rounds)} rounds",
            f"worst median {pct(worst)} ({where}; rounds {', '.join(pct(value) for value in overheads)})",
            not over, "" if not over else "over in " + ", ".join(over))
    elif cpu:
        worst, where, traced, untraced = max(cpu, key=lambda item: item[0])
        over = [f"{where_} ({pct(value)})" for value, where_, _, _ in cpu if value > TARGET_OVERHEAD]
        add("tracing adds ≤ 10% to our services' CPU per request (authorize, list-blogs)",
            f"worst {pct(worst)} ({where}): {traced.services_ms_per_request():.3f} against"
            f" {untraced.services_ms_per_request():.3f} ms", not over,
            "" if not over else "over in " + ", ".join(over), runs=[traced, untraced])
    traced_runs = [(case, label, run) for runs in results.rounds for (mode, case, label), run in runs.items()
                   if mode == "traced" and case in NO_DROP_CASES]
    if traced_runs:
        dropped = [(run.spans_dropped(case), f"{case} {run_label(label)}") for case, label, run in traced_runs]
        lost = [f"{where} ({num(count)})" for count, where in dropped if count]
        add("0 spans dropped (traced authorize and list-blogs runs)",
            f"{num(sum(count for count, _ in dropped))} dropped in {len(dropped)} runs", not lost,
            "" if not lost else "dropped in " + ", ".join(lost))

    plain = overheads_by_run(results, "traced")
    if plain:
        add_overhead_target(add, "plain tracing adds ≤ 5% to our services' CPU per request (the next bar)",
                            plain, NEXT_TARGET_OVERHEAD)
    tls_gzip = overheads_by_run(results, "tls-gzip")
    if tls_gzip:
        add_overhead_target(add, "with TLS and gzip on, tracing adds ≤ 10% to our services' CPU per request",
                            tls_gzip, TARGET_OVERHEAD)
    logs = {where: values for where, values in logs_overheads(results).items() if where.split()[0] in NO_DROP_CASES}
    if logs:
        add_overhead_target(add, "log records on add ≤ 2% to our services' CPU per request (no request failing)",
                            logs, TARGET_LOGS_OVERHEAD)
    for mode in TRACED_MODES:
        outages = [runs[(mode, "outage", label)] for runs in results.rounds
                   for (run_mode, case, label) in runs if run_mode == mode and case == "outage"]
        if outages:
            lost = [run.spans_dropped("outage") for run in outages]
            name = "" if mode == "traced" else f" ({mode})"
            add(f"0 spans lost across a 5 s collector outage, GET /blogs at 16 connections{name}",
                f"{' and '.join(num(count) for count in lost)} lost of"
                f" {' and '.join(num(sum(e for e, _, _ in run.span_accounting('outage').values())) for run in outages)}"
                f" expected ({len(outages)} run{'s' if len(outages) > 1 else ''})",
                not any(lost), runs=outages)

    idle = results.rss[("traced", "idle")]
    if idle:
        worst = max(SERVICES, key=lambda name: idle.get(name, 0))
        high = [f"{name} {mb(idle[name])} MB" for name in SERVICES if idle.get(name, 0) >= TARGET_IDLE_MB * 1024]
        add("each service idles < 20 MB RSS", f"largest: {worst}-service {mb(idle.get(worst, 0))} MB",
            not high, ", ".join(high))
    peaks = {name: peak_rss(results, "traced", name) for name in SERVICES}
    if any(peak for peak, _ in peaks.values()):
        worst = max(SERVICES, key=lambda name: peaks[name][0])
        high = [f"{name} {mb(peak)} MB in {where}" for name, (peak, where) in peaks.items()
                if peak >= TARGET_LOAD_MB * 1024]
        add("each service < 60 MB RSS under load",
            f"largest: {worst}-service {mb(peaks[worst][0])} MB ({peaks[worst][1]})", not high, "; ".join(high))

    alone = results.run("traced", "login-burst", "alone")
    burst = results.run("traced", "login-burst", "burst")
    if alone and burst:
        factor = ratio(burst.latency_ms("p99"), alone.latency_ms("p99"))
        add("a login burst raises GET /blogs p99 by ≤ 2×",
            f"{ms(alone.latency_ms('p99'))} → {ms(burst.latency_ms('p99'))} ms ({factor:.2f}×)",
            factor <= TARGET_BURST_FACTOR,
            "" if factor <= TARGET_BURST_FACTOR else no_answer(factor) or f"{factor / TARGET_BURST_FACTOR:.1f}× the allowance",
            runs=[alone, burst])
    else:
        add("login burst ≤ 2× GET /blogs p99", "–", None)

    lines = [
        "The targets, for a 2-core machine, 16 connections, tracing at 100%:",
        "",
        table(["target", "result", "verdict"], rows),
    ]
    # list-blogs at 16 connections and login-burst's first half are the same workload on the
    # same platform: how far apart they land is this run's noise between single runs.
    spreads = []
    for mode in MODES:
        same = results.run(mode, "list-blogs", "c16"), results.run(mode, "login-burst", "alone")
        if all(run and run.rps for run in same):
            low, high = sorted(run.rps for run in same)
            spreads.append(f"{MODE_TITLE[mode]} {num(same[0].rps)} and {num(same[1].rps)} req/s,"
                           f" {(high - low) / high * 100:.0f}% apart")
    if spreads:
        lines += ["", "Noise: `GET /blogs` at 16 connections ran twice in each mode, as list-blogs and"
                  " as the first half of login-burst: " + "; ".join(spreads) + ". Differences of"
                  " that size between two single runs of the database-bound cases are the machine's"
                  " noise, not the platform's."]
    return "\n".join(lines)


def overheads_by_run(results, mode):
    """{"case conns": [overhead of each round]} of `mode` against untraced, for the cases that
    must lose no span (authorize, list-blogs)."""
    found = {}
    for (run_mode, case, label) in sorted(results.runs, key=lambda key: sort_key((key, None))):
        if run_mode == mode and case in NO_DROP_CASES:
            overheads = results.cpu_overheads(case, label, mode)
            if overheads:
                found[f"{case} {run_label(label)}"] = overheads
    return found


def add_overhead_target(add, target, overheads, limit):
    """A targets row: the worst of the runs' medians (or single rounds) against `limit`."""
    medians = {where: statistics.median(values) for where, values in overheads.items()}
    where, worst = max(medians.items(), key=lambda item: item[1])
    rounds = len(overheads[where])
    over = [f"{where_} ({pct(value)})" for where_, value in medians.items() if value > limit]
    add(target + (f", median of {rounds} rounds" if rounds > 1 else ""),
        f"worst {pct(worst)} ({where}); " + ", ".join(f"{where_} {pct(value)}" for where_, value in medians.items()),
        not over, "" if not over else "over in " + ", ".join(over))


def exporters_section(results):
    """With the library mode: ours against opentelemetry-otlp's exporter, what each adds to our
    services' CPU per request, medians of the rounds with their spread, and the difference."""
    ours, library = overheads_by_run(results, "traced"), overheads_by_run(results, "library")
    rows = []
    for where in ours:
        if where not in library:
            continue
        mine, theirs = ours[where], library[where]
        rows.append([where, f"**{pct(statistics.median(mine))}** ({pct(min(mine))} to {pct(max(mine))})",
                     f"**{pct(statistics.median(theirs))}** ({pct(min(theirs))} to {pct(max(theirs))})",
                     f"{(statistics.median(theirs) - statistics.median(mine)) * 100:+.1f} points"])
    if not rows:
        return ""
    return "\n".join([
        "What tracing adds to our services' CPU per request with each exporter, against the same"
        " round's OTEL_SDK_DISABLED run: the median of the rounds, their spread in parentheses, and"
        " how many percentage points opentelemetry-otlp's median is above ours. The same services,"
        " built with platform's `opentelemetry-otlp-exporter` feature for the library's.",
        "",
        table(["run", "ours (platform::otlp)", "opentelemetry-otlp 0.31", "library − ours"], rows),
    ])


def logs_overheads(results):
    """{"case conns": [each round's CPU per request with log records on against off]}: traced
    against traced-nologs, every case both measured."""
    found = {}
    for (mode, case, label) in sorted(results.runs, key=lambda key: sort_key((key, None))):
        if mode == "traced":
            overheads = results.cpu_overheads(case, label, "traced", "traced-nologs")
            if overheads:
                found[f"{case} {run_label(label)}"] = overheads
    return found


def logs_section(results):
    """With the traced-nologs mode: what exporting log records adds to our services' CPU per
    request, the normal path against its target and the failing one."""
    overheads = logs_overheads(results)
    if not overheads:
        return ""
    rows = []
    for where, values in overheads.items():
        case, connections = where.split()
        median = statistics.median(values)
        normal = case in NO_DROP_CASES
        runs = [results.run(mode, case, f"c{connections}") for mode in ("traced", "traced-nologs")]
        why = unmeasurable(*runs) if normal else ""
        if not normal:
            verdict_text = "no target: its failures write records"
        elif why:
            verdict_text = f"❓ not measurable: {why}"
        else:
            verdict_text = verdict(median <= TARGET_LOGS_OVERHEAD, "")
        rows.append([f"{CASES[case][0]}, {connections} connections",
                     f"{runs[0].services_ms_per_request():.3f}" if runs[0] else "–",
                     f"{runs[1].services_ms_per_request():.3f}" if runs[1] else "–",
                     f"**{pct(median)}**" + (f" ({pct(min(values))} to {pct(max(values))})" if len(values) > 1 else ""),
                     verdict_text])
    return "\n".join([
        "What exporting log records (the shipped default) adds to our services' CPU per request,"
        " against the same round's run with `OTEL_LOGS_EXPORTER=none`, tracing on in both; the"
        f" median of {len(next(iter(overheads.values())))} round(s), with their spread. A request served"
        f" well writes no record, so on the normal path the target is ≤ {TARGET_LOGS_OVERHEAD * 100:.0f}%;"
        " with the failure flag on, each failed request writes two. CPU per request in ms, first"
        " round.",
        "",
        table(["run", "logs on, ms/req", "logs off, ms/req", "logs on − off", "verdict"], rows),
    ])


def node_section(results):
    rows = []
    for case, node in NODE.items():
        run = results.run("traced", case, "c16")
        title = CASES[case][0]
        if not run:
            rows.append([title, f"{num(node['rps'])} req/s, p99 {ms(node['p99_ms'])} ms", "not measured", ""])
            continue
        p99 = run.latency_ms("p99")
        rows.append([
            f"`{title}`",
            f"{num(node['rps'])} req/s, p99 {ms(node['p99_ms'])} ms",
            f"{num(run.rps)} req/s, p99 {ms(p99)} ms",
            f"{run.rps / node['rps']:.1f}× the throughput, p99 {lower(node['p99_ms'], p99)}",
        ])
    return "\n".join([
        "Against the published figures for the Node.js demo (express, mongoose, OpenTelemetry"
        " auto-instrumentation; 2 cores, the same MongoDB-compatible server, 16 connections)."
        " Ours: tracing on, 16 connections. The Node figures were not measured here.",
        "",
        table(["request", "Node.js demo", "this platform", "ratio"], rows),
    ])


def method_section(meta):
    modes = meta.get("modes", "traced untraced").split()
    extra = []
    if "library" in modes:
        extra.append("- **library**: tracing on, the services built with platform's"
                     " `opentelemetry-otlp-exporter` feature: opentelemetry-otlp 0.31's span exporter"
                     " (gRPC, tonic) in place of ours, everything else the same.")
    if "traced-nologs" in modes:
        extra.append("- **traced-nologs**: tracing on, `OTEL_LOGS_EXPORTER=none`: the services send"
                     " spans only. Every other mode exports log records as shipped, to the same sink.")
    if "list-blogs-failing" in meta.get("cases", "").split():
        extra.append("- **list-blogs-failing**: `GET /blogs` with the `authorFailureRate` flag at 0.2 in"
                     " the services' flags file (docs/scenarios.md), set 2 s before the case and removed"
                     " after it; its 503s count as errors.")
    if "tls-gzip" in modes:
        extra.append("- **tls-gzip**: tracing on, exported over TLS to `otlp-sink --tls` (a TLS"
                     " front with a private authority's certificate, trusted through"
                     " `OTEL_EXPORTER_OTLP_CERTIFICATE`) with `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`.")
    if "outage" in meta.get("cases", "").split():
        extra.append("- **outage**: `GET /blogs` at 16 connections for 15 s, tracing on (plain), the sink"
                     " stopped with SIGSTOP from the 5th to the 10th second (it keeps its connections"
                     " but answers nothing) and continued; *dropped* in *Spans* is what never arrived.")
    return "\n".join([
        f"- Each run drives one endpoint with `wrk` (closed loop: every connection sends its next"
        f" request as soon as the answer arrives) for {meta.get('duration_s')} s, after a"
        f" {meta.get('warmup_s')} s unmeasured warm-up at the same concurrency, with"
        f" {meta.get('threads')} wrk threads. Latency is wrk's, from send to the last byte,"
        " over every request of the run; at a fixed number of connections it includes the time a"
        " request waits for a busy server, but not the time a client would have waited to send"
        " (wrk does not correct for coordinated omission).",
        ("- The platform is the four services as they ship: the `production` profile (the release"
         " build linked with fat LTO, see Cargo.toml)" if meta.get("profile", "production") == "production"
         else "- The platform is the four services built with the `release` profile (`--profile release`:"
         " the shipped code without the production profile's fat LTO, so its figures compare the modes"
         " with one another, not what ships)")
        + ", started with fresh RSA keys"
        " (scripts/gen-keys.sh) and a bootstrap administrator, against nx-27017 with a fresh data"
        f" directory, seeded with a writer, a reader and {meta.get('blogs')} blogs of ~600"
        " characters. Each mode gets its own fresh platform and database.",
        "- **Tracing on**: `OTEL_TRACES_SAMPLER=always_on`, spans exported over OTLP/gRPC with the"
        " services' default batch settings (docs/tracing.md, *Settings*) to `otlp-sink`, a real"
        " OTLP receiver that decodes and counts them per service (the *spans received* column and"
        " *Spans: expected and received*; its CPU is shown apart). **Off**:"
        " `OTEL_SDK_DISABLED=true` (no span is sent: the sink receives 0).",
        "- CPU: utime + stime of each process from `/proc/<pid>/stat` before and after the"
        " measured window (all threads); wrk reports its own. Memory: VmRSS; the peak under load is"
        " VmHWM, reset before each run through `/proc/<pid>/clear_refs`.",
        f"- After each run the benchmark waits {meta.get('settle_s')} s, so the batch span processor"
        " (5 s schedule) delivers the run's last spans before the next run starts.",
        "- *Spans received* counts what the sink got between just before the run and"
        f" {meta.get('settle_s')} s after it, which includes the spans of the requests still in"
        " flight when wrk stopped: with few, slow requests the spans per request read high.",
        "- Between runs the benchmark waits until the platform is idle (its processes together"
        f" under {meta.get('idle_percent')}% of a core above what they use at rest, measured once"
        " they have started), because nx-27017 carries on executing the"
        " commands of requests wrk abandoned when the previous run ended, and then until every"
        " service's `/readyz` answers 200 (see `ready after`).",
        "- `POST /authorize` uses the reader's token asking for `READ`; `GET /blogs` the reader;"
        " `POST /blogs` the writer; `POST /login` the reader's right password (200).",
    ] + extra)


def build_report(results, chart_path=None):
    """The markdown report; `chart_path`, relative to it, is the overhead chart's SVG if any."""
    meta = results.meta
    avg_other, max_other = noise(results)
    lines = ["# Benchmarks", ""]
    if meta.get("note"):
        lines += [f"> **{meta['note']}**", ""]
    if avg_other > NOISY_CORES:
        lines += [
            f"> ⚠ Other processes used on average {avg_other:.2f} cores (up to {max_other:.2f}) of this"
            f" {os.cpu_count()}-core machine during the measured runs (column `other` below): these"
            " figures are disturbed and understate what the platform does on a quiet machine.",
            "",
        ]
    lines += [
        f"Measured on {meta.get('date', '?')} with:",
        "",
        "```sh",
        meta.get("command", "scripts/bench.sh"),
        "```",
        "",
        "(run `scripts/bench.sh --help` for the options; it builds, installs wrk and nx-27017, and"
        " cleans up after itself.)",
        "",
        "## Machine",
        "",
        table(["", ""], list(machine_facts(meta).items())),
        "",
        "## Targets",
        "",
        targets_section(results),
        "",
    ]
    if chart_path:
        lines += [f"![What tracing adds to each run's CPU per request and throughput]({chart_path})", ""]
    lines += [
        "## Compared with the Node.js demo",
        "",
        node_section(results),
        "",
        "## Throughput and latency",
        "",
    ]
    for case in CASES:
        if any(key[1] == case for key in results.runs):
            lines += [case_section(results, case), ""]
    rounds = rounds_section(results)
    if rounds:
        lines += [f"## Tracing's CPU overhead over {len(results.rounds)} rounds", "", rounds, ""]
    exporters = exporters_section(results)
    if exporters:
        lines += ["## Ours or opentelemetry-otlp", "", exporters, ""]
    logs = logs_section(results)
    if logs:
        lines += ["## Log records on and off", "", logs, ""]
    spans = spans_section(results)
    if spans:
        lines += ["## Spans: expected and received", "", spans, ""]
    lines += [
        "## Login burst",
        "",
        burst_section(results),
        "",
        "## Where the CPU goes",
        "",
        cpu_section(results),
        "",
        "## Memory",
        "",
        rss_section(results),
        "",
        "## How it is measured",
        "",
        method_section(meta),
        "",
        figures_block(figures(results)),
        "",
    ]
    return "\n".join(lines)


def figures(results):
    """The report's figures as data, for `docs.py` to copy into README.md, docs/deploy.md and the
    Kubernetes manifests: every run's throughput, latency, CPU per request (ms of each process),
    use of the cores and peak memory; each service's memory at start, idle and peak; the run's
    date, commit and command. Rounded as the report prints them, so that the copies read the same."""
    meta = results.meta

    def rounded(value, digits):
        return None if value != value else round(value, digits)

    cases = {}
    for (mode, case, label), run in sorted(results.runs.items(), key=sort_key):
        entry = {
            "rps": rounded(run.rps, 0),
            "p50_ms": rounded(run.latency_ms("p50"), 3),
            "p99_ms": rounded(run.latency_ms("p99"), 3),
            "errors": run.errors,
            "cpu_ms_per_request": {name: rounded(run.per_1000(name), 3) for name in PROCESSES},
            "cores": {name: rounded(run.cores(name), 2) for name in PROCESSES},
            "rss_peak_mb": {name: rounded(run.rss_peak_kb.get(name, 0) / 1024, 1) for name in SERVICES},
        }
        if mode in TRACED_MODES:
            entry["spans_dropped"] = run.spans_dropped(case)
        cases.setdefault(case, {}).setdefault(run_label(label), {})[mode] = entry
    memory = {}
    for mode in results.modes:
        for name in SERVICES:
            peak, where = peak_rss(results, mode, name)
            memory.setdefault(mode, {})[name] = {
                "start": rounded(results.rss[(mode, "start")].get(name, 0) / 1024, 1),
                "idle": rounded(results.rss[(mode, "idle")].get(name, 0) / 1024, 1),
                "peak": rounded(peak / 1024, 1),
                "peak_run": where,
            }
    data = {
        "date": meta.get("date", "?"),
        "commit": meta.get("commit", "?"),
        "command": meta.get("command", "scripts/bench.sh"),
        "cases": cases,
        "memory_mb": memory,
    }
    # With more modes than the two: what each traced mode adds to our services' CPU per request in
    # each round (docs/tracing.md quotes their medians), and the spans lost across each outage.
    if results.modes != ["traced", "untraced"]:
        data["cpu_overheads"] = {
            mode: {where: [rounded(value, 4) for value in values]
                   for where, values in overheads_by_run(results, mode).items()}
            for mode in TRACED_MODES if overheads_by_run(results, mode)}
    outages = [{"lost": run.spans_dropped("outage"),
                "lost_by_service": {service: max(expected - received, 0) for service, (expected, received, _)
                                    in run.span_accounting("outage").items()},
                "expected": sum(expected for expected, _, _ in run.span_accounting("outage").values()),
                "rps": rounded(run.rps, 0)}
               for runs in results.rounds for (mode, case, _), run in sorted(runs.items(), key=sort_key)
               if mode == "traced" and case == "outage"]
    if outages:
        data["outages"] = outages
    logs = logs_overheads(results)
    if logs:
        data["logs_overheads"] = {where: [rounded(value, 4) for value in values] for where, values in logs.items()}
    return data


# The figures travel at the end of the report in an HTML comment, which renders as nothing.
FIGURES_BEGIN = "<!-- bench:figures"
FIGURES_END = "-->"


def compact_json(value, depth, indent=""):
    """JSON with one line per entry down to `depth` levels, and each deeper value on one line:
    a run's figures read as one line, and a new run changes lines, not one line."""
    if depth == 0 or not isinstance(value, dict) or not value:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    inner = indent + " "
    items = [f"{inner}{json.dumps(key)}: {compact_json(value[key], depth - 1, inner)}" for key in sorted(value)]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"


def figures_block(data):
    return "\n".join([
        FIGURES_BEGIN,
        "The figures above as data, written by scripts/bench/report.py and read by",
        "`scripts/bench.sh --update-docs`, which copies them into README.md, docs/deploy.md and",
        "deploy/kubernetes. Do not edit by hand.",
        compact_json(data, depth=4),
        FIGURES_END,
    ])


def summary(results):
    """What bench.sh prints at the end: the targets, the Node comparison and the main table."""
    rows = []
    for (mode, case, label), run in sorted(results.runs.items(), key=sort_key):
        rows.append([
            f"{case} {run_label(label)}", mode, num(run.requests), num(run.rps), ms(run.latency_ms("p50")),
            ms(run.latency_ms("p99")), ms(run.latency_ms("max")), num(run.errors), num(run.spans_per_request, 1),
            f"{run.cores('nx-27017') * 100:.0f}%", f"{sum(run.cores(n) for n in SERVICES) * 100:.0f}%",
            f"{run.cores('other') * 100:.0f}%",
        ])
    return "\n\n".join(part for part in [
        table(["run", "mode", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "spans/req",
               "nx-27017 CPU", "services CPU", "other CPU"], rows),
        rounds_section(results),
        exporters_section(results),
        logs_section(results),
        targets_section(results),
        node_section(results),
    ] if part)


def one_line(run_dir, clk_tck):
    run = Run(Path(run_dir), clk_tck)
    if not run.ok:
        return "no results"
    busiest = sorted(((run.cores(name), name) for name in PROCESSES + ["wrk", "other"]), reverse=True)[:3]
    cpu = ", ".join(f"{name} {cores * 100:.0f}%" for cores, name in busiest)
    text = (f"{num(run.rps)} req/s, p50 {ms(run.latency_ms('p50'))} ms, p99 {ms(run.latency_ms('p99'))} ms,"
            f" max {ms(run.latency_ms('max'))} ms, {num(run.errors)} errors, {num(run.spans)} spans; CPU: {cpu}")
    if run.flood:
        flood_rps = run.flood["requests"] / (run.flood["duration_us"] / 1e6)
        text += f"; flood {num(flood_rps)} req/s, p99 {ms(run.latency_ms('p99', run.flood))} ms"
    if run.idle_wait_s > 1:
        text += f"; idle again {run.idle_wait_s} s after the run"
    if run.ready_wait_s > 2:
        text += f"; NOT READY for {run.ready_wait_s} s more"
    return text


def overhead_chart(results):
    """An SVG bar chart of what tracing costs in each run with an untraced twin: the CPU our
    services spent per request, and the throughput lost, both in % over OTEL_SDK_DISABLED, with
    the 10% target marked. None when no run has a twin."""
    bars = []
    for (mode, case, label), traced in sorted(results.runs.items(), key=sort_key):
        untraced = results.run("untraced", case, label)
        if mode != "traced" or case == "login-burst" or not untraced or unmeasurable(traced, untraced):
            continue
        lost = (untraced.rps - traced.rps) / untraced.rps
        bars.append((f"{case} {run_label(label)}", cpu_overhead(traced, untraced) * 100, lost * 100))
    if not bars:
        return None
    series = [("our services' CPU per request", "#1f77b4"), ("throughput lost", "#aec7e8")]
    low = min([0.0] + [min(cpu, lost) for _, cpu, lost in bars])
    high = max([TARGET_OVERHEAD * 100 * 2] + [max(cpu, lost) for _, cpu, lost in bars])
    left, width, row, top = 150, 520, 34, 40
    height = top + row * len(bars) + 30

    def x(percent):
        return left + (percent - low) / (high - low) * width

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 60}" height="{height}"'
           ' font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="16" font-weight="bold">What tracing at 100% adds, in % over'
           ' OTEL_SDK_DISABLED</text>']
    for index, (name, colour) in enumerate(series):
        out.append(f'<rect x="{left + index * 230}" y="24" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{left + index * 230 + 14}" y="33">{name}</text>')
    for index, (label, *values) in enumerate(bars):
        y = top + index * row
        out.append(f'<text x="{left - 8}" y="{y + row / 2 + 4}" text-anchor="end">{label}</text>')
        for series_index, value in enumerate(values):
            start, end = sorted((x(0), x(value)))
            out.append(f'<rect x="{start:.1f}" y="{y + 4 + series_index * 13}" width="{end - start:.1f}"'
                       f' height="12" fill="{series[series_index][1]}"/>'
                       f'<text x="{max(x(0), x(value)) + 4:.1f}" y="{y + 14 + series_index * 13}"'
                       f' font-size="10">{value:+.1f}%</text>')
    bottom = top + row * len(bars)
    out.append(f'<line x1="{x(0):.1f}" y1="{top}" x2="{x(0):.1f}" y2="{bottom}" stroke="black"/>')
    target = x(TARGET_OVERHEAD * 100)
    out.append(f'<line x1="{target:.1f}" y1="{top}" x2="{target:.1f}" y2="{bottom}" stroke="#d62728"'
               ' stroke-dasharray="4 3"/>'
               f'<text x="{target:.1f}" y="{bottom + 16}" fill="#d62728" text-anchor="middle">'
               f'target {TARGET_OVERHEAD * 100:.0f}%</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def keep_as_history(out):
    """Moves the report about to be replaced into benchmarks-history/ beside it, as
    DATE-COMMIT.md with its overhead chart, marked as history: older runs stay in one place, and
    the file at `out` is always the current run."""
    if not out.exists() or FIGURES_BEGIN not in out.read_text():
        return
    text = out.read_text()
    block = text[text.index(FIGURES_BEGIN):]
    data = json.loads(block[block.index("{"):block.index(FIGURES_END)].rsplit("}", 1)[0] + "}")
    name = f"{data['date'][:10]}-{data['commit'].split()[0]}"
    history = out.parent / "benchmarks-history"
    (history / "images").mkdir(parents=True, exist_ok=True)
    chart = out.parent / "images" / f"{out.stem}-overhead.svg"
    if chart.exists():
        chart.rename(history / "images" / f"{name}-overhead.svg")
        text = text.replace(f"](images/{out.stem}-overhead.svg)", f"](images/{name}-overhead.svg)")
    title, _, rest = text.partition("\n")
    # The current report's own note (which says it is current) goes; the run's own note stays.
    rest = rest.lstrip("\n")
    if rest.startswith("> **The current report"):
        rest = rest.split("\n\n", 1)[1]
    (history / f"{name}.md").write_text(
        f"{title} (history: {data['date'][:10]}, {data['commit']})\n\n"
        f"> **History, not the current figures: an older run, kept for the record. The current report"
        f" is [{out.name}](../{out.name}).**\n\n{rest}")
    print(f"the previous report is now {history / (name + '.md')}; add it to {history / 'README.md'}",
          file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--out", help="write the markdown report here")
    parser.add_argument("--one-line", action="store_true", help="DIRECTORY is one run: print one line")
    args = parser.parse_args()
    if args.one_line:
        print(one_line(args.directory, os.sysconf("SC_CLK_TCK")))
        return 0
    results = Results(args.directory)
    if not results.runs:
        print(f"no results in {args.directory}", file=sys.stderr)
        return 1
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        keep_as_history(out)
        chart = overhead_chart(results)
        chart_path = f"images/{out.stem}-overhead.svg" if chart else None
        if chart:
            (out.parent / chart_path).parent.mkdir(exist_ok=True)
            (out.parent / chart_path).write_text(chart)
        out.write_text(build_report(results, chart_path))
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
