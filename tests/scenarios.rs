//! Scenarios: flags in a file, switched with `scripts/scenario.sh` while the platform runs, that
//! make author-service fail or slow and blog-service's database slow or a bottleneck. Each test
//! checks what a client sees (status codes, timing, what is stored) and what the trace shows: the
//! failed spans, the `feature_flag.evaluation` event on the span where the flag acted, and the
//! span that holds any added latency. Reloading: a change applies within 2 s, a broken file
//! changes nothing and is logged once, a missing file is all off, and no service restarts.
//!
//! The services draw failures from `FLAGS_SEED`, so a share is the same in every run: the bounds
//! below are tight without being flaky.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use e2e_tests::{
    Attributes, AuthorHop, ExportedSpan, Platform, PlatformOptions, Reply, SERVICES, SpanKind,
    Value, descends_from, find, project_root, span,
};
use futures_util::future::join_all;
use mongodb::bson::doc;
use tempfile::TempDir;

/// How long a change of the flags file may take to apply.
const RELOAD_BOUND: Duration = Duration::from_secs(2);

/// A platform whose services read their flags from a file of the test's, the shipped
/// `flags.json` to start with (every flag off).
struct Scenario {
    platform: Platform,
    flags: PathBuf,
    _dir: TempDir,
}

impl Scenario {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a directory for the flags file");
        let flags = dir.path().join("flags.json");
        std::fs::copy(project_root().join("flags.json"), &flags).expect("copying flags.json");
        let platform = Platform::start_with(PlatformOptions::with_flags(&flags, Vec::new())).await;
        Self {
            platform,
            flags,
            _dir: dir,
        }
    }

    /// A writer's token, and the id of a blog it posted, with every flag off.
    async fn writer_and_a_blog(&self) -> (String, String) {
        let api = &self.platform.api;
        let writer = self.platform.user_token("writer", &["READ", "WRITE"]).await;
        let posted = api.post_blog(Some(&writer), "T", "C").await;
        assert_eq!(posted.status, 201, "{}", posted.text);
        let id = posted.body["id"].as_str().unwrap().to_owned();
        (writer, id)
    }

    /// Runs `scripts/scenario.sh ARGS` on this platform's file, asserting it succeeds.
    fn switch(&self, args: &[&str]) {
        let output = scenario_sh(&self.flags, args);
        assert!(
            output.status.success(),
            "scripts/scenario.sh {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Switches with `scripts/scenario.sh ARGS`, then waits until every service has logged the
    /// flags now in force (`expected`, as the services print them), within [`RELOAD_BOUND`].
    async fn switch_and_wait(&self, args: &[&str], expected: &str) {
        let before = self.log_lengths();
        let started = Instant::now();
        self.switch(args);
        self.wait_for_log(&before, &format!("\"flags\":\"{expected}\""), started)
            .await;
    }

    fn log_lengths(&self) -> Vec<usize> {
        SERVICES
            .iter()
            .map(|service| self.platform.log(service.name).len())
            .collect()
    }

    /// Waits until every service's log, past `before`, has a line containing `needle`; fails if
    /// that takes more than [`RELOAD_BOUND`] from `since`.
    async fn wait_for_log(&self, before: &[usize], needle: &str, since: Instant) {
        loop {
            let missing: Vec<&str> = SERVICES
                .iter()
                .zip(before)
                .filter(|(service, from)| {
                    !self.platform.log(service.name)[**from..].contains(needle)
                })
                .map(|(service, _)| service.name)
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                since.elapsed() < RELOAD_BOUND,
                "{missing:?} did not log {needle:?} within {RELOAD_BOUND:?}:\n{}",
                self.platform.log(missing[0])
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lines of `service`'s log past `from` that contain `needle`.
    fn log_lines(&self, service: &str, from: usize, needle: &str) -> Vec<String> {
        self.platform.log(service)[from..]
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// Every service still runs, as the same process that started.
    fn assert_nothing_restarted(&mut self) {
        for service in SERVICES.map(|service| service.name) {
            assert!(
                self.platform.is_running(service),
                "{service}-service is not running"
            );
            let starts = self.platform.log(service).matches("\"listening\"").count();
            assert_eq!(starts, 1, "{service}-service started {starts} times");
        }
    }
}

fn scenario_sh(flags: &Path, args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(project_root().join("scripts/scenario.sh"))
        .args(args)
        .env("FLAGS_FILE", flags)
        .output()
        .expect("running scripts/scenario.sh")
}

/// Sends `request` and returns the answer and how long it took.
async fn timed<F: std::future::Future<Output = Reply>>(request: F) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = request.await;
    (reply, started.elapsed())
}

/// The `feature_flag.evaluation` events of `span`.
fn evaluations(span: &ExportedSpan) -> Vec<&Attributes> {
    span.events_named("feature_flag.evaluation").collect()
}

/// Asserts that `span` carries exactly one evaluation of `key` with `variant` and `value`.
fn assert_evaluated(span: &ExportedSpan, key: &str, variant: &str, value: Value) {
    let events = evaluations(span);
    assert_eq!(
        events.len(),
        1,
        "{} {:?}: {events:?}",
        span.service,
        span.name
    );
    let event = events[0];
    assert_eq!(
        event.get("feature_flag.key"),
        Some(&Value::String(key.into()))
    );
    assert_eq!(
        event.get("feature_flag.result.variant"),
        Some(&Value::String(variant.into()))
    );
    assert_eq!(event.get("feature_flag.result.value"), Some(&value));
}

fn internal<'a>(spans: &'a [ExportedSpan], service: &str, name: &str) -> Vec<&'a ExportedSpan> {
    spans
        .iter()
        .filter(|span| span.service == service && span.name == name)
        .filter(|span| span.kind == SpanKind::Internal)
        .collect()
}

fn event_value(span: &ExportedSpan, event: &str, key: &str) -> Value {
    span.events_named(event)
        .next()
        .and_then(|attributes| attributes.get(key))
        .cloned()
        .unwrap_or_else(|| panic!("{} has no {event} event with {key}", span.name))
}

#[tokio::test(flavor = "multi_thread")]
async fn author_failure_rate_fails_that_share_with_500_callers_answer_503_and_nothing_is_stored() {
    let mut scenario = Scenario::start().await;
    let platform = &scenario.platform;
    let admin = platform.admin_token().await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;

    scenario
        .switch_and_wait(&["authorFailureRate", "0.2"], "authorFailureRate=20% (0.2)")
        .await;
    let platform = &scenario.platform;
    author_fails_that_share_with_500(platform, &writer).await;
    let answers = callers_answer_503_and_store_nothing(platform, &admin, &writer).await;
    a_refused_write_s_trace_says_why(platform, &answers).await;

    // Off: every answer is good again.
    scenario
        .switch_and_wait(&["authorFailureRate", "off"], "all off")
        .await;
    for _ in 0..50 {
        let reply = scenario.platform.api.authorize(Some(&writer), "READ").await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    scenario.assert_nothing_restarted();
}

/// author-service itself: a fifth of its answers are 500, as problem+json.
async fn author_fails_that_share_with_500(platform: &Platform, writer: &str) {
    const ASKED: usize = 200;
    let mut failed = Vec::new();
    for _ in 0..ASKED {
        let reply = platform.api.authorize(Some(writer), "READ").await;
        assert!(reply.status == 200 || reply.status == 500, "{}", reply.text);
        if reply.status == 500 {
            assert_eq!(
                reply.header("content-type"),
                Some("application/problem+json")
            );
            assert_eq!(reply.body["status"], 500);
            failed.push(reply);
        }
    }
    let share = failed.len() as f64 / ASKED as f64;
    println!("authorFailureRate 0.2: {} of {ASKED} failed", failed.len());
    assert!((0.15..=0.25).contains(&share), "{share} of answers failed");
}

/// Its callers answer 503, and a write that failed stores nothing: 40 blogs posted, then 20
/// users created, the answers in that order.
async fn callers_answer_503_and_store_nothing(
    platform: &Platform,
    admin: &str,
    writer: &str,
) -> Vec<Reply> {
    let mut answers = Vec::new();
    for n in 0..40 {
        answers.push(
            platform
                .api
                .post_blog(Some(writer), &format!("Post {n}"), "Body")
                .await,
        );
    }
    for n in 0..20 {
        answers.push(
            platform
                .api
                .create_user(admin, &format!("user{n}"), "user-password-1", &["READ"])
                .await,
        );
    }
    let statuses: Vec<u16> = answers.iter().map(|reply| reply.status).collect();
    assert!(
        statuses.iter().all(|status| [201, 503].contains(status)),
        "{statuses:?}"
    );
    let refused =
        |range: std::ops::Range<usize>| statuses[range].iter().filter(|s| **s == 503).count();
    assert!(refused(0..40) > 0 && refused(40..60) > 0, "{statuses:?}");
    let blogs = platform.mongo.collection("blogs").await;
    let users = platform.mongo.collection("users").await;
    assert_eq!(
        blogs.count_documents(doc! {}).await.unwrap() as usize,
        40 - refused(0..40),
        "every 503 stored nothing"
    );
    assert_eq!(
        users
            .count_documents(doc! { "username": { "$in": (0..20).map(|n| format!("user{n}")).collect::<Vec<_>>() } })
            .await
            .unwrap() as usize,
        20 - refused(40..60)
    );
    answers
}

/// The trace of a refused write: author's SERVER span failed with 500 and says why; blog's
/// CLIENT span failed with it; blog answered 503. Only the failed answers carry the flag's event.
async fn a_refused_write_s_trace_says_why(platform: &Platform, answers: &[Reply]) {
    let refused_write = answers.iter().find(|reply| reply.status == 503).unwrap();
    assert_eq!(
        refused_write.header("content-type"),
        Some("application/problem+json")
    );
    let AuthorHop {
        caller: blog,
        client,
        author,
        spans,
    } = platform
        .collector
        .wait_for_author_hop(&refused_write.trace_id(), "blog-service", "POST /blogs")
        .await;
    assert_eq!(blog.int("http.response.status_code"), Some(503));
    assert!(blog.status_error);
    assert_eq!(client.int("http.response.status_code"), Some(500));
    assert!(client.status_error);
    assert_eq!(client.attribute("error.type"), Some("500"));
    assert_eq!(author.int("http.response.status_code"), Some(500));
    assert!(author.status_error);
    assert_eq!(author.attribute("error.type"), Some("500"));
    assert_eq!(author.parent_span_id, client.span_id);
    assert_evaluated(&author, "authorFailureRate", "20%", Value::Double(0.2));
    assert!(
        !spans.iter().any(|span| span.service == "mongodb"),
        "a refused write never reaches MongoDB"
    );
    let good_write = answers.iter().find(|reply| reply.status == 201).unwrap();
    let spans = platform
        .collector
        .wait_for_spans(
            &good_write.trace_id(),
            &[("author-service", "POST /authorize", SpanKind::Server)],
        )
        .await;
    assert!(spans.iter().all(|span| evaluations(span).is_empty()));
}

#[tokio::test(flavor = "multi_thread")]
async fn author_latency_delays_every_answer_inside_authorize_delay_and_callers_give_up_at_2_s() {
    let mut scenario = Scenario::start().await;
    let reader = scenario.platform.user_token("reader", &["READ"]).await;
    let (_, usual) = timed(scenario.platform.api.list_blogs(Some(&reader), "")).await;

    scenario
        .switch_and_wait(&["authorLatencyMs", "400"], "authorLatencyMs=400ms (400)")
        .await;
    let platform = &scenario.platform;
    let (reply, took) = timed(platform.api.list_blogs(Some(&reader), "")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        took >= Duration::from_millis(400)
            && took < Duration::from_millis(400) + usual + Duration::from_millis(600),
        "GET /blogs took {took:?} (usually {usual:?})"
    );
    // A refused token is answered as late: the delay comes before anything else.
    let (refused, took) = timed(platform.api.authorize(Some("not-a-token"), "READ")).await;
    assert_eq!(refused.status, 401);
    assert!(took >= Duration::from_millis(400), "{took:?}");

    let spans = platform
        .collector
        .wait_for_trace(&reply.trace_id(), |spans| {
            find(spans, "author-service", "POST /authorize", SpanKind::Server).is_some()
                && spans.iter().any(|span| span.service == "mongodb")
        })
        .await;
    let author = span(
        &spans,
        "author-service",
        "POST /authorize",
        SpanKind::Server,
    );
    let delays = internal(&spans, "author-service", "authorize.delay");
    assert_eq!(delays.len(), 1);
    let delay = delays[0];
    assert_eq!(delay.parent_span_id, author.span_id);
    assert!(delay.duration() >= Duration::from_millis(400));
    assert!(
        author.duration() - delay.duration() < Duration::from_millis(100),
        "the delay is nearly all of author's time: {:?} of {:?}",
        delay.duration(),
        author.duration()
    );
    assert_evaluated(delay, "authorLatencyMs", "400ms", Value::Int(400));
    assert!(evaluations(author).is_empty() && !author.status_error);

    // Longer than callers wait: they give up at 2 s and answer 503.
    scenario
        .switch_and_wait(
            &["authorLatencyMs", "3000"],
            "authorLatencyMs=3000ms (3000)",
        )
        .await;
    let platform = &scenario.platform;
    let (reply, took) = timed(platform.api.list_blogs(Some(&reader), "")).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2800),
        "503 after {took:?}"
    );
    let spans = platform
        .collector
        .wait_for_trace(&reply.trace_id(), |spans| {
            find(spans, "blog-service", "GET /blogs", SpanKind::Server).is_some()
                && find(spans, "author-service", "POST /authorize", SpanKind::Server).is_some()
                && !internal(spans, "author-service", "authorize.delay").is_empty()
        })
        .await;
    let client = span(&spans, "blog-service", "POST /authorize", SpanKind::Client);
    assert!(client.status_error);
    assert_eq!(client.attribute("error.type"), Some("timeout"));
    // author-service was still waiting when blog-service hung up: it never answered.
    let author = span(
        &spans,
        "author-service",
        "POST /authorize",
        SpanKind::Server,
    );
    assert!(author.status_error);
    assert_eq!(author.attribute("error.type"), Some("client_disconnected"));
    assert_eq!(author.int("http.response.status_code"), None);
    let delay = internal(&spans, "author-service", "authorize.delay")[0];
    assert!(descends_from(&spans, delay, client));
    assert_evaluated(delay, "authorLatencyMs", "3000ms", Value::Int(3000));
    scenario.assert_nothing_restarted();
}

