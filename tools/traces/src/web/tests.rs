use std::sync::Arc;

use axum::{body::Body, http::Request};
use tower::ServiceExt as _;

use crate::{
    server::ui_router,
    store::Store,
    testing::{self, attribute, export, span},
};

const HOSTILE: &str = "<script>alert(1)</script>";

/// Nanoseconds since the epoch a minute ago: inside every page's default window.
fn recent() -> u64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    u64::try_from(now).unwrap() - 60_000_000_000
}

fn store_with_hostile_spans() -> Arc<Store> {
    let store = Arc::new(Store::new(10));
    let start = recent();
    let mut root = span(1, 1, None, HOSTILE, start, start + 5_000_000);
    root.attributes = vec![attribute("note", "\"><img src=x onerror=alert(2)>")];
    store.ingest(export("blog-service", vec![root])).unwrap();
    store
        .ingest(export(
            HOSTILE,
            vec![span(
                1,
                2,
                Some(1),
                "child",
                start + 1_000_000,
                start + 2_000_000,
            )],
        ))
        .unwrap();
    store
}

async fn get(store: &Arc<Store>, path: &str) -> (u16, String, axum::http::HeaderMap) {
    let (status, headers, body) = testing::get(ui_router(Arc::clone(store)), path).await;
    (status, String::from_utf8(body.to_vec()).unwrap(), headers)
}

