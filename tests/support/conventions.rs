//! The semantic conventions every exported span must follow, checked span by span with the types a
//! backend sees: what a learner opening any span in Jaeger should find, and nothing else.
//!
//! [`Collector::wait_for_trace`](crate::Collector::wait_for_trace) applies [`assert_conventions`]
//! to every trace a test reads, so every trace test checks every span it touches.

use crate::collector::{Attributes, ExportedSpan, SpanKind, Value};

/// What the tracing libraries record about themselves unless told not to: timings, threads, source
/// locations and module paths. None of it is a convention, and the paths leak the build machine.
const BOOKKEEPING: [&str; 15] = [
    "busy_ns",
    "idle_ns",
    "thread.id",
    "thread.name",
    "code.file.path",
    "code.filepath",
    "code.module.name",
    "code.namespace",
    "code.function.name",
    "code.line.number",
    "code.lineno",
    "code.column.number",
    "target",
    "span.type",
    "level",
];

/// What the MongoDB driver adds beyond the conventions: session, connection and cursor ids, the
/// topology type, its own name for the command, and the span's name again.
const DRIVER_EXTRAS: [&str; 7] = [
    "db.mongodb.lsid",
    "db.mongodb.driver_connection_id",
    "db.mongodb.server_connection_id",
    "db.mongodb.cursor_id",
    "server.type",
    "db.command.name",
    "db.operation.summary",
];

/// Commands that act on one collection, whose spans must name it.
const COLLECTION_COMMANDS: [&str; 9] = [
    "find",
    "insert",
    "update",
    "delete",
    "count",
    "aggregate",
    "getMore",
    "findAndModify",
    "createIndexes",
];

/// Panics with every span that breaks a convention, and how.
pub fn assert_conventions(spans: &[ExportedSpan]) {
    let broken: Vec<String> = spans
        .iter()
        .filter_map(|span| {
            let violations = violations(span);
            (!violations.is_empty()).then(|| {
                format!(
                    "  {} {:?} {:?}:\n    {}",
                    span.service,
                    span.name,
                    span.kind,
                    violations.join("\n    ")
                )
            })
        })
        .collect();
    assert!(
        broken.is_empty(),
        "spans that break the semantic conventions:\n{}",
        broken.join("\n")
    );
}

/// Every way `span` breaks the conventions; empty when it follows them.
pub fn violations(span: &ExportedSpan) -> Vec<String> {
    let mut found = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            found.push(what);
        }
    };
    for problem in common_problems(span) {
        check(false, problem);
    }
    let attributes = &span.attributes;
    match span.kind {
        SpanKind::Server => http_server(span, &mut check),
        SpanKind::Client if attributes.contains_key("db.system.name") => {
            database_client(&span.name, attributes, &mut check)
        }
        SpanKind::Client => http_client(span, &mut check),
        SpanKind::Internal => {
            check(
                !attributes.contains_key("http.request.method"),
                "an INTERNAL span with HTTP attributes".to_owned(),
            );
            waiting_span(span, &mut check);
        }
        other => check(false, format!("a span of kind {other:?}")),
    }
    feature_flag_events(span, &mut check);
    check(
        span.status_error == has_string(attributes, "error.type"),
        format!(
            "status {} but error.type {:?}",
            if span.status_error {
                "ERROR"
            } else {
                "not ERROR"
            },
            attributes.get("error.type")
        ),
    );
    found
}

