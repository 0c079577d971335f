//! This viewer's own analyses, beside Jaeger's API (Jaeger has no such endpoints):
//!
//! - `GET /api/analysis/critical-path/{trace_id}`: the root span's critical path.
//! - `GET /api/analysis/compare?trace=ID[&baseline=ID]`: the trace beside another, or beside the
//!   typical trace of its kind.
//!
//! Times since the epoch (`...UnixNano`) are decimal strings, as OTLP/JSON writes them (they are
//! beyond what JavaScript's numbers hold exactly); durations (`...Nanos`) are numbers.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::QueryRejection},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use super::{ApiError, Params};
use crate::{
    analysis::{
        Tree,
        compare::{self, Profile, Row, Stats},
        critical_path::critical_path,
    },
    ids::TraceId,
    store::Store,
};

/// How many stored traces of its kind the typical trace is made of, at most.
pub const TYPICAL_TRACES: usize = 100;

pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route(
            "/api/analysis/critical-path/{trace_id}",
            get(critical_path_answer),
        )
        .route("/api/analysis/compare", get(compare_answer))
        .with_state(store)
}

async fn critical_path_answer(
    State(store): State<Arc<Store>>,
    Path(trace_id): Path<String>,
) -> Result<Response, ApiError> {
    let trace_id = parse(&trace_id, "trace_id")?;
    let tree = tree(&store, trace_id, "trace")?;
    let segments: Vec<Value> = critical_path(&tree)
        .into_iter()
        .map(|segment| {
            let span = &tree.spans[segment.span];
            json!({
                "spanId": span.span_id.to_string(),
                "serviceName": &*span.service,
                "operationName": &*span.name,
                "startTimeUnixNano": segment.start.to_string(),
                "endTimeUnixNano": segment.end.to_string(),
            })
        })
        .collect();
    Ok(Json(json!({"data": {
        "traceId": trace_id.to_string(),
        "durationNanos": tree.duration(),
        "segments": segments,
    }}))
    .into_response())
}

/// A comparison, as the API and the `/compare` page read it.
pub struct Comparison {
    pub trace: (TraceId, u64),
    /// `None`: the typical trace.
    pub baseline: (Option<TraceId>, u64),
    /// How many traces the baseline is made of: 1 for a chosen trace.
    pub baseline_traces: usize,
    pub rows: Vec<Row>,
}

/// The comparison of `trace` with `baseline`, or with the typical trace of its kind: the last
/// [`TYPICAL_TRACES`] stored traces (at most) whose root span has the same service and name.
/// An unknown id is a 404 that says which.
pub fn comparison(
    store: &Store,
    trace: TraceId,
    baseline: Option<TraceId>,
) -> Result<Comparison, ApiError> {
    let tree = tree(store, trace, "trace")?;
    let profile = Profile::of(&tree);
    let (typical, count) = match baseline {
        Some(baseline) => (Profile::of(&self::tree(store, baseline, "baseline")?), 1),
        None => {
            let profiles: Vec<Profile> = match tree.root() {
                Some(root) => {
                    let root = &tree.spans[root];
                    store
                        .recent_of_kind(&root.service, &root.name, trace, TYPICAL_TRACES)
                        .into_iter()
                        .map(|spans| Profile::of(&Tree::new(spans)))
                        .collect()
                }
                None => Vec::new(),
            };
            (Profile::typical(&profiles), profiles.len())
        }
    };
    Ok(Comparison {
        trace: (trace, profile.duration),
        baseline: (baseline, typical.duration),
        baseline_traces: count,
        rows: compare::compare(&profile, &typical),
    })
}

async fn compare_answer(
    State(store): State<Arc<Store>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = Params::read(query)?;
    let trace = params
        .get("trace")
        .ok_or_else(|| ApiError::bad_request("trace is required: compare?trace=ID"))?;
    let trace = parse(trace, "trace")?;
    let baseline = params
        .get("baseline")
        .map(|baseline| parse(baseline, "baseline"))
        .transpose()?;
    let comparison = comparison(&store, trace, baseline)?;
    let stats = |stats: Option<Stats>| {
        stats.map(
            |s| json!({"count": s.count, "durationNanos": s.duration, "selfNanos": s.self_time}),
        )
    };
    let rows: Vec<Value> = comparison
        .rows
        .iter()
        .map(|row| {
            json!({
                "serviceName": row.service(),
                "operationName": row.operation(),
                "path": row.steps(),
                "trace": stats(row.trace),
                "baseline": stats(row.baseline),
                "selfDeltaNanos": row.self_delta,
            })
        })
        .collect();
    Ok(Json(json!({"data": {
        "trace": {
            "traceId": comparison.trace.0.to_string(),
            "durationNanos": comparison.trace.1,
        },
        "baseline": {
            "traceId": comparison.baseline.0.map(|id| id.to_string()),
            "durationNanos": comparison.baseline.1,
            "traces": comparison.baseline_traces,
        },
        "rows": rows,
    }}))
    .into_response())
}

fn parse(text: &str, parameter: &str) -> Result<TraceId, ApiError> {
    TraceId::parse(text).map_err(|problem| ApiError::malformed(parameter, problem))
}

fn tree(store: &Store, trace_id: TraceId, what: &str) -> Result<Tree, ApiError> {
    store
        .analysis_spans(trace_id)
        .map(Tree::new)
        .ok_or_else(|| ApiError::not_found(format!("No traces found: {what} {trace_id}")))
}

#[cfg(test)]
mod tests;
