#!/usr/bin/env python3
"""Where tracing's instructions go: compares two callgrind profiles of the same service, one with
tracing on and one with OTEL_SDK_DISABLED=true, each covering the same number of requests, and
prints instructions per request by part of the tracing pipeline. Builds and runs nothing.

    scripts/bench/callgrind-split.py --requests 1000 traced.out untraced.out

Each function's own instructions count for the part its name belongs to. Generic helpers (the
allocator, memcpy, std's collections and formatting) belong to no part, so their instructions are
handed up the call graph to their callers, in proportion to what each caller spent in them, until
they reach a function that has a part. Totals are kept; what matches no part is `other`.
docs/tracing.md ("What tracing costs") explains the parts and shows how the profiles are made.
"""

import argparse
import collections
import re

# First match wins: the export's parts before the span machinery whose types they mention.
PARTS = [
    ("export: SDK span to OTLP message", r"opentelemetry_proto::transform|group_spans_by_resource|"
     r"From<opentelemetry_sdk::trace::export::SpanData>|drop_in_place<.*opentelemetry_proto::proto"),
    ("export: protobuf encoding", r"prost|opentelemetry_proto::proto|ProstEncoder|EncodeBody|"
     r"platform::otlp::protobuf"),
    ("export: gRPC and HTTP/2 send", r"tonic|\bh2::|hyper::proto::h2|tower::buffer|opentelemetry_otlp|"
     r"platform::otlp|futures_executor|get_spans_and_export|BatchSpanProcessor::new"),
    ("MongoDB driver's spans", r"mongodb::otel|rawdoc_to_json_str_otel|"
     r"mongodb::bson_util::push_trunc|follow_the_database_conventions"),
    ("HTTP client span and traceparent", r"reqwest_tracing|ClientSpan|propagation|Injector|Extractor"),
    ("log formatting", r"tracing_subscriber::fmt|JsonVisitor|tracing_serde|tracing_log"),
    ("span end and hand-off to the batch processor", r"BatchSpanProcessor|span_processor|mpmc|"
     r"RewriteOnEnd|ensure_ended_and_exported|SpanData|on_close|end_with_timestamp|"
     r"<opentelemetry_sdk::trace::span::Span as core::ops::drop::Drop>"),
    ("span start and attributes (tracing layer, SDK)", r"tracing_opentelemetry|opentelemetry_sdk|"
     r"opentelemetry::|tracing_subscriber|tracing_core|sharded_slab|tracing::span|http_spans|"
     r"tower_http::trace|tracing::instrument"),
]
GENERIC = re.compile(
    r"^(<opentelemetry::common::(Key|Value|KeyValue) as |<?(alloc|core|std|bytes|hashbrown|indexmap)::|"
    r"<(str|\[|&|\(|T as |F as |Option|Vec|String|Box)|__rustc|__rust_|malloc|free|cfree|realloc|calloc|"
    r"_int_|__mem|mem(cpy|move|set|cmp)|malloc_consolidate|unlink_chunk|sysmalloc|tcache|__libc_|strlen)"
)


def read_profile(path):
    """Own instructions per function, and call costs as callers[callee][caller]."""
    names, own = {}, collections.Counter()
    callers = collections.defaultdict(collections.Counter)
    function = callee = None
    cost_of_call = False

    def name(text):
        # Callgrind compresses names: "(12) full name" the first time, "(12)" afterwards.
        match = re.match(r"\((\d+)\)(?: (.*))?$", text)
        if not match:
            return text
        if match.group(2) is not None:
            names[match.group(1)] = match.group(2)
        return names[match.group(1)]

    with open(path, errors="replace") as profile:
        for line in profile:
            line = line.rstrip("\n")
            if not line:
                continue
            if line[0].isdigit() or line[0] in "+-*":
                fields = line.split()
                instructions = int(fields[1]) if len(fields) > 1 else 0
                if cost_of_call:
                    if callee != function:
                        callers[callee][function] += instructions
                    cost_of_call = False
                else:
                    own[function] += instructions
            elif line.startswith("fn="):
                function = name(line[3:])
            elif line.startswith("cfn="):
                callee = name(line[4:])
            elif line.startswith("calls="):
                cost_of_call = True
    return own, callers


def by_function(path):
    """Instructions per function, generic helpers' handed up to their callers."""
    own, callers = read_profile(path)
    generic = {f: bool(GENERIC.match(f)) for f in set(own) | set(callers) | {c for cs in callers.values() for c in cs}}
    result = collections.Counter({f: n for f, n in own.items() if not generic[f]})
    pending = collections.Counter({f: n for f, n in own.items() if generic[f]})
    for _ in range(100):
        handed_up = collections.Counter()
        for helper, instructions in pending.items():
            weights = callers.get(helper)
            total = sum(weights.values()) if weights else 0
            if not total:
                result[helper] += instructions
                continue
            for caller, weight in weights.items():
                share = instructions * weight / total
                (handed_up if generic[caller] else result)[caller] += share
        pending = handed_up
        if sum(pending.values()) < 1:
            break
    result.update(pending)
    return result


def part_of(function):
    for label, pattern in PARTS:
        if re.search(pattern, function):
            return label
    return "other"


def by_part(path):
    parts = collections.Counter()
    for function, instructions in by_function(path).items():
        parts[part_of(function)] += instructions
    return parts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("traced", help="callgrind profile with tracing on")
    parser.add_argument("untraced", help="callgrind profile with OTEL_SDK_DISABLED=true")
    parser.add_argument("--requests", type=int, required=True, help="requests each profile covers")
    args = parser.parse_args()
    traced, untraced = by_part(args.traced), by_part(args.untraced)
    per_request = lambda n: f"{n / args.requests / 1000:9.1f}k"
    print(f"{'traced':>10} {'untraced':>10} {'added':>10}  part (instructions per request)")
    for label in [label for label, _ in PARTS] + ["other"]:
        print(f"{per_request(traced[label])} {per_request(untraced[label])} "
              f"{per_request(traced[label] - untraced[label])}  {label}")
    t, u = sum(traced.values()), sum(untraced.values())
    print(f"{per_request(t)} {per_request(u)} {per_request(t - u)}  total")


if __name__ == "__main__":
    main()