#[tokio::test(flavor = "multi_thread")]
async fn blog_database_latency_slows_each_operation_inside_mongodb_delay() {
    let mut scenario = Scenario::start().await;
    let (writer, id) = scenario.writer_and_a_blog().await;
    let (_, usual) = timed(scenario.platform.api.get_blog(Some(&writer), &id)).await;

    scenario
        .switch_and_wait(
            &["blogDatabaseLatencyMs", "300"],
            "blogDatabaseLatencyMs=300ms (300)",
        )
        .await;
    let platform = &scenario.platform;
    let slow = Duration::from_millis(300);
    let (read, took_read) = timed(platform.api.get_blog(Some(&writer), &id)).await;
    // The listing's two operations (find, count) run side by side: 300 ms, not 600.
    let (list, took_list) = timed(platform.api.list_blogs(Some(&writer), "")).await;
    let (write, took_write) = timed(platform.api.post_blog(Some(&writer), "T2", "C2")).await;
    for (reply, took, status) in [
        (&read, took_read, 200),
        (&list, took_list, 200),
        (&write, took_write, 201),
    ] {
        assert_eq!(reply.status, status, "{}", reply.text);
        assert!(
            took >= slow && took < slow + usual + Duration::from_millis(250),
            "{took:?} (usually {usual:?})"
        );
    }

    for (reply, operations) in [
        (&read, &["find"][..]),
        (&list, &["find", "count"][..]),
        (&write, &["insert"][..]),
    ] {
        let spans = platform
            .collector
            .wait_for_trace(&reply.trace_id(), |spans| {
                spans
                    .iter()
                    .filter(|span| span.service == "mongodb" && !span.name.contains(' '))
                    .count()
                    == operations.len()
                    && internal(spans, "blog-service", "mongodb.delay").len() == operations.len()
                    && spans
                        .iter()
                        .any(|span| span.kind == SpanKind::Server && span.service == "blog-service")
            })
            .await;
        let server = spans
            .iter()
            .find(|span| span.kind == SpanKind::Server && span.service == "blog-service")
            .unwrap();
        let delays = internal(&spans, "blog-service", "mongodb.delay");
        let mut delayed: Vec<&str> = delays
            .iter()
            .map(|span| span.attribute("db.operation.name").unwrap())
            .collect();
        delayed.sort_unstable();
        let mut expected = operations.to_vec();
        expected.sort_unstable();
        assert_eq!(delayed, expected, "one delay per operation");
        for delay in delays {
            assert!(descends_from(&spans, delay, server));
            assert!(delay.duration() >= slow, "{:?}", delay.duration());
            assert_eq!(delay.attribute("db.collection.name"), Some("blogs"));
            assert_evaluated(delay, "blogDatabaseLatencyMs", "300ms", Value::Int(300));
            // Its operation's MongoDB spans start right after it: no unexplained gap.
            let operation = delay.attribute("db.operation.name").unwrap();
            let command = spans
                .iter()
                .filter(|span| span.service == "mongodb")
                .filter(|span| {
                    span.attribute("db.operation.name") == Some(operation)
                        || (operation == "count"
                            && span.attribute("db.operation.name") == Some("count"))
                })
                .map(|span| span.start_unix_nano)
                .min()
                .unwrap_or_else(|| panic!("no MongoDB span for {operation}"));
            let gap = Duration::from_nanos(command.saturating_sub(delay.end_unix_nano));
            assert!(
                command >= delay.end_unix_nano && gap < Duration::from_millis(50),
                "{operation}: the command starts {gap:?} after its delay ends"
            );
        }
    }
    scenario.assert_nothing_restarted();
}

