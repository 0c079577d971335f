#!/usr/bin/env python3
"""Copies the benchmark report's figures into the documents that quote them.

    docs.py            rewrite the generated regions (scripts/bench.sh --update-docs)
    docs.py --check    change nothing; exit 1 and show the difference if a region is not what
                       the report says (tests/docs.rs)

The figures come from the block that scripts/bench/report.py writes at the end of the current
report, docs/benchmarks.md. A figure the current run did not measure (logins, when it ran
`--cases 'authorize list-blogs'`) comes from the newest report in docs/benchmarks-history/ that
did, and the text says which run it comes from.

The generated regions lie between markers, in markdown
    <!-- bench:begin NAME --> ... <!-- bench:end NAME -->
and in YAML
    # bench:begin NAME ... # bench:end NAME
(README.md: readme-performance; docs/deploy.md: deploy-resources; docs/tracing.md:
tracing-exporters and tracing-logs; docs/viewer.md: viewer-figures; each of
deploy/kubernetes/{authen,user,blog,author}.yaml: resources). Everything between the markers is
rewritten; everything else is left alone. Only the standard library is used.
"""

import argparse
import difflib
import json
import os
import re
import statistics
import sys
from pathlib import Path

import report

ROOT = Path(__file__).resolve().parents[2]
CURRENT = Path("docs/benchmarks.md")
HISTORY = Path("docs/benchmarks-history")
MANIFESTS = {name: Path(f"deploy/kubernetes/{name}.yaml") for name in ["authen", "user", "blog", "author"]}
# The argon2id parameters of platform/src/password.rs: the memory one hash takes.
ARGON2_MIB = 19
# The share of its CPU request at which the HorizontalPodAutoscaler adds a pod (deploy/kubernetes).
AUTOSCALE_AT = 0.7


class Run:
    """One report's figures, and where they come from."""

    def __init__(self, path, data):
        self.path = path
        self.data = data

    @property
    def name(self):
        return f"the run of {self.data['date'][:10]} at {self.data['commit']}"

    def case(self, case, label, mode="traced"):
        return self.data["cases"].get(case, {}).get(label, {}).get(mode)

    def memory(self, service, mode="traced"):
        return self.data["memory_mb"][mode][service]


def read_figures(path):
    text = (ROOT / path).read_text()
    start = text.find(report.FIGURES_BEGIN)
    if start < 0:
        return None
    block = text[start:text.index(report.FIGURES_END, start)]
    return Run(path, json.loads(block[block.index("{"):block.rindex("}") + 1]))


def runs():
    """The current run, then the history's, newest first."""
    current = read_figures(CURRENT)
    if current is None:
        sys.exit(f"{CURRENT} has no figures block ({report.FIGURES_BEGIN} ... {report.FIGURES_END})")
    history = [run for run in map(read_figures, sorted((ROOT / HISTORY).glob("*.md"))) if run]
    history = [Run(run.path.relative_to(ROOT), run.data) for run in history]
    history.sort(key=lambda run: run.data["date"], reverse=True)
    return current, history


def newest_with(current, history, case, label, mode="traced"):
    """The newest run that measured `case` at `label`: (its figures, the run)."""
    for run in [current] + history:
        figures = run.case(case, label, mode)
        if figures:
            return figures, run
    sys.exit(f"no report measured {case} {label} {mode}")


def newest(current, history, measured):
    """The newest report for which `measured(run)`: the current one, one written with --out beside
    it (docs/benchmarks-*.md), or the history's; None if none did."""
    beside = [Run(path.relative_to(ROOT), run.data) for path in sorted((ROOT / "docs").glob("benchmarks-*.md"))
              if (run := read_figures(path))]
    candidates = sorted([current] + beside + history, key=lambda run: run.data["date"], reverse=True)
    return next((run for run in candidates if measured(run)), None)


def n(value):
    return report.num(value)


def ms(value):
    return report.ms(value)


def mb(value):
    return f"{value:.1f}"


def link(run, from_dir):
    """A markdown link to the report `run` comes from, relative to `from_dir`."""
    return f"[{run.name}]({os.path.relpath(run.path, from_dir)})"


# --- what the regions say --------------------------------------------------------------------