/// What no span may carry, whatever its kind: empty values, the libraries' bookkeeping, paths of
/// the machine that built the binary; and what every resource must have.
fn common_problems(span: &ExportedSpan) -> Vec<String> {
    let mut problems = Vec::new();
    // A log line's event may say its level; nothing else of the bookkeeping belongs anywhere.
    let mut all = vec![
        ("span".to_owned(), &span.attributes, false),
        ("resource".to_owned(), &span.resource, false),
    ];
    for (name, attributes) in &span.events {
        all.push((format!("event {name:?}"), attributes, true));
    }
    for (place, attributes, is_event) in all {
        let mut attributes: Vec<_> = attributes.iter().collect();
        attributes.sort_by_key(|(key, _)| key.as_str());
        for (key, value) in attributes {
            let bookkeeping = BOOKKEEPING.contains(&key.as_str()) && !(is_event && key == "level");
            if bookkeeping {
                problems.push(format!("{place} carries the bookkeeping attribute {key}"));
            }
            if is_empty(value) {
                problems.push(format!("{place} attribute {key} is empty"));
            }
            if let Some(path) = build_machine_path(&value.to_string()) {
                problems.push(format!("{place} attribute {key} holds the path {path:?}"));
            }
        }
    }
    if let Some(path) = build_machine_path(&span.status_message) {
        problems.push(format!("the status message holds the path {path:?}"));
    }
    // The database's spans report under a resource of their own, named after the database,
    // whose version the client does not know.
    let keys: &[&str] = if span.attributes.contains_key("db.system.name") {
        &["service.name"]
    } else {
        &["service.name", "service.version"]
    };
    for key in keys {
        if !has_string(&span.resource, key) {
            problems.push(format!("the resource has no string {key}"));
        }
    }
    problems
}

