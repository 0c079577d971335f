use axum::{body::Body, http::Request};
use http_body_util::BodyExt as _;
use opentelemetry_proto::tonic::trace::v1::{
    Status, span::SpanKind, status::StatusCode as SpanStatus,
};
use tower::ServiceExt as _;

use crate::{
    server::ui_router,
    store::Store,
    testing::{export, span},
};

const HOSTILE: &str = "<script>alert(1)</script>";

async fn page(store: Arc<Store>, uri: &str) -> (StatusCode, String) {
    let response = ui_router(store)
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

use super::*;

#[tokio::test]
async fn operations_show_their_figures_chart_and_links_with_names_escaped() {
    let store = Arc::new(Store::new(10));
    let end = u64::try_from(monitor::now_ms()).unwrap() * 1_000_000 - 1_000_000_000;
    let spans = (0..4u8)
        .map(|i| {
            let mut served = span(i + 1, 1, None, HOSTILE, end - 20_000_000, end);
            served.kind = SpanKind::Server as i32;
            if i == 0 {
                served.status = Some(Status {
                    code: SpanStatus::Error as i32,
                    message: String::new(),
                });
            }
            served
        })
        .collect();
    store.ingest(export("blog-service", spans)).unwrap();
    let (status, html) = page(store, "/monitor?lookback=5m").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(HOSTILE), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("<h2>blog-service</h2>"));
    assert!(html.contains("25.0%"), "{html}");
    assert!(html.contains("<svg class=\"chart\""));
    assert!(
        html.contains("class=\"errors\""),
        "the failed call is drawn"
    );
    assert!(html.contains(
        "href=\"/search?service=blog-service&amp;operation=%3Cscript%3Ealert%281%29%3C%2Fscript%3E&amp;lookback=5m&amp;errors=true\""
    ));
    assert!(html.contains("<b class=\"lookback\">5 minutes</b>"));
}

#[tokio::test]
async fn a_lookback_that_is_not_a_duration_is_a_400_that_says_so() {
    let (status, html) = page(Arc::new(Store::new(1)), "/monitor?lookback=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("lookback: "), "{html}");
    let (status, html) = page(Arc::new(Store::new(1)), "/monitor").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("No server spans ended in the last 1h"),
        "{html}"
    );
}