def readme_performance(current, history):
    authorize, a_run = newest_with(current, history, "authorize", "16")
    listing, l_run = newest_with(current, history, "list-blogs", "16")
    node_a, node_l = report.NODE["authorize"], report.NODE["list-blogs"]
    sources = sorted({a_run.name, l_run.name})
    lines = [
        *wrap("On a 2-core machine, with every span exported (tracing at 100%) to a collector on the"
              f" same machine, 16 connections, from {' and '.join(sources)}"
              " ([docs/benchmarks.md](docs/benchmarks.md), where `scripts/bench.sh` writes every figure,"
              " the run's noise and the command that produced it):"),
        "",
        "| request | this platform | the Node.js demo it replaces | |",
        "|---|---|---|---|",
        f"| `POST /authorize` (author-service) | {n(authorize['rps'])} req/s, p99 {ms(authorize['p99_ms'])} ms"
        f" | ~{n(node_a['rps'])} req/s, p99 ~{n(node_a['p99_ms'])} ms"
        f" | {authorize['rps'] / node_a['rps']:.0f}× the throughput |",
        f"| `GET /blogs?limit=20` (blog → author → MongoDB) | {n(listing['rps'])} req/s, p99"
        f" {ms(listing['p99_ms'])} ms | ~{n(node_l['rps'])} req/s, p99 ~{n(node_l['p99_ms'])} ms"
        f" | p99 {node_l['p99_ms'] / listing['p99_ms']:.1f}× lower |",
        "",
    ]
    traced = [figures for case in report.NO_DROP_CASES
              for label in current.data["cases"].get(case, {})
              if (figures := current.case(case, label)) and "spans_dropped" in figures]
    dropped = sum(figures["spans_dropped"] for figures in traced)
    spans = ("No span was dropped in any traced run of `POST /authorize` or `GET /blogs`." if not dropped
             else f"{n(dropped)} spans were dropped in the {len(traced)} traced runs of `POST /authorize`"
             " and `GET /blogs`.")
    idle = [current.memory(name)["idle"] for name in report.SERVICES]
    bare = [current.memory(name, "untraced")["idle"] for name in report.SERVICES]
    database = listing["cores"]["nx-27017"]
    services = sum(listing["cores"][name] for name in report.SERVICES)
    if database >= report.DB_BOUND_CORES:
        bound = (f"`GET /blogs` is bound by the database here (nx-27017, single-threaded Python, used"
                 f" {database * 100:.0f}% of a core; our four services {services * 100:.0f}% together).")
    else:
        bound = (f"`GET /blogs` was not bound by the database in this run: nx-27017 (single-threaded"
                 f" Python) used {database * 100:.0f}% of a core, our four services"
                 f" {services * 100:.0f}% together.")
    text = (f"{spans} Each service idles at {mb(min(idle))}–{mb(max(idle))} MB of resident memory with"
            f" tracing on, {mb(min(bare))}–{mb(max(bare))} MB without it. {bound}")
    return lines + wrap(text)