#[tokio::test(flavor = "multi_thread")]
async fn blog_database_bottleneck_queues_operations_and_records_who_was_ahead_and_how_long() {
    let mut scenario = Scenario::start().await;
    let (writer, id) = scenario.writer_and_a_blog().await;
    let before = scenario
        .platform
        .api
        .get_blog(Some(&writer), &id)
        .await
        .trace_id();

    // With the bottleneck on, and each operation 200 ms long, so that a queue forms.
    scenario
        .switch_and_wait(
            &["blogDatabaseBottleneck", "true"],
            "blogDatabaseBottleneck=on (true)",
        )
        .await;
    scenario
        .switch_and_wait(
            &["blogDatabaseLatencyMs", "200"],
            "blogDatabaseLatencyMs=200ms (200), blogDatabaseBottleneck=on (true)",
        )
        .await;
    let platform = &scenario.platform;
    const READERS: usize = 6;
    let started = Instant::now();
    let replies = join_all((0..READERS).map(|_| platform.api.get_blog(Some(&writer), &id))).await;
    let took = started.elapsed();
    assert!(replies.iter().all(|reply| reply.status == 200));
    // One at a time: six operations of 200 ms each take 1.2 s, not 200 ms.
    assert!(
        took >= Duration::from_millis(200 * READERS as u64),
        "{READERS} reads took {took:?}"
    );

    let mut queued = Vec::new();
    for reply in &replies {
        let spans = platform
            .collector
            .wait_for_trace(&reply.trace_id(), |spans| {
                spans.iter().any(|span| span.service == "mongodb")
                    && !internal(spans, "blog-service", "mongodb.delay").is_empty()
            })
            .await;
        let queue = internal(&spans, "blog-service", "mongodb.queue");
        assert_eq!(queue.len(), 1);
        let queue = queue[0].clone();
        let delay = internal(&spans, "blog-service", "mongodb.delay")[0];
        assert_evaluated(&queue, "blogDatabaseBottleneck", "on", Value::Bool(true));
        assert_eq!(queue.attribute("db.operation.name"), Some("find"));
        // The turn is held through the delay: the delay starts when the wait ends.
        assert!(delay.start_unix_nano >= queue.end_unix_nano);
        queued.push(queue);
    }
    queued.sort_by_key(|span| span.start_unix_nano);
    let ahead: Vec<i64> = queued
        .iter()
        .map(
            |span| match event_value(span, "queue.entered", "queue.operations_ahead") {
                Value::Int(n) => n,
                other => panic!("{other:?}"),
            },
        )
        .collect();
    let waited: Vec<f64> = queued
        .iter()
        .map(
            |span| match event_value(span, "queue.left", "queue.wait_ms") {
                Value::Double(ms) => ms,
                other => panic!("{other:?}"),
            },
        )
        .collect();
    println!("operations ahead: {ahead:?}; waited (ms): {waited:?}");
    let mut sorted = ahead.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..READERS as i64).collect::<Vec<_>>());
    for (span, (ahead, waited)) in queued.iter().zip(ahead.iter().zip(&waited)) {
        // Each operation ahead held the turn for 200 ms (all but the one running, in full).
        let least = 200.0 * (*ahead as f64 - 1.0).max(0.0);
        assert!(
            *waited >= least && *waited < 200.0 * (*ahead as f64) + 300.0,
            "{ahead} ahead, waited {waited} ms"
        );
        let span_ms = span.duration().as_secs_f64() * 1000.0;
        assert!((span_ms - waited).abs() < 5.0, "{span_ms} vs {waited}");
    }

    // Before the flag, no queue at all.
    let spans = platform
        .collector
        .wait_for_trace(&before, |spans| {
            spans.iter().any(|span| span.service == "mongodb")
        })
        .await;
    assert!(internal(&spans, "blog-service", "mongodb.queue").is_empty());
    scenario.assert_nothing_restarted();
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_reload_within_2_s_a_broken_file_changes_nothing_and_a_missing_one_is_all_off() {
    let mut scenario = Scenario::start().await;
    let reader = scenario.platform.user_token("reader", &["READ"]).await;
    let slow = Duration::from_millis(400);
    let is_slow = async |scenario: &Scenario| {
        let (reply, took) = timed(scenario.platform.api.list_blogs(Some(&reader), "")).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        took >= slow
    };

    scenario
        .switch_and_wait(&["authorLatencyMs", "400"], "authorLatencyMs=400ms (400)")
        .await;
    assert!(is_slow(&scenario).await);

    // A broken file: the flags in force stay, and each service says so once.
    let before = scenario.log_lengths();
    let good = std::fs::read(&scenario.flags).unwrap();
    std::fs::write(&scenario.flags, &good[..good.len() / 2]).unwrap();
    let started = Instant::now();
    scenario
        .wait_for_log(&before, "does not parse", started)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (service, from) in SERVICES.map(|service| service.name).iter().zip(&before) {
        let lines = scenario.log_lines(service, *from, "does not parse");
        assert_eq!(lines.len(), 1, "{service}: {lines:?}");
        assert!(
            lines[0].contains("authorLatencyMs=400ms (400)"),
            "{}",
            lines[0]
        );
    }
    assert!(is_slow(&scenario).await, "the last good flags stay");
    // scripts/scenario.sh refuses to edit it, and leaves it as it is.
    let refused = scenario_sh(&scenario.flags, &["authorLatencyMs", "100"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not parse"));
    assert_eq!(
        std::fs::read(&scenario.flags).unwrap(),
        &good[..good.len() / 2]
    );

    // A good file after the broken one applies; an unknown flag and a bad value are each
    // logged once and change nothing else.
    let before = scenario.log_lengths();
    let started = Instant::now();
    std::fs::write(
        &scenario.flags,
        r#"{"flags": {
            "authorLatencyMs": {"state": "ENABLED", "variants": {"off": 0, "on": 100}, "defaultVariant": "on"},
            "authorFailureRate": {"state": "ENABLED", "variants": {"off": 0, "150%": 1.5}, "defaultVariant": "150%"},
            "cartFailure": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}"#,
    )
    .unwrap();
    scenario
        .wait_for_log(&before, "\"flags\":\"authorLatencyMs=on (100)\"", started)
        .await;
    for (service, from) in SERVICES.map(|service| service.name).iter().zip(&before) {
        let unknown =
            scenario.log_lines(service, *from, "unknown flag \\\"cartFailure\\\" ignored");
        let wrong = scenario.log_lines(
            service,
            *from,
            "flag authorFailureRate wants 1.5 (variant \\\"150%\\\") but takes a number from 0 to 1; it is off",
        );
        assert_eq!(
            (unknown.len(), wrong.len()),
            (1, 1),
            "{service}:\n{}",
            scenario.platform.log(service)
        );
    }
    assert!(!is_slow(&scenario).await);

    // A missing file: all off.
    scenario
        .switch_and_wait(&["authorLatencyMs", "400"], "authorLatencyMs=400ms (400)")
        .await;
    assert!(is_slow(&scenario).await);
    let before = scenario.log_lengths();
    let started = Instant::now();
    std::fs::remove_file(&scenario.flags).unwrap();
    scenario
        .wait_for_log(&before, "no scenario flags file; all off", started)
        .await;
    assert!(!is_slow(&scenario).await);
    scenario.assert_nothing_restarted();
}

#[test]
fn scenario_sh_refuses_unknown_flags_and_wrong_types_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let flags = dir.path().join("flags.json");
    std::fs::copy(project_root().join("flags.json"), &flags).unwrap();
    let shipped = std::fs::read(&flags).unwrap();
    for (args, says) in [
        (
            &["cartFailure", "1"][..],
            "unknown flag 'cartFailure'; the flags are: authorFailureRate authorLatencyMs blogDatabaseLatencyMs blogDatabaseBottleneck",
        ),
        (
            &["authorFailureRate", "1.5"][..],
            "authorFailureRate takes a number from 0 to 1 (or off), not '1.5'",
        ),
        (
            &["authorFailureRate", "20%"][..],
            "takes a number from 0 to 1",
        ),
        (
            &["authorLatencyMs", "-5"][..],
            "authorLatencyMs takes whole milliseconds (or off), not '-5'",
        ),
        (
            &["blogDatabaseLatencyMs", "2.5"][..],
            "takes whole milliseconds",
        ),
        (
            &["blogDatabaseBottleneck", "yes"][..],
            "blogDatabaseBottleneck takes true or false (or off), not 'yes'",
        ),
        (&["authorLatencyMs"][..], "authorLatencyMs needs a value"),
    ] {
        let output = scenario_sh(&flags, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(
            std::fs::read(&flags).unwrap(),
            shipped,
            "{args:?} wrote the file"
        );
    }

    // The listing names every flag, with what it takes and whether it is on.
    let listing = scenario_sh(&flags, &[]);
    let text = String::from_utf8_lossy(&listing.stdout);
    for line in [
        "authorFailureRate        a number from 0 to 1",
        "authorFailureRate        off",
        "blogDatabaseBottleneck   off",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    let on = scenario_sh(&flags, &["blogDatabaseBottleneck", "true"]);
    assert!(on.status.success());
    assert!(String::from_utf8_lossy(&on.stdout).contains("blogDatabaseBottleneck   on: on (true)"));
    let off = scenario_sh(&flags, &["off"]);
    assert!(off.status.success());
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&flags).unwrap()).unwrap();
    for (key, flag) in document["flags"].as_object().unwrap() {
        assert_eq!(flag["state"], "DISABLED", "{key}");
    }
}
