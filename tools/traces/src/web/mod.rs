//! Web pages at Jaeger UI's paths (`/search`, `/trace/{id}`, `/dependencies`, `/monitor`), and `/compare`
//! (a trace beside a baseline, which Jaeger UI does not have), rendered on the
//! server with maud, which escapes every value it is given: a span named
//! `<script>alert(1)</script>` is text on the page. The pages need nothing from the network (no
//! scripts at all, styles inline), and their Content-Security-Policy forbids scripts besides.

mod compare;
mod dependencies;
mod logs;
mod monitor;
mod search;
mod tags;
mod trace;
mod upload;

use std::sync::Arc;

use axum::{
    Router,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::{store::Store, waterfall::Palette};

pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/search") }))
        .route("/search", get(search::page))
        .route(
            "/import",
            axum::routing::post(upload::import).layer(axum::extract::DefaultBodyLimit::max(
                crate::receiver::MAX_EXPORT_BYTES + 64 * 1024,
            )),
        )
        .route("/trace/{trace_id}", get(trace::page))
        .route("/compare", get(compare::page))
        .route("/dependencies", get(dependencies::page))
        .route("/monitor", get(monitor::page))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(store)
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; \
             frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Search,
    Trace,
    Dependencies,
    Monitor,
}

fn layout(title: &str, section: Section, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · traces" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header.top {
                    a.brand href="/search" { "traces" }
                    nav {
                        a.current[section == Section::Search] href="/search" { "Search" }
                        a.current[section == Section::Dependencies] href="/dependencies" { "Dependencies" }
                        a.current[section == Section::Monitor] href="/monitor" { "Monitor" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page that says what went wrong, with its status.
/// The `lookback` parameter of the pages that show a span of time (`15m`, `24h`, ...). A query
/// that does not parse is ignored, as a missing one is: the page's own default applies.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Lookback {
    lookback: String,
}

impl Lookback {
    fn from_query(
        query: Result<axum::extract::Query<Self>, axum::extract::rejection::QueryRejection>,
    ) -> Self {
        query.map(|query| query.0).unwrap_or_default()
    }

    /// What was asked for, or `default`.
    fn or<'a>(&'a self, default: &'a str) -> &'a str {
        if self.lookback.is_empty() {
            default
        } else {
            &self.lookback
        }
    }
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let page = layout(
        title,
        Section::Trace,
        html! {
            h1 { (title) }
            p.problem { (detail) }
            p { a href="/search" { "Search recent traces" } }
        },
    );
    (status, page).into_response()
}

/// The colours of the services the store holds: the same on every page.
fn palette(store: &Store) -> Palette {
    let services = store.services();
    Palette::new(services.iter().map(String::as_str))
}

/// A service's name with its colour.
fn service_chip(palette: &Palette, service: &str, count: Option<usize>) -> Markup {
    html! {
        span class={"chip c" (palette.colour(service))} {
            (display_service(service))
            @if let Some(count) = count { " " span.count { (count) } }
        }
    }
}

/// A span without `service.name` belongs to no named service.
fn display_service(service: &str) -> &str {
    if service.is_empty() {
        "unknown service"
    } else {
        service
    }
}

const CSS: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-soft: #f6f8fa; --error: #cf222e;
  --c0: #4e79a7; --c1: #f28e2b; --c2: #59a14f; --c3: #b07aa1; --c4: #76b7b2; --c5: #edc948;
  --c6: #9c755f; --c7: #ff9da7; --c8: #8c8c8c;
  --cp: #1f2328; --warn: #9a6700; --slower: #cf222e; --faster: #1a7f37; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); }
header.top { display: flex; align-items: center; gap: 24px; padding: 10px 20px; background: #24292f; }
header.top a { color: #e6edf3; text-decoration: none; }
.brand { font-weight: 700; font-size: 16px; letter-spacing: .02em; }
nav { display: flex; gap: 16px; }
nav a { opacity: .75; padding: 2px 0; } nav a.current { opacity: 1; border-bottom: 2px solid #e6edf3; }
main { padding: 16px 20px 40px; }
h1 { font-size: 20px; margin: 4px 0 6px; }
h2 { font-size: 15px; margin: 18px 0 8px; }
a { color: #0969da; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.meta { color: var(--muted); margin: 0 0 12px; display: flex; flex-wrap: wrap; gap: 4px 18px; }
.meta b { color: var(--fg); font-weight: 600; }
.problem { padding: 10px 12px; border-left: 4px solid var(--error); background: #ffebe9; }
.chip { display: inline-block; padding: 0 8px; margin: 1px 4px 1px 0; border-radius: 10px; font-size: 12px;
  border: 1px solid var(--line); background: #fff; white-space: nowrap; }
.chip::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
  margin-right: 5px; background: var(--c); vertical-align: 0; }
.chip .count { color: var(--muted); }
.c0 { --c: var(--c0); } .c1 { --c: var(--c1); } .c2 { --c: var(--c2); } .c3 { --c: var(--c3); }
.c4 { --c: var(--c4); } .c5 { --c: var(--c5); } .c6 { --c: var(--c6); } .c7 { --c: var(--c7); } .c8 { --c: var(--c8); }
.error-badge { color: #fff; background: var(--error); border-radius: 10px; padding: 0 7px; font-size: 12px; white-space: nowrap; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: end; padding: 12px;
  background: var(--bg-soft); border: 1px solid var(--line); border-radius: 6px; margin-bottom: 14px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 3px; }
form.filters label.check { flex-direction: row; align-items: center; gap: 6px; color: var(--fg); font-size: 14px; padding-bottom: 5px; }
input, select, button { font: inherit; padding: 4px 6px; border: 1px solid var(--line); border-radius: 5px; background: #fff; }
input[type=text] { width: 150px; } input[type=number] { width: 80px; }
button { background: #1f883d; color: #fff; border-color: #1a7f37; padding: 5px 14px; cursor: pointer; }
table.list { border-collapse: collapse; width: 100%; }
table.list th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line); padding: 6px 8px; }
table.list td { border-bottom: 1px solid var(--line); padding: 7px 8px; vertical-align: top; }
table.list tr.failed td:first-child { box-shadow: inset 3px 0 var(--error); }
.durbar { height: 6px; background: #afb8c1; border-radius: 3px; margin-top: 4px; min-width: 2px; }
.nowrap { white-space: nowrap; }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.empty { color: var(--muted); padding: 20px 0; }
.legend { margin: 0 0 10px; }
.waterfall { border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
.axis, .span > summary { display: grid; grid-template-columns: minmax(260px, 34%) 1fr; }
.axis { background: var(--bg-soft); border-bottom: 1px solid var(--line); font-size: 12px; color: var(--muted); }
.axis .name { padding: 6px 10px; }
.ticks { position: relative; height: 30px; }
.ticks span { position: absolute; top: 7px; transform: translateX(-50%); white-space: nowrap; }
.ticks span:first-child { transform: none; margin-left: 4px; } .ticks span:last-child { transform: translateX(-100%); margin-left: -4px; }
.span { border-bottom: 1px solid #eaeef2; }
.span > summary { list-style: none; cursor: pointer; }
.span > summary::-webkit-details-marker { display: none; }
.span > summary:hover, .span[open] > summary { background: #f3f6fa; }
.span.found > summary { background: #fff8c5; }
.label { padding: 4px 10px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; border-right: 1px solid #eaeef2; }
.label .svc { font-weight: 600; margin-right: 6px; }
.label::before { content: "▸"; display: inline-block; width: 12px; color: var(--muted); }
.span[open] > summary .label::before { content: "▾"; }
.label .dot { display: inline-block; width: 9px; height: 9px; border-radius: 2px; background: var(--c); margin-right: 6px; }
.failed-mark { color: var(--error); font-weight: 700; margin-left: 6px; }
.track { position: relative; min-height: 26px;
  background: linear-gradient(to right, #eaeef2 1px, transparent 1px) 0 0 / 25% 100%; }
.bar { position: absolute; top: 7px; height: 12px; min-width: 2px; border-radius: 2px; background: var(--c); }
.bar.failed { outline: 2px solid var(--error); outline-offset: 1px; }
.took { position: absolute; top: 5px; font-size: 11.5px; color: #3d444d; white-space: nowrap;
  text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff; }
.detail { padding: 8px 14px 14px; background: #fbfcfd; border-top: 1px dashed var(--line); }
.detail p { margin: 6px 0 2px; }
.detail h3 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 10px 0 4px; }
table.kv { border-collapse: collapse; font-size: 12.5px; }
table.kv td { padding: 2px 12px 2px 0; vertical-align: top; }
table.kv td:first-child { color: var(--muted); white-space: nowrap; }
table.kv td:last-child { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
svg.graph { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
svg.graph .node rect { fill: #fff; stroke: var(--c); stroke-width: 2.5; }
svg.graph .node text { font-size: 13px; font-weight: 600; fill: var(--fg); }
svg.graph .edge path { fill: none; stroke: #8c959f; stroke-width: 1.6; }
svg.graph .edge text { font-size: 12px; fill: var(--fg); paint-order: stroke; stroke: #fff; stroke-width: 4px; }
.span.critical .op { font-weight: 600; }
.cp { position: absolute; top: 11px; height: 4px; min-width: 1px; background: var(--cp); }
.critical-key { margin-left: 10px; color: var(--muted); font-size: 12px; white-space: nowrap; }
.cp-sample { display: inline-block; width: 22px; height: 4px; background: var(--cp); margin-right: 5px; vertical-align: middle; }
.orphan-mark { color: var(--warn); border: 1px solid var(--warn); border-radius: 8px; padding: 0 5px; margin-left: 6px; font-size: 11px; }
#orphans { margin: 0 0 10px; } #orphans ul { margin: 6px 0 0; padding-left: 20px; }
table.compare td { vertical-align: middle; }
table.compare .callers { color: var(--muted); font-size: 12px; }
table.compare .op { margin-left: 2px; }
table.compare .count, table.compare .absent { color: var(--muted); }
.side-mark { font-size: 11px; border-radius: 8px; padding: 0 6px; border: 1px solid var(--line); color: var(--muted); white-space: nowrap; }
tr.only-trace .side-mark { color: var(--slower); border-color: var(--slower); }
tr.only-baseline .side-mark { color: var(--faster); border-color: var(--faster); }
th.deltas { display: flex; justify-content: space-between; min-width: 220px; }
td.deltas { position: relative; min-width: 220px; background: linear-gradient(to right, transparent calc(50% - 1px), var(--line) calc(50% - 1px), var(--line) 50%, transparent 50%); }
.delta { position: absolute; top: 30%; height: 40%; min-width: 1px; border-radius: 2px; }
.delta.slower { background: var(--slower); } .delta.faster { background: var(--faster); }
.records { font-size: 12.5px; border-bottom: 1px solid #eaeef2; }
.record > summary { list-style: none; cursor: pointer; padding: 2px 10px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.record > summary::-webkit-details-marker { display: none; }
.record[open] > summary { white-space: normal; }
.record .sev { display: inline-block; min-width: 48px; font-weight: 700; font-size: 11px; color: var(--sev); }
.record .at { color: var(--muted); margin-right: 8px; }
.record .svc { font-weight: 600; margin-right: 6px; }
.record .body { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; }
.record table.kv { margin: 2px 0 6px 58px; }
.record { --sev: var(--muted); border-left: 3px solid var(--sev); margin: 1px 0; }
.sev-INFO { --sev: #0969da; } .sev-WARN { --sev: var(--warn); }
.sev-ERROR, .sev-FATAL { --sev: var(--error); background: #fff5f5; }
#other-records { margin-top: 18px; }
:root { color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --bg-soft: #151b23; --error: #f85149;
    --cp: #f0f6fc; --warn: #d29922; --slower: #f85149; --faster: #3fb950; }
  body { background: #0d1117; }
  header.top { background: #010409; border-bottom: 1px solid var(--line); }
  a { color: #4493f8; }
  .problem { background: #2d1214; }
  .chip, input, select, .detail { background: #151b23; color: var(--fg); }
  .durbar { background: #656c76; }
  .span { border-bottom-color: #21262d; } .label { border-right-color: #21262d; }
  .span > summary:hover, .span[open] > summary { background: #1c2128; }
  .span.found > summary { background: #3b2e0a; }
  .track { background: linear-gradient(to right, #21262d 1px, transparent 1px) 0 0 / 25% 100%; }
  .took { color: #d1d7e0; text-shadow: 0 0 3px #0d1117, 0 0 3px #0d1117, 0 0 2px #0d1117; }
  svg.graph { background: #0d1117; }
  svg.graph .node rect { fill: #151b23; }
  svg.graph .edge text { stroke: #0d1117; }
  .records { border-bottom-color: #21262d; }
  .sev-INFO { --sev: #4493f8; } .sev-ERROR, .sev-FATAL { background: #25171c; }
}
"#;

#[cfg(test)]
mod tests;