#[tokio::test]
async fn span_data_is_text_on_every_page() {
    let store = store_with_hostile_spans();
    for path in [
        "/trace/01010101010101010101010101010101",
        "/search",
        "/dependencies",
        "/compare?trace=01010101010101010101010101010101",
    ] {
        let (status, html, headers) = get(&store, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(
            !html.contains("<script"),
            "{path} carries a script element:\n{html}"
        );
        assert!(
            !html.contains("<img"),
            "{path} carries an injected element:\n{html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path} lost the name:\n{html}"
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
    }
    let (_, trace, _) = get(&store, "/trace/01010101010101010101010101010101").await;
    assert!(
        trace.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{trace}"
    );
}

#[tokio::test]
async fn unknown_and_malformed_trace_ids_get_pages_that_say_so() {
    let store = store_with_hostile_spans();
    let (status, html, _) = get(&store, "/trace/02020202020202020202020202020202").await;
    assert_eq!(status, 404);
    assert!(html.contains("Trace not found"), "{html}");
    let (status, html, _) = get(&store, &format!("/trace/{}", "a".repeat(33))).await;
    assert_eq!(status, 400);
    assert!(html.contains("Not a trace id"), "{html}");
}

#[tokio::test]
async fn the_search_page_filters_and_reports_bad_filters() {
    let store = store_with_hostile_spans();
    let (_, html, _) = get(&store, "/search?service=blog-service&minDuration=1ms").await;
    assert!(html.contains("1 trace<"), "{html}");
    let (_, html, _) = get(&store, "/search?minDuration=1h").await;
    assert!(html.contains("No traces match"), "{html}");
    let (status, html, _) = get(&store, "/search?minDuration=soon").await;
    assert_eq!(status, 400);
    assert!(html.contains("min duration"), "{html}");
}

#[tokio::test]
async fn the_search_page_finds_traces_by_tags() {
    let store = store_with_hostile_spans();
    let hostile = "%5C%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E";
    // Jaeger UI's URL parameter: a JSON object of strings.
    let (_, html, _) = get(
        &store,
        &format!("/search?tags=%7B%22note%22%3A%22{hostile}%22%7D"),
    )
    .await;
    assert!(html.contains("1 trace<"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    // Shown in the field as a quoted pair, escaped.
    assert!(
        html.contains(r#"value="note=&quot;\&quot;&gt;&lt;img src=x onerror=alert(2)&gt;&quot;""#),
        "{html}"
    );
    // The field: pairs, quotes around a value with spaces.
    let (_, html, _) = get(
        &store,
        "/search?tags=service.name%3Dblog-service%20error%3Dfalse",
    )
    .await;
    assert!(html.contains("1 trace<"), "{html}");
    let (_, html, _) = get(&store, "/search?tags=note%3D%22a%20b%22").await;
    assert!(html.contains("No traces match"), "{html}");
    let (status, html, _) = get(&store, "/search?tags=%3Cb%3Eoops").await;
    assert_eq!(status, 400);
    assert!(
        html.contains("&quot;&lt;b&gt;oops&quot; is not key=value"),
        "{html}"
    );
    assert!(!html.contains("<b>oops"), "{html}");
}

#[tokio::test]
async fn the_dependencies_page_draws_the_calls() {
    let store = store_with_hostile_spans();
    let (_, html, _) = get(&store, "/dependencies").await;
    assert!(html.contains("<svg"), "{html}");
    assert!(html.contains("1 call<"), "{html}");
}

#[tokio::test]
async fn ui_find_opens_and_marks_the_spans_it_names() {
    let store = store_with_hostile_spans();
    let trace = "/trace/01010101010101010101010101010101";
    let (_, html, _) = get(&store, trace).await;
    assert!(!html.contains(" open"), "every span starts closed:\n{html}");
    for find in ["0202020202020202", "CHILD"] {
        let (_, html, _) = get(&store, &format!("{trace}?uiFind={find}")).await;
        assert_eq!(html.matches(" open>").count(), 1, "{find}:\n{html}");
        assert!(
            html.contains(r#"found" data-span-id="0202020202020202" open>"#),
            "{find}:\n{html}"
        );
    }
}

#[tokio::test]
async fn the_trace_page_highlights_the_critical_path_and_names_orphans() {
    let store = store_with_hostile_spans();
    let start = recent();
    store
        .ingest(export(
            "author",
            vec![span(1, 3, Some(9), "lost", start, start + 1_000_000)],
        ))
        .unwrap();
    let (_, html, _) = get(&store, "/trace/01010101010101010101010101010101").await;
    // The root and its child are on the path: the child's piece is one, the root's two.
    assert_eq!(html.matches(r#"<span class="cp""#).count(), 3, "{html}");
    assert!(
        html.contains(r#"critical" data-span-id="0202020202020202""#),
        "{html}"
    );
    assert!(
        !html.contains(r#"critical" data-span-id="0303030303030303""#),
        "an orphan is not on the root's path:\n{html}"
    );
    assert!(
        html.contains("Broken trace: 1 span without its parent."),
        "{html}"
    );
    assert!(
        html.contains(r#"missing parent <code class="missing-parent">0909090909090909</code>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="/compare?trace=01010101010101010101010101010101""#),
        "{html}"
    );
}

#[tokio::test]
async fn the_compare_page_puts_what_changed_most_first_and_marks_one_sided_spans() {
    let store = Arc::new(Store::new(10));
    let start = recent();
    for (trace, slow) in [(1u8, 400_000_000), (2, 0)] {
        let mut spans = vec![
            span(
                trace,
                1,
                None,
                "GET /blogs",
                start,
                start + 10_000_000 + slow,
            ),
            span(
                trace,
                2,
                Some(1),
                "find",
                start + 1_000_000,
                start + 2_000_000,
            ),
        ];
        if trace == 2 {
            spans.push(span(
                trace,
                3,
                Some(1),
                "cache",
                start + 3_000_000,
                start + 4_000_000,
            ));
        }
        store.ingest(export("blog", spans)).unwrap();
    }
    let (status, html, _) = get(
        &store,
        "/compare?trace=01010101010101010101010101010101&baseline=02020202020202020202020202020202",
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let root = html.find("GET /blogs</span>").expect(&html);
    let cache = html.find("cache</span>").expect(&html);
    assert!(root < cache, "the largest change comes first:\n{html}");
    assert!(html.contains("+401ms"), "{html}");
    assert!(html.contains("only in the baseline"), "{html}");
    assert!(
        html.contains(r#"class="delta slower" style="left:50%;width:50.000%""#),
        "{html}"
    );

    let (status, html, _) = get(&store, "/compare?trace=01010101010101010101010101010101").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(r#"<b id="typical-count">1</b> stored trace of"#),
        "{html}"
    );

    let (status, _, _) = get(&store, "/compare?trace=09090909090909090909090909090909").await;
    assert_eq!(status, 404);
    let (status, html, _) = get(
        &store,
        "/compare?trace=01010101010101010101010101010101&baseline=x",
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("Not a trace id"), "{html}");
}

#[tokio::test]
async fn the_pages_follow_the_system_s_dark_mode() {
    let store = store_with_hostile_spans();
    let (_, html, _) = get(&store, "/search").await;
    assert!(html.contains("color-scheme: light dark"), "{html}");
    assert!(
        html.contains("@media (prefers-color-scheme: dark)"),
        "{html}"
    );
}

#[tokio::test]
async fn a_span_link_opens_the_linked_trace_at_the_linked_span() {
    let store = Arc::new(Store::new(10));
    let start = recent();
    let mut linking = span(1, 1, None, "consume", start, start + 1_000_000);
    linking.links = vec![opentelemetry_proto::tonic::trace::v1::span::Link {
        trace_id: vec![2; 16],
        span_id: vec![3; 8],
        ..Default::default()
    }];
    store.ingest(export("worker", vec![linking])).unwrap();
    let (_, html, _) = get(&store, "/trace/01010101010101010101010101010101").await;
    assert!(
        html.contains(r#"href="/trace/02020202020202020202020202020202?uiFind=0303030303030303""#),
        "{html}"
    );
}

#[tokio::test]
async fn the_search_page_uploads_a_trace_and_refuses_a_cross_site_upload() {
    let store = Arc::new(Store::new(10));
    let (_, html, _) = get(&store, "/search").await;
    assert!(
        html.contains(r#"action="/import" enctype="multipart/form-data""#),
        "{html}"
    );
    let request = export("blog", vec![span(7, 1, None, "GET /blogs", 0, 5)]);
    let document = crate::otlp_json::encode_result(&request.resource_spans);
    let mut body =
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.json\"\r\n\r\n"
            .to_vec();
    body.extend_from_slice(&document);
    body.extend_from_slice(b"\r\n--B--\r\n");
    let upload = |site: &'static str| {
        Request::post("/import")
            .header("content-type", "multipart/form-data; boundary=B")
            .header("sec-fetch-site", site)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let response = ui_router(Arc::clone(&store))
        .oneshot(upload("cross-site"))
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(store.is_empty());
    let response = ui_router(Arc::clone(&store))
        .oneshot(upload("same-origin"))
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/trace/07070707070707070707070707070707"
    );
}

#[tokio::test]
async fn records_are_under_their_span_as_text_and_the_others_at_the_end() {
    let store = store_with_hostile_spans();
    let start = recent();
    store
        .ingest_logs(crate::testing::logs(
            "blog-service",
            vec![
                crate::testing::record(1, 2, start + 1_500_000, 17, HOSTILE),
                crate::testing::record(1, 9, start + 3_000_000, 9, "in a span not received"),
            ],
        ))
        .unwrap();
    let (status, page, _) = get(&store, "/trace/01010101010101010101010101010101").await;
    assert_eq!(status, 200);
    assert!(
        !page.contains(HOSTILE),
        "a record's body reached the page as markup"
    );
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let child_row = page.find(r#"data-span-id="0202020202020202""#).unwrap();
    let record = page
        .find(r#"class="record sev-ERROR" data-span-id="0202020202020202""#)
        .unwrap();
    let elsewhere = page.find(r#"id="other-records""#).unwrap();
    let other = page.find("in a span not received").unwrap();
    assert!(child_row < record && record < elsewhere && elsewhere < other);
}