def tracing_exporters(current, history):
    """What tracing adds with our exporter, opentelemetry-otlp's and ours over TLS with gzip, from
    the newest run that measured the library mode, and the spans its outages lost."""
    run = newest(current, history, lambda run: run.data.get("cpu_overheads", {}).get("library"))
    if run is None:
        return wrap("No report has measured the two exporters side by side yet (`scripts/bench.sh"
                    " --modes \"traced untraced library tls-gzip\"`).")
    overheads = run.data["cpu_overheads"]

    def cell(mode, where):
        values = overheads.get(mode, {}).get(where)
        if not values:
            return "–"
        return (f"**{report.pct(statistics.median(values))}** ({report.pct(min(values))} to"
                f" {report.pct(max(values))})")

    titles = {"authorize": "`POST /authorize`", "list-blogs": "`GET /blogs`"}
    rows = []
    for where in overheads.get("traced", {}):
        case, connections = where.split()
        ours, library = overheads["traced"][where], overheads["library"].get(where)
        gap = (f"{(statistics.median(library) - statistics.median(ours)) * 100:+.1f}" if library else "–")
        rows.append(f"| {titles.get(case, case)}, {connections} connections | {cell('traced', where)}"
                    f" | {cell('library', where)} | {gap} | {cell('tls-gzip', where)} |")
    rounds = len(next(iter(overheads["traced"].values()), []))
    lines = [
        *wrap(f"What tracing adds to our services' CPU per request against `OTEL_SDK_DISABLED`, medians of"
              f" {rounds} alternating rounds with their spread, from {link(run, Path('docs'))}:"),
        "",
        "| run | ours | opentelemetry-otlp 0.31 | library's median − ours, points | ours, TLS and gzip |",
        "|---|---|---|---|---|",
        *rows,
    ]
    outages = run.data.get("outages")
    if outages:
        def whole(value):  # one word for wrap(): "400 000" stays on one line
            return n(value).replace(" ", "\0")

        lost = "; ".join(
            f"{whole(outage['lost'])} of {whole(outage['expected'])} at {whole(outage['rps'])} req/s ("
            + ", ".join(f"{service} {whole(count)}" for service, count in outage["lost_by_service"].items())
            + ")" for outage in outages)
        lines += ["", *wrap(f"Spans lost across a 5 s collector outage (`GET /blogs`, 16 connections, ours,"
                            f" plain): {lost}.")]
    return lines


VIEWER_SECTION = "### The trace viewer"


def viewer_figures(current, history):
    """The table of the newest report that measured the viewer (`--cases viewer`), as its
    section in that report has it, with the run it comes from."""
    run = newest(current, history, lambda run: VIEWER_SECTION in (ROOT / run.path).read_text())
    if run is None:
        return wrap("No report has measured the viewer yet (`scripts/bench.sh --cases viewer`).")
    text = (ROOT / run.path).read_text()
    section = text[text.index(VIEWER_SECTION):].split("\n")[1:]
    end = next((i for i, line in enumerate(section) if line.startswith("#")), len(section))
    table = [line for line in section[:end] if line.startswith("|")]
    notes = " ".join(line for line in section[:end] if line and not line.startswith("|"))
    return [*wrap(f"From {link(run, Path('docs'))}. {notes}"), "", *table]


def tracing_logs(current, history):
    """What exporting log records adds to our services' CPU per request, from the newest run that
    measured the traced-nologs mode (the report's *Log records on and off*)."""
    run = newest(current, history, lambda run: run.data.get("logs_overheads"))
    if run is None:
        return wrap("No report yet has measured log records on against off (`scripts/bench.sh --cases"
                    " \"authorize list-blogs list-blogs-failing\" --modes \"traced traced-nologs\"`).")
    titles = {"authorize": "`POST /authorize`", "list-blogs": "`GET /blogs`",
              "list-blogs-failing": "`GET /blogs`, `authorFailureRate` 0.2"}
    rows = []
    for where, values in run.data["logs_overheads"].items():
        case, connections = where.split()
        rows.append(f"| {titles.get(case, case)}, {connections} connections | **{report.pct(statistics.median(values))}**"
                    f" ({report.pct(min(values))} to {report.pct(max(values))}) |")
    rounds = len(next(iter(run.data["logs_overheads"].values())))
    return [
        *wrap("What exporting log records adds to our services' CPU per request, against"
              f" `OTEL_LOGS_EXPORTER=none` with tracing on in both, medians of {rounds} round(s) with"
              f" their spread, from {link(run, Path('docs'))} (target: ≤"
              f" {report.TARGET_LOGS_OVERHEAD * 100:.0f}% where no request fails):"),
        "",
        "| run | logs on − off |",
        "|---|---|",
        *rows,
    ]


def wrap(text, width=98, indent=""):
    """`text` as lines of at most `width` characters (markdown or a YAML comment)."""
    lines, line = [], ""
    # A figure stays on the line of its unit.
    for unit in ("MB", "MiB", "ms", "req/s"):
        text = text.replace(f" {unit}", f"\0{unit}")
    for word in text.split():
        if line and len(indent) + len(line) + 1 + len(word) > width:
            lines.append(indent + line)
            line = ""
        line += (" " if line else "") + word
    if line:
        lines.append(indent + line)
    return [line.replace("\0", " ") for line in lines]