fn http_server(span: &ExportedSpan, check: &mut impl FnMut(bool, String)) {
    let attributes = &span.attributes;
    require_strings(
        attributes,
        &[
            "http.request.method",
            "url.path",
            "url.scheme",
            "server.address",
        ],
        check,
    );
    require_url_scheme(attributes, check);
    require_host_and_port(attributes, check);
    let method = string(attributes, "http.request.method").unwrap_or_default();
    // A method outside the nine standard ones is recorded as `_OTHER`, its span named `HTTP`.
    let method = if method == "_OTHER" {
        require_strings(attributes, &["http.request.method_original"], check);
        "HTTP"
    } else {
        method
    };
    let expected_name = match string(attributes, "http.route") {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    check(
        span.name == expected_name,
        format!("named {:?}, not {expected_name:?}", span.name),
    );
    match int(attributes, "http.response.status_code") {
        Some(status) => {
            check(
                (100..=599).contains(&status),
                format!("http.response.status_code {status}"),
            );
            let failed = status >= 500;
            check(
                span.status_error == failed,
                format!("status {status} but error status {}", span.status_error),
            );
            if failed {
                require_error_type(attributes, &status.to_string(), check);
            }
        }
        // No answer was sent: the client hung up first. The span says so: a failure with its
        // error.type (checked for every span).
        None => check(
            !attributes.contains_key("http.response.status_code") && span.status_error,
            format!(
                "no int http.response.status_code ({:?}) and not a failure",
                attributes.get("http.response.status_code")
            ),
        ),
    }
}

fn http_client(span: &ExportedSpan, check: &mut impl FnMut(bool, String)) {
    let attributes = &span.attributes;
    require_strings(
        attributes,
        &[
            "http.request.method",
            "server.address",
            "url.full",
            "url.scheme",
        ],
        check,
    );
    require_url_scheme(attributes, check);
    require_host_and_port(attributes, check);
    let full = string(attributes, "url.full").unwrap_or_default();
    check(
        full.starts_with("http://") || full.starts_with("https://"),
        format!("url.full {full:?} is not a full URL"),
    );
    match int(attributes, "http.response.status_code") {
        Some(status) if status >= 400 => {
            check(
                span.status_error,
                format!("status {status} but no error status"),
            );
            require_error_type(attributes, &status.to_string(), check);
        }
        Some(_) => check(
            !span.status_error,
            "an error status with a good answer".to_owned(),
        ),
        None => check(
            !attributes.contains_key("http.response.status_code") && span.status_error,
            format!(
                "neither an int http.response.status_code ({:?}) nor a failure",
                attributes.get("http.response.status_code")
            ),
        ),
    }
}

fn database_client(span_name: &str, attributes: &Attributes, check: &mut impl FnMut(bool, String)) {
    for key in ["db.system.name", "db.system"] {
        check(
            string(attributes, key) == Some("mongodb"),
            format!("{key} is {:?}, not the string mongodb", attributes.get(key)),
        );
    }
    require_strings(attributes, &["db.namespace", "db.operation.name"], check);
    for extra in DRIVER_EXTRAS {
        check(
            !attributes.contains_key(extra),
            format!("the driver's extra {extra} is still there"),
        );
    }
    let operation = string(attributes, "db.operation.name").unwrap_or_default();
    if COLLECTION_COMMANDS.contains(&operation) {
        require_strings(attributes, &["db.collection.name"], check);
    }
    // A command span, named after its command alone, went over a connection: where to. (The
    // operation span around it, `find blog.blogs`, has no connection yet.)
    if !span_name.contains(' ') {
        require_strings(attributes, &["server.address"], check);
        require_host_and_port(attributes, check);
    }
}

/// A `feature_flag.evaluation` event names the flag and the variant in force (the feature-flag
/// conventions), and the value it had, typed.
fn feature_flag_events(span: &ExportedSpan, check: &mut impl FnMut(bool, String)) {
    for event in span.events_named("feature_flag.evaluation") {
        require_strings(
            event,
            &["feature_flag.key", "feature_flag.result.variant"],
            check,
        );
        check(
            matches!(
                event.get("feature_flag.result.value"),
                Some(Value::Int(_) | Value::Double(_) | Value::Bool(_))
            ),
            format!(
                "feature_flag.result.value is {:?}, not a number or a boolean",
                event.get("feature_flag.result.value")
            ),
        );
    }
}

/// A span that a scenario flag made wait (`authorize.delay`, `mongodb.delay`, `mongodb.queue`)
/// says which flag did it; a database operation's names the operation; a queue's says, as
/// HotROD's mutex does, how many operations were ahead when it arrived and how long it waited.
fn waiting_span(span: &ExportedSpan, check: &mut impl FnMut(bool, String)) {
    let name = span.name.as_str();
    if !(name.ends_with(".delay") || name.ends_with(".queue")) {
        return;
    }
    check(
        span.events_named("feature_flag.evaluation").count() == 1,
        format!("{name} does not record the flag that made it wait"),
    );
    if name.starts_with("mongodb.") {
        require_strings(
            &span.attributes,
            &["db.operation.name", "db.collection.name"],
            check,
        );
    }
    if name == "mongodb.queue" {
        let entered = span.events_named("queue.entered").next();
        let left = span.events_named("queue.left").next();
        check(
            entered
                .is_some_and(|event| int(event, "queue.operations_ahead").is_some_and(|n| n >= 0)),
            format!("{name}: no queue.entered event with an int queue.operations_ahead"),
        );
        check(
            left.is_some_and(|event| {
                matches!(event.get("queue.wait_ms"), Some(Value::Double(ms)) if *ms >= 0.0)
                    && int(event, "queue.operations_behind").is_some_and(|n| n >= 0)
            }),
            format!(
                "{name}: no queue.left event with a double queue.wait_ms and an int \
                 queue.operations_behind"
            ),
        );
    }
}

fn require_strings(attributes: &Attributes, keys: &[&str], check: &mut impl FnMut(bool, String)) {
    for key in keys {
        check(
            has_string(attributes, key),
            format!("no string {key}: {:?}", attributes.get(*key)),
        );
    }
}

fn require_url_scheme(attributes: &Attributes, check: &mut impl FnMut(bool, String)) {
    let scheme = string(attributes, "url.scheme");
    check(
        matches!(scheme, Some("http" | "https")),
        format!("url.scheme is {scheme:?}"),
    );
}

/// `server.address` is a host alone (an IPv6 address may hold colons, a `host:port` may not), and
/// `server.port` an integer port.
fn require_host_and_port(attributes: &Attributes, check: &mut impl FnMut(bool, String)) {
    if let Some(address) = string(attributes, "server.address") {
        check(
            !address.contains(':') || address.parse::<std::net::Ipv6Addr>().is_ok(),
            format!("server.address {address:?} is not a host alone"),
        );
    }
    let port = int(attributes, "server.port");
    check(
        port.is_some_and(|port| (1..=65535).contains(&port)),
        format!(
            "server.port is {:?}, not an int port",
            attributes.get("server.port")
        ),
    );
}

fn require_error_type(
    attributes: &Attributes,
    expected: &str,
    check: &mut impl FnMut(bool, String),
) {
    check(
        string(attributes, "error.type") == Some(expected),
        format!(
            "error.type is {:?}, not {expected:?}",
            attributes.get("error.type")
        ),
    );
}

fn string<'a>(attributes: &'a Attributes, key: &str) -> Option<&'a str> {
    match attributes.get(key) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

