//! `/search`: the recent traces, newest first, filtered by service, operation, errors, duration
//! and how far back to look. The parameters are Jaeger UI's where it has them (`service`,
//! `operation`, `minDuration`, `maxDuration`, `lookback`, `limit`, `tags`), plus `errors`.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Section, display_service, layout, palette, service_chip, tags};
use crate::waterfall::Palette;
use crate::{
    store::{Query as StoreQuery, Store, Summary},
    units::{self, human, parse_go},
};

/// The lookbacks the form offers, as Jaeger UI's values.
const LOOKBACKS: [(&str, &str); 7] = [
    ("5m", "Last 5 minutes"),
    ("15m", "Last 15 minutes"),
    ("1h", "Last hour"),
    ("6h", "Last 6 hours"),
    ("24h", "Last day"),
    ("168h", "Last week"),
    ("all", "Everything kept"),
];

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Filters {
    service: String,
    operation: String,
    min_duration: String,
    max_duration: String,
    lookback: String,
    limit: String,
    errors: String,
    /// Jaeger UI's `tags`: a JSON object of strings, or the Tags field's `key=value` pairs.
    tags: String,
}

pub async fn page(
    State(store): State<Arc<Store>>,
    filters: Result<Query<Filters>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(filters) = filters.unwrap_or_default();
    let services = store.services();
    let operations = if filters.service.is_empty() {
        Vec::new()
    } else {
        let mut names: Vec<String> = store
            .operations(&filters.service, None)
            .into_iter()
            .map(|operation| operation.name)
            .collect();
        names.dedup();
        names
    };
    let (status, results) = match query(&filters) {
        Ok(query) => (StatusCode::OK, Ok(store.summaries(&query))),
        Err(problem) => (StatusCode::BAD_REQUEST, Err(problem)),
    };
    let body = html! {
        (form(&filters, &services, &operations))
        @match &results {
            Ok(summaries) => (list(summaries, &palette(&store))),
            Err(problem) => p.problem { (problem) },
        }
        form.filters.upload method="post" action="/import" enctype="multipart/form-data" {
            label { "Import a trace (as `traces export` prints it, or OTLP/JSON)"
                input type="file" name="file" accept=".json,application/json" required;
            }
            button type="submit" { "Import" }
        }
    };
    (status, layout("Search", Section::Search, body)).into_response()
}

fn query(filters: &Filters) -> Result<StoreQuery, String> {
    let duration = |text: &str, what: &str| -> Result<Option<u64>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        parse_go(text.trim())
            .map(|d| Some(nanos(d)))
            .map_err(|problem| format!("{what}: {problem} (write it like 100ms, 1.5s or 2m)"))
    };
    let start_min = match filters.lookback.as_str() {
        "" => Some(nanos(Duration::from_secs(3600))),
        "all" => None,
        lookback => Some(nanos(
            parse_go(lookback).map_err(|problem| format!("lookback: {problem}"))?,
        )),
    }
    .map(|lookback| now_nanos().saturating_sub(lookback));
    let limit = match filters.limit.trim() {
        "" => DEFAULT_LIMIT,
        text => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| format!("limit: {text:?} is not a number from 1 to {MAX_LIMIT}"))?,
    };
    let mut error = (!filters.errors.is_empty()).then_some(true);
    let mut attributes = Vec::new();
    for (key, value) in tags::parse(&filters.tags)? {
        if key == "error" {
            // The pseudo-attribute: the span's status, as the API reads it.
            error = Some(match value.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(format!("tags: error is true or false, not {value:?}")),
            });
        } else {
            attributes.push((key, value));
        }
    }
    Ok(StoreQuery {
        service: Some(filters.service.clone()).filter(|s| !s.is_empty()),
        operation: Some(filters.operation.clone()).filter(|o| !o.is_empty()),
        start_min,
        start_max: None,
        duration_min: duration(&filters.min_duration, "min duration")?,
        duration_max: duration(&filters.max_duration, "max duration")?,
        error,
        attributes,
        limit,
    })
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn now_nanos() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or_default()
}

fn form(filters: &Filters, services: &[String], operations: &[String]) -> Markup {
    let lookback = if filters.lookback.is_empty() {
        "1h"
    } else {
        &filters.lookback
    };
    html! {
        form.filters method="get" action="/search" {
            label { "Service"
                select name="service" {
                    option value="" { "All services" }
                    @for service in services {
                        option value=(service) selected[*service == filters.service] { (service) }
                    }
                }
            }
            label { "Operation"
                input type="text" name="operation" list="operations" value=(filters.operation)
                    placeholder="any";
                datalist #operations { @for operation in operations { option value=(operation); } }
            }
            label { "Min duration" input type="text" name="minDuration" value=(filters.min_duration) placeholder="e.g. 100ms"; }
            label { "Max duration" input type="text" name="maxDuration" value=(filters.max_duration) placeholder="e.g. 2s"; }
            label { "Lookback"
                select name="lookback" {
                    @for (value, text) in LOOKBACKS {
                        option value=(value) selected[value == lookback] { (text) }
                    }
                }
            }
            label { "Limit" input type="number" name="limit" min="1" max=(MAX_LIMIT)
                value=(if filters.limit.is_empty() { DEFAULT_LIMIT.to_string() } else { filters.limit.clone() }); }
            label { "Tags" input type="text" name="tags" size="40" value=(tags_field(&filters.tags))
                placeholder="http.response.status_code=503 error=true"; }
            label.check { input type="checkbox" name="errors" value="true" checked[!filters.errors.is_empty()]; "Errors only" }
            button type="submit" { "Find traces" }
        }
    }
}

/// The Tags field's text: the pairs of a JSON `tags` as `key=value`, anything else as typed.
fn tags_field(tags: &str) -> String {
    match tags::parse(tags) {
        Ok(pairs) if tags.trim_start().starts_with('{') => tags::format(&pairs),
        _ => tags.to_owned(),
    }
}

fn list(summaries: &[Summary], palette: &Palette) -> Markup {
    let longest = summaries
        .iter()
        .map(|s| s.duration)
        .max()
        .unwrap_or(0)
        .max(1);
    html! {
        @if summaries.is_empty() {
            p.empty { "No traces match. Traces appear here as soon as a service exports them." }
        } @else {
            h2 { (summaries.len()) " trace" @if summaries.len() != 1 { "s" } }
            table.list #traces {
                thead { tr {
                    th { "Trace" } th { "Started" } th.num { "Duration" } th.num { "Spans" }
                    th { "Services" } th { "Errors" }
                } }
                tbody {
                    @for summary in summaries {
                        tr.trace.failed[summary.errors > 0] {
                            td {
                                a.root href={"/trace/" (summary.trace_id)} {
                                    b { (display_service(&summary.root_service)) ": " } (summary.root_name)
                                }
                                br; span.mono { (summary.trace_id) }
                            }
                            td.mono.nowrap { (units::utc(summary.start)) }
                            td.num {
                                (human(summary.duration))
                                div.durbar style={"width:" (format!("{:.1}", summary.duration as f64 * 100.0 / longest as f64)) "%"} {}
                            }
                            td.num { (summary.spans) }
                            td { @for (service, spans) in &summary.services { (service_chip(palette, service, Some(*spans))) } }
                            td {
                                @if summary.errors > 0 {
                                    span.error-badge { (summary.errors) " error" @if summary.errors != 1 { "s" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