def requests_and_limits(service):
    """The container's resources in its manifest: {"requests": {"cpu": "500m", ...}, "limits": ...}."""
    text = (ROOT / MANIFESTS[service]).read_text()
    block = text[text.index("          resources:\n"):]
    resources, section = {}, None
    for line in block.splitlines()[1:]:
        if not line.startswith("            "):
            break
        key, _, value = line.strip().partition(":")
        if not value.strip():
            section = resources.setdefault(key, {})
        else:
            section[key] = value.strip().strip('"')
    return resources


def cores(cpu):
    return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


def sizing(current, history):
    """Per service: idle and peak MB, the CPU ms of its request, where each comes from."""
    login, login_run = newest_with(current, history, "login", "16")
    # The login flood's peak: over every run of the report that measured logins.
    login_peak = max(figures["rss_peak_mb"]["authen"]
                     for case in ("login", "login-burst")
                     for label in login_run.data["cases"].get(case, {})
                     if (figures := login_run.case(case, label)))
    authorize, _ = newest_with(current, history, "authorize", "16")
    listing, _ = newest_with(current, history, "list-blogs", "16")
    size = {name: dict(current.memory(name)) for name in report.SERVICES}
    size["authen"]["peak"] = max(size["authen"]["peak"], login_peak)
    size["authen"]["cpu_ms"] = login["cpu_ms_per_request"]["authen"]
    size["author"]["cpu_ms"] = authorize["cpu_ms_per_request"]["author"]
    size["blog"]["cpu_ms"] = listing["cpu_ms_per_request"]["blog"]
    size["login_run"] = login_run
    return size


def sources_sentence(current, login_run, from_dir):
    text = f"from {link(current, from_dir)}"
    if login_run is not current:
        text += (f"; authen's login figures from {link(login_run, from_dir)}, the newest to measure"
                 " logins")
    return text


def deploy_resources(current, history):
    size = sizing(current, history)
    rows = []
    why = {
        "authen": f"a login costs ~{size['authen']['cpu_ms']:.0f} ms of CPU and a {ARGON2_MIB} MiB argon2id hash",
        "user": "hashes each new user's password",
        "blog": f"~{size['blog']['cpu_ms']:.2f} ms of CPU per `GET /blogs`",
        "author": f"~{size['author']['cpu_ms']:.3f} ms of CPU per `POST /authorize`",
    }
    for name in ["authen", "user", "blog", "author"]:
        resources = requests_and_limits(name)
        requests = f"{resources['requests']['cpu']}, {resources['requests']['memory'].replace('Mi', ' Mi')}"
        limits = resources["limits"]
        limit = (f"{limits['cpu']} CPU, " if "cpu" in limits else "") + limits["memory"].replace("Mi", " Mi")
        rows.append(f"| {name} | {mb(size[name]['idle'])} / {mb(size[name]['peak'])} MB | {requests} | {limit}"
                    f" | {why[name]} |")
    hashes = int(cores(requests_and_limits("authen")["limits"]["cpu"]))
    return [
        *wrap(f"**Resources**, measured with tracing on, on 2 cores,"
              f" {sources_sentence(current, size['login_run'], Path('docs'))}:"),
        "",
        "| service | measured: idle / peak | requests | limits | why |",
        "|---|---|---|---|---|",
        *rows,
        "",
        *wrap("Only the two services that hash passwords have a CPU limit. They run at most one hash per CPU"
              " they may use, which the Rust runtime reads from the container's CPU limit:"
              f" {hashes} CPUs, {hashes} hashes of {ARGON2_MIB} MiB at once, the"
              f" {mb(size['authen']['peak'])} MB measured. Without the limit a service would count every"
              " core of the node and could outgrow its memory limit on a large one. The other services"
              " have none, since throttling only adds latency. MongoDB's, the collector's, Jaeger's and"
              " Prometheus's figures were not measured (see the comments in their manifests)."),
    ]