fn has_string(attributes: &Attributes, key: &str) -> bool {
    string(attributes, key).is_some_and(|text| !text.is_empty())
}

fn int(attributes: &Attributes, key: &str) -> Option<i64> {
    match attributes.get(key) {
        Some(Value::Int(value)) => Some(*value),
        _ => None,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::String(text) => text.is_empty(),
        Value::Empty => true,
        _ => false,
    }
}

/// A path of the machine that built or runs the binaries: cargo's registry or git checkouts, the
/// toolchain's sources, or this workspace.
fn build_machine_path(text: &str) -> Option<&str> {
    let workspace = env!("CARGO_MANIFEST_DIR")
        .strip_suffix("/tests")
        .unwrap_or(env!("CARGO_MANIFEST_DIR"));
    [
        "/.cargo/",
        "/rustc/",
        "/registry/src/",
        "/.rustup/",
        workspace,
    ]
    .into_iter()
    .find(|path| text.contains(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(kind: SpanKind, name: &str, attributes: &[(&str, Value)]) -> ExportedSpan {
        let resource = [
            ("service.name", Value::String("blog-service".into())),
            ("service.version", Value::String("0.1.0".into())),
        ];
        ExportedSpan {
            service: "blog-service".into(),
            name: name.into(),
            kind,
            trace_id: "0".repeat(32),
            span_id: "1".repeat(16),
            parent_span_id: String::new(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            events: Vec::new(),
            status_error: false,
            status_message: String::new(),
            start_unix_nano: 0,
            end_unix_nano: 0,
            resource: resource
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn text(value: &str) -> Value {
        Value::String(value.to_owned())
    }

    fn good_server() -> ExportedSpan {
        span(
            SpanKind::Server,
            "POST /blogs",
            &[
                ("http.request.method", text("POST")),
                ("http.route", text("/blogs")),
                ("url.path", text("/blogs")),
                ("url.scheme", text("http")),
                ("server.address", text("127.0.0.1")),
                ("server.port", Value::Int(3003)),
                ("http.response.status_code", Value::Int(201)),
            ],
        )
    }

    #[test]
    fn a_conventional_server_span_passes() {
        assert_eq!(violations(&good_server()), Vec::<String>::new());
    }

    #[test]
    fn what_the_services_exported_before_is_caught() {
        let mut old = good_server();
        old.attributes
            .insert("http.response.status_code".into(), text("201"));
        old.attributes
            .insert("server.address".into(), text("127.0.0.1:39777"));
        old.attributes.remove("server.port");
        old.attributes.insert("url.scheme".into(), text(""));
        old.attributes
            .insert("user_agent.original".into(), text(""));
        old.attributes.insert("busy_ns".into(), Value::Int(1200));
        old.attributes.insert("span.type".into(), text("web"));
        old.attributes.insert(
            "code.file.path".into(),
            text("/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/axum-0.8.4/src/x.rs"),
        );
        let found = violations(&old).join("\n");
        for expected in [
            "no int http.response.status_code",
            "server.address \"127.0.0.1:39777\" is not a host alone",
            "server.port is None",
            "url.scheme is Some(\"\")",
            "attribute user_agent.original is empty",
            "bookkeeping attribute busy_ns",
            "bookkeeping attribute span.type",
            "bookkeeping attribute code.file.path",
            "holds the path \"/.cargo/\"",
        ] {
            assert!(found.contains(expected), "{expected:?} not in:\n{found}");
        }
    }

    #[test]
    fn a_failure_needs_its_error_type() {
        let mut failed = good_server();
        failed
            .attributes
            .insert("http.response.status_code".into(), Value::Int(503));
        failed.status_error = true;
        let found = violations(&failed).join("\n");
        assert!(found.contains("error.type is None, not \"503\""), "{found}");
        failed.attributes.insert("error.type".into(), text("503"));
        assert_eq!(violations(&failed), Vec::<String>::new());
    }

    #[test]
    fn a_server_span_without_an_answer_is_a_failure_with_its_error_type() {
        let mut unanswered = good_server();
        unanswered.attributes.remove("http.response.status_code");
        let found = violations(&unanswered).join("\n");
        assert!(found.contains("and not a failure"), "{found}");
        unanswered.status_error = true;
        assert!(
            violations(&unanswered)
                .join("\n")
                .contains("status ERROR but error.type None")
        );
        unanswered
            .attributes
            .insert("error.type".into(), text("client_disconnected"));
        assert_eq!(violations(&unanswered), Vec::<String>::new());
    }

    #[test]
    fn a_client_span_that_got_a_4xx_is_failed() {
        let mut client = span(
            SpanKind::Client,
            "POST /authorize",
            &[
                ("http.request.method", text("POST")),
                ("server.address", text("127.0.0.1")),
                ("server.port", Value::Int(3004)),
                ("url.full", text("http://127.0.0.1:3004/authorize")),
                ("url.scheme", text("http")),
                ("http.response.status_code", Value::Int(403)),
            ],
        );
        assert!(
            violations(&client)
                .join("\n")
                .contains("status 403 but no error status")
        );
        client.status_error = true;
        client.attributes.insert("error.type".into(), text("403"));
        assert_eq!(violations(&client), Vec::<String>::new());
    }

    #[test]
    fn database_spans_need_their_db_attributes() {
        let command = span(
            SpanKind::Client,
            "insert",
            &[
                ("db.system.name", text("mongodb")),
                ("db.system", text("mongodb")),
                ("db.namespace", text("blog")),
                ("db.operation.name", text("insert")),
                ("server.address", text("127.0.0.1")),
                ("server.port", Value::Int(27017)),
            ],
        );
        let found = violations(&command).join("\n");
        assert!(found.contains("no string db.collection.name"), "{found}");
    }

    #[test]
    fn a_span_a_flag_made_wait_says_which_flag_and_how_long_it_queued() {
        let evaluation: Attributes = [
            (
                "feature_flag.key".to_owned(),
                text("blogDatabaseBottleneck"),
            ),
            ("feature_flag.result.variant".to_owned(), text("on")),
            ("feature_flag.result.value".to_owned(), Value::Bool(true)),
        ]
        .into_iter()
        .collect();
        let mut queue = span(
            SpanKind::Internal,
            "mongodb.queue",
            &[
                ("db.operation.name", text("find")),
                ("db.collection.name", text("blogs")),
            ],
        );
        let found = violations(&queue).join("\n");
        for expected in [
            "does not record the flag",
            "no queue.entered event",
            "no queue.left event",
        ] {
            assert!(found.contains(expected), "{expected:?} not in:\n{found}");
        }
        queue
            .events
            .push(("feature_flag.evaluation".into(), evaluation.clone()));
        queue.events.push((
            "queue.entered".into(),
            [("queue.operations_ahead".to_owned(), Value::Int(2))]
                .into_iter()
                .collect(),
        ));
        queue.events.push((
            "queue.left".into(),
            [
                ("queue.wait_ms".to_owned(), Value::Double(12.5)),
                ("queue.operations_behind".to_owned(), Value::Int(0)),
            ]
            .into_iter()
            .collect(),
        ));
        assert_eq!(violations(&queue), Vec::<String>::new());

        let mut delay = span(SpanKind::Internal, "authorize.delay", &[]);
        let mut untyped = evaluation;
        untyped.insert("feature_flag.result.value".into(), text("true"));
        untyped.insert("feature_flag.result.variant".into(), text(""));
        delay
            .events
            .push(("feature_flag.evaluation".into(), untyped));
        let found = violations(&delay).join("\n");
        assert!(found.contains("feature_flag.result.variant"), "{found}");
        assert!(found.contains("not a number or a boolean"), "{found}");
    }

    #[test]
    fn log_events_may_keep_their_level_but_nothing_else_of_the_bookkeeping() {
        let mut server = good_server();
        server.events.push((
            "author-service did not answer".into(),
            [("level".to_owned(), text("WARN"))].into_iter().collect(),
        ));
        assert_eq!(violations(&server), Vec::<String>::new());
        server.events[0]
            .1
            .insert("target".into(), text("platform::author"));
        assert!(
            violations(&server)
                .join("\n")
                .contains("bookkeeping attribute target")
        );
    }
}
