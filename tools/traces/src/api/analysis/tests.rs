use std::sync::Arc;

use serde_json::Value;

use crate::{
    server::ui_router,
    store::Store,
    testing::{export, get_json, span},
};

const MS: u64 = 1_000_000;

async fn get(store: &Arc<Store>, path: &str) -> (u16, Value) {
    get_json(ui_router(Arc::clone(store)), path).await
}

/// Trace `[trace; 16]`: blog's `GET /blogs` calling author for `authorize` ms, then MongoDB.
fn get_blogs(store: &Store, trace: u8, authorize: u64) {
    let spans = vec![
        span(trace, 1, None, "GET /blogs", 0, (10 + authorize) * MS),
        span(
            trace,
            2,
            Some(1),
            "POST /authorize",
            MS,
            (2 + authorize) * MS,
        ),
        span(
            trace,
            4,
            Some(1),
            "find",
            (3 + authorize) * MS,
            (9 + authorize) * MS,
        ),
    ];
    store.ingest(export("blog", spans)).unwrap();
    let author = span(
        trace,
        3,
        Some(2),
        "POST /authorize",
        MS,
        (1 + authorize) * MS,
    );
    store.ingest(export("author", vec![author])).unwrap();
}

fn id(trace: u8) -> String {
    format!("{trace:02x}").repeat(16)
}

#[tokio::test]
async fn the_critical_path_covers_the_root_through_the_slow_span() {
    let store = Arc::new(Store::new(10));
    get_blogs(&store, 1, 500);
    let (status, json) = get(&store, &format!("/api/analysis/critical-path/{}", id(1))).await;
    assert_eq!(status, 200, "{json}");
    let data = &json["data"];
    assert_eq!(data["traceId"], id(1));
    assert_eq!(data["durationNanos"], 510 * MS);
    let segments = data["segments"].as_array().unwrap();
    let time =
        |segment: &Value, field: &str| -> u64 { segment[field].as_str().unwrap().parse().unwrap() };
    let mut reached = 0;
    for segment in segments {
        assert_eq!(time(segment, "startTimeUnixNano"), reached, "{json}");
        reached = time(segment, "endTimeUnixNano");
    }
    assert_eq!(reached, 510 * MS);
    let author = segments
        .iter()
        .find(|s| s["serviceName"] == "author")
        .expect("author's span is on the path");
    assert_eq!(author["operationName"], "POST /authorize");
    assert_eq!(author["spanId"], "0303030303030303");
    assert_eq!(
        time(author, "endTimeUnixNano") - time(author, "startTimeUnixNano"),
        500 * MS
    );
}

#[tokio::test]
async fn the_comparison_puts_the_delayed_span_first_against_a_trace_or_the_typical_one() {
    let store = Arc::new(Store::new(10));
    for (trace, authorize) in [(1, 500), (2, 1), (3, 2), (4, 1)] {
        get_blogs(&store, trace, authorize);
    }
    let (status, json) = get(
        &store,
        &format!("/api/analysis/compare?trace={}&baseline={}", id(1), id(2)),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let data = &json["data"];
    assert_eq!(data["trace"]["durationNanos"], 510 * MS);
    assert_eq!(data["baseline"]["traceId"], id(2));
    assert_eq!(data["baseline"]["durationNanos"], 11 * MS);
    let first = &data["rows"][0];
    assert_eq!(first["serviceName"], "author", "{json}");
    assert_eq!(
        first["path"],
        serde_json::json!([
            "blog: GET /blogs",
            "blog: POST /authorize",
            "author: POST /authorize"
        ])
    );
    assert_eq!(first["selfDeltaNanos"], 499 * MS);
    assert_eq!(first["trace"]["count"], 1);
    assert_eq!(first["baseline"]["selfNanos"], MS);

    let (status, json) = get(&store, &format!("/api/analysis/compare?trace={}", id(1))).await;
    assert_eq!(status, 200, "{json}");
    let data = &json["data"];
    assert_eq!(data["baseline"]["traceId"], Value::Null);
    assert_eq!(
        data["baseline"]["traces"], 3,
        "the trace itself is left out"
    );
    // Author's self times 1, 2, 1 ms: the median is 1ms.
    assert_eq!(data["rows"][0]["serviceName"], "author", "{json}");
    assert_eq!(data["rows"][0]["selfDeltaNanos"], 499 * MS);
    assert_eq!(data["baseline"]["durationNanos"], 11 * MS);
}

#[tokio::test]
async fn an_orphan_still_gets_a_critical_path_and_a_comparison() {
    let store = Arc::new(Store::new(10));
    store
        .ingest(export(
            "author",
            vec![span(5, 3, Some(2), "POST /authorize", 0, 7 * MS)],
        ))
        .unwrap();
    let (status, json) = get(&store, &format!("/api/analysis/critical-path/{}", id(5))).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["data"]["segments"][0]["spanId"], "0303030303030303");
    let (status, json) = get(&store, &format!("/api/analysis/compare?trace={}", id(5))).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["data"]["baseline"]["traces"], 0);
    assert_eq!(json["data"]["rows"][0]["baseline"], Value::Null);
    assert_eq!(
        json["data"]["rows"][0]["path"],
        serde_json::json!(["author: POST /authorize"])
    );
}

#[tokio::test]
async fn unknown_traces_are_404s_and_malformed_ids_400s_with_the_api_error_body() {
    let store = Arc::new(Store::new(10));
    get_blogs(&store, 1, 5);
    let cases = [
        (
            format!("/api/analysis/critical-path/{}", id(9)),
            404,
            "No traces found",
        ),
        (
            format!("/api/analysis/critical-path/{}", "x".repeat(33)),
            400,
            "malformed parameter trace_id",
        ),
        (
            format!("/api/analysis/compare?trace={}", id(9)),
            404,
            "No traces found: trace",
        ),
        (
            format!("/api/analysis/compare?trace={}&baseline={}", id(1), id(9)),
            404,
            "No traces found: baseline",
        ),
        (
            "/api/analysis/compare?trace=nope".to_owned(),
            400,
            "malformed parameter trace",
        ),
        (
            format!("/api/analysis/compare?trace={}&baseline=zz", id(1)),
            400,
            "malformed parameter baseline",
        ),
        ("/api/analysis/compare".to_owned(), 400, "trace is required"),
    ];
    for (path, status, message) in cases {
        let (got, json) = get(&store, &path).await;
        assert_eq!(got, status, "{path}: {json}");
        assert_eq!(json["error"]["httpCode"], status, "{path}: {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(message),
            "{path}: {json}"
        );
    }
}