def manifest_resources(service, current, history):
    """The comment above the container's `resources:`, as lines without their indentation."""
    size = sizing(current, history)
    figures = size[service]
    source = (f"From docs/benchmarks.md (tracing on), {current.name}")
    request = cores(requests_and_limits(service)["requests"]["cpu"])
    cpu = requests_and_limits(service)["requests"]["cpu"]
    if service == "authen":
        login_run = size["login_run"]
        if login_run is not current:
            source += f"; logins from {login_run.name} ({login_run.path})"
        per_second = request / (figures["cpu_ms"] / 1000)
        text = (f"{source}: {mb(figures['idle'])} MB idle, {mb(figures['peak'])} MB at the peak of a"
                f" login flood with 2 hashes at once; a login costs ~{figures['cpu_ms']:.0f} ms of CPU, so"
                f" {cpu} is ~{per_second:.0f} logins a second, and the autoscaler adds a pod at"
                f" {AUTOSCALE_AT * 100:.0f}% of it.")
    elif service == "user":
        text = (f"{source}: {mb(figures['idle'])} MB idle, {mb(figures['peak'])} MB at its peak under"
                f" load; each user created adds a {ARGON2_MIB} MiB hash while it runs, at most 2 at once"
                " under the CPU limit.")
    else:
        request_name = {"blog": "GET /blogs", "author": "POST /authorize"}[service]
        per_second = request / (figures["cpu_ms"] / 1000)
        text = (f"{source}: {mb(figures['idle'])} MB idle, {mb(figures['peak'])} MB at its peak under"
                f" load; about {figures['cpu_ms']:.3f} ms of CPU per {request_name}, so {cpu} is"
                f" ~{report.num(per_second, 0)} a second, and the autoscaler adds a pod at"
                f" {AUTOSCALE_AT * 100:.0f}% of it.")
        if service == "blog":
            text += " No CPU limit: throttling would only add latency."
    return text


# --- regions ---------------------------------------------------------------------------------


def markdown_region(text, name, lines, path):
    begin, end = f"<!-- bench:begin {name} -->", f"<!-- bench:end {name} -->"
    if text.count(begin) != 1 or text.count(end) != 1:
        sys.exit(f"{path}: expected one {begin} and one {end}")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return head + begin + "\n" + "\n".join(lines) + "\n" + end + tail


def yaml_region(text, name, comment, path):
    begin_re = re.compile(rf"^( *)# bench:begin {re.escape(name)}\n", re.M)
    match = begin_re.search(text)
    end = f"# bench:end {name}\n"
    if not match or len(begin_re.findall(text)) != 1 or text.count(end) != 1:
        sys.exit(f"{path}: expected one '# bench:begin {name}' and one '{end.strip()}'")
    indent = match.group(1)
    tail = text[text.index(end, match.end()):]
    body = "\n".join(wrap(comment, indent=indent + "# ")) + "\n"
    return text[:match.end()] + body + indent + tail


def regenerated():
    """Path → (its text now, its text with the regions regenerated)."""
    current, history = runs()
    out = {}

    def update(path, change):
        before = (ROOT / path).read_text()
        out[path] = (before, change(before))

    update(Path("README.md"), lambda text: markdown_region(
        text, "readme-performance", readme_performance(current, history), "README.md"))
    update(Path("docs/deploy.md"), lambda text: markdown_region(
        text, "deploy-resources", deploy_resources(current, history), "docs/deploy.md"))
    update(Path("docs/tracing.md"), lambda text: markdown_region(markdown_region(
        text, "tracing-exporters", tracing_exporters(current, history), "docs/tracing.md"),
        "tracing-logs", tracing_logs(current, history), "docs/tracing.md"))
    update(Path("docs/viewer.md"), lambda text: markdown_region(
        text, "viewer-figures", viewer_figures(current, history), "docs/viewer.md"))
    for service, path in MANIFESTS.items():
        update(path, lambda text, service=service, path=path: yaml_region(
            text, "resources", manifest_resources(service, current, history), path))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a region differs")
    args = parser.parse_args()
    differ = False
    for path, (before, after) in regenerated().items():
        if before == after:
            continue
        differ = True
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                before.splitlines(True), after.splitlines(True), f"{path} (now)", f"{path} (from the report)"))
        else:
            (ROOT / path).write_text(after)
            print(f"updated {path}")
    if args.check and differ:
        print("\nthe figures differ from docs/benchmarks.md's: run scripts/bench.sh --update-docs")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
