//! Every service serves its OpenAPI 3.1 document, and answers as it says: schemathesis (from PyPI,
//! installed into .tools/venv by scripts/test.sh) reads each service's `GET /openapi.json`,
//! generates valid and invalid requests for every operation, sends them with a token that may
//! call them all, and checks every answer (tests/schemathesis.toml has its settings). Its traces
//! then show that each operation was really called, and served.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use e2e_tests::{ExportedSpan, Platform, SpanKind};
use serde_json::Value;

/// The fewest requests schemathesis must have sent each operation that takes parameters or a body,
/// as the service's own SERVER spans count them. One without inputs has nothing to vary and is
/// called a few times only.
const MIN_CALLS: usize = 20;

/// A service to fuzz, the token its requests carry, and the operations that must have been
/// answered with a 2xx at least once: proof that the token worked and the fuzzer reached the code
/// behind the permission check. (`POST /login` is not among them: no generated password is right.)
struct Target {
    service: &'static str,
    token: Option<String>,
    served: &'static [&'static str],
    /// Paths not fuzzed, each for a reason given where it is listed.
    excluded: &'static [&'static str],
}

#[tokio::test(flavor = "multi_thread")]
async fn every_service_answers_as_its_openapi_document_says() {
    let platform = Platform::start().await;
    let admin = platform.admin_token().await;
    let writer = platform.user_token("fuzz-writer", &["READ", "WRITE"]).await;
    let targets = [
        Target {
            service: "authen",
            token: None,
            served: &["GET /.well-known/jwks.json"],
            excluded: &[],
        },
        Target {
            // The admin holds every permission, so any permission asked for is granted.
            service: "author",
            token: Some(admin.clone()),
            served: &["POST /authorize"],
            // It revokes the very token the fuzzer authenticates with, after which every other
            // call is a 401; tests/logout.rs covers it.
            excluded: &["/revocations"],
        },
        Target {
            service: "user",
            token: Some(admin),
            served: &["POST /users", "GET /users/{id}"],
            excluded: &[],
        },
        Target {
            service: "blog",
            token: Some(writer),
            served: &["GET /blogs", "POST /blogs", "GET /blogs/{id}"],
            excluded: &[],
        },
    ];

    for target in &targets {
        let url = platform.url(target.service);
        let operations = own_operations(&platform, target.service, target.excluded).await;
        let started = Instant::now();
        let output = fuzz(&url, target.token.as_deref(), target.excluded).await;
        eprintln!(
            "{}-service: schemathesis passed in {:.1?}; {}",
            target.service,
            started.elapsed(),
            output
                .lines()
                .find(|line| line.contains(" generated"))
                .unwrap_or("")
                .trim()
        );
        assert_exercised(&platform, target, &operations).await;
    }
}

/// Checks what `GET /openapi.json` serves and returns the service's own operations
/// (`"POST /blogs"`, ...), the probes and the document itself left out, each with the fewest calls
/// the fuzzer must make to it.
async fn own_operations(
    platform: &Platform,
    service: &str,
    excluded: &[&str],
) -> BTreeMap<String, usize> {
    let response = platform
        .api
        .http()
        .get(format!("{}/openapi.json", platform.url(service)))
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "application/json");
    let document: Value = response.json().await.expect("the document is JSON");
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], format!("{service}-service"));
    let operations: BTreeMap<String, usize> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(path, _)| !matches!(path.as_str(), "/healthz" | "/readyz" | "/openapi.json"))
        .filter(|(path, _)| !excluded.contains(&path.as_str()))
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("a path item");
            methods.iter().map(move |(method, operation)| {
                let takes_input =
                    operation.get("parameters").is_some() || operation.get("requestBody").is_some();
                let min_calls = if takes_input { MIN_CALLS } else { 1 };
                (format!("{} {path}", method.to_uppercase()), min_calls)
            })
        })
        .collect();
    assert!(
        !operations.is_empty(),
        "{service}-service documents nothing"
    );
    operations
}

/// Runs schemathesis against `url`'s document and returns its output; fails with that output
/// when schemathesis finds a problem.
async fn fuzz(url: &str, token: Option<&str>, excluded: &[&str]) -> String {
    let work_dir = tempfile::tempdir().expect("a directory for schemathesis");
    let mut command = Command::new(schemathesis_binary());
    command
        .arg("--config-file")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{url}/openapi.json"))
        // Hypothesis keeps its files in the working directory; keep them out of the project.
        .current_dir(work_dir.path());
    if let Some(token) = token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    for path in excluded {
        command.args(["--exclude-path", path]);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the schemathesis task")
        .expect("running schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found problems in {url} ({}):\n{text}",
        output.status
    );
    text
}

/// The service's SERVER spans show every operation called from outside (root spans: not
/// author-service's calls from the other services) at least as often as `operations` says, and
/// the `served` ones answered 2xx at least once; and every span follows the conventions.
async fn assert_exercised(
    platform: &Platform,
    target: &Target,
    operations: &BTreeMap<String, usize>,
) {
    let service = format!("{}-service", target.service);
    let shortfalls = |spans: &[ExportedSpan]| -> Vec<String> {
        operations
            .iter()
            .filter_map(|(operation, &min_calls)| {
                let statuses: Vec<i64> = spans
                    .iter()
                    .filter(|span| {
                        span.service == service
                            && span.kind == SpanKind::Server
                            && span.parent_span_id.is_empty()
                            && span.name == *operation
                    })
                    .filter_map(|span| span.int("http.response.status_code"))
                    .collect();
                if statuses.len() < min_calls {
                    Some(format!("{operation} was called {} times", statuses.len()))
                } else if target.served.contains(&operation.as_str())
                    && !statuses.iter().any(|status| (200..300).contains(status))
                {
                    Some(format!("{operation} never answered 2xx: {statuses:?}"))
                } else {
                    None
                }
            })
            .collect()
    };
    // Spans leave in batches; give the last ones time to arrive.
    let started = Instant::now();
    loop {
        let spans = platform.collector.spans();
        let missing = shortfalls(&spans);
        if missing.is_empty() {
            // Whatever the fuzzer sent, every span it caused follows the conventions.
            e2e_tests::conventions::assert_conventions(&spans);
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{service} was not exercised:\n{}",
            missing.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `SCHEMATHESIS_BIN`, or the copy scripts/test.sh installs into .tools/venv.
fn schemathesis_binary() -> PathBuf {
    let path = std::env::var_os("SCHEMATHESIS_BIN")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/schemathesis")
        });
    assert!(
        path.is_file(),
        "{} is missing: run the tests with scripts/test.sh, which installs schemathesis into \
         .tools/venv and sets SCHEMATHESIS_BIN",
        path.display()
    );
    path
}
