//! A trace as people read it: its spans in tree order (each under its parent, siblings by start
//! time) with their depth, on the trace's time axis. The web page and the terminal both draw this.

use std::collections::{BTreeMap, HashMap, HashSet};

use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::{ResourceSpans, status::StatusCode},
};

use crate::otlp_json;

/// One trace, ready to draw.
#[derive(Debug, Clone)]
pub struct Waterfall {
    pub trace_id: String,
    /// Nanoseconds since the Unix epoch: the earliest start and the latest end of its spans.
    pub start: u64,
    pub end: u64,
    pub rows: Vec<Row>,
}

/// One span.
#[derive(Debug, Clone)]
pub struct Row {
    /// 0 for a root (or a span whose parent is missing), 1 for its children, ...
    pub depth: usize,
    pub service: String,
    pub name: String,
    /// OTLP's span kind number.
    pub kind: i32,
    pub span_id: String,
    /// Empty for a root.
    pub parent_span_id: String,
    pub start: u64,
    pub end: u64,
    pub error: bool,
    pub status_message: String,
    pub attributes: Vec<(String, String)>,
    pub events: Vec<Event>,
    /// Each linked span as `trace_id/span_id`.
    pub links: Vec<String>,
    pub resource: Vec<(String, String)>,
    /// The instrumentation scope's name and version.
    pub scope: String,
}

#[derive(Debug, Clone)]
pub struct Event {
    /// Nanoseconds since the Unix epoch.
    pub time: u64,
    pub name: String,
    pub attributes: Vec<(String, String)>,
}

impl Waterfall {
    /// The traces among these spans (a query answer may hold several), the latest start first.
    pub fn all(resource_spans: &[ResourceSpans]) -> Vec<Self> {
        let mut by_trace: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        for resource_spans in resource_spans {
            let resource = resource_spans
                .resource
                .as_ref()
                .map(|r| pairs(&r.attributes))
                .unwrap_or_default();
            let service = resource
                .iter()
                .find(|(key, _)| key == "service.name")
                .map(|(_, value)| value.clone())
                .unwrap_or_default();
            for scope_spans in &resource_spans.scope_spans {
                let scope = scope_spans
                    .scope
                    .as_ref()
                    .map(|s| format!("{} {}", s.name, s.version).trim().to_owned())
                    .unwrap_or_default();
                for span in &scope_spans.spans {
                    let status = span.status.clone().unwrap_or_default();
                    let row = Row {
                        depth: 0,
                        service: service.clone(),
                        name: span.name.clone(),
                        kind: span.kind,
                        span_id: hex::encode(&span.span_id),
                        // An all-zero parent is how some exporters say "none".
                        parent_span_id: if span.parent_span_id.iter().all(|b| *b == 0) {
                            String::new()
                        } else {
                            hex::encode(&span.parent_span_id)
                        },
                        start: span.start_time_unix_nano,
                        end: span.end_time_unix_nano.max(span.start_time_unix_nano),
                        error: status.code == StatusCode::Error as i32,
                        status_message: status.message,
                        attributes: pairs(&span.attributes),
                        events: span
                            .events
                            .iter()
                            .map(|event| Event {
                                time: event.time_unix_nano,
                                name: event.name.clone(),
                                attributes: pairs(&event.attributes),
                            })
                            .collect(),
                        links: span
                            .links
                            .iter()
                            .map(|link| {
                                format!(
                                    "{}/{}",
                                    hex::encode(&link.trace_id),
                                    hex::encode(&link.span_id)
                                )
                            })
                            .collect(),
                        resource: resource.clone(),
                        scope: scope.clone(),
                    };
                    by_trace
                        .entry(hex::encode(&span.trace_id))
                        .or_default()
                        .push(row);
                }
            }
        }
        let mut waterfalls: Vec<Self> = by_trace
            .into_iter()
            .map(|(trace_id, rows)| Self::new(trace_id, rows))
            .collect();
        waterfalls.sort_by_key(|waterfall| std::cmp::Reverse(waterfall.start));
        waterfalls
    }

    fn new(trace_id: String, rows: Vec<Row>) -> Self {
        let start = rows.iter().map(|row| row.start).min().unwrap_or_default();
        let end = rows.iter().map(|row| row.end).max().unwrap_or_default();
        Self {
            trace_id,
            start,
            end,
            rows: tree_order(rows),
        }
    }

    pub fn duration(&self) -> u64 {
        self.end - self.start
    }

    /// The first root span: what the trace is about.
    pub fn root(&self) -> Option<&Row> {
        self.rows.first()
    }

    /// The services, in the order their first span appears.
    pub fn services(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.rows
            .iter()
            .map(|row| row.service.as_str())
            .filter(|service| seen.insert(*service))
            .collect()
    }

    pub fn errors(&self) -> usize {
        self.rows.iter().filter(|row| row.error).count()
    }

    /// Where `time` falls on the trace's axis, from 0.0 (its start) to 1.0 (its end).
    pub fn position(&self, time: u64) -> f64 {
        match self.duration() {
            0 => 0.0,
            duration => time.saturating_sub(self.start).min(duration) as f64 / duration as f64,
        }
    }
}

/// Rows in depth-first order from the roots, each span's children by start time. A span whose
/// parent is not in the trace (not exported, or still on its way) is a root; so is any span
/// caught in a cycle of parents, which only a broken exporter would send.
fn tree_order(rows: Vec<Row>) -> Vec<Row> {
    let ids: HashSet<&str> = rows.iter().map(|row| row.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        if !row.parent_span_id.is_empty() && ids.contains(row.parent_span_id.as_str()) {
            children.entry(&row.parent_span_id).or_default().push(index);
        } else {
            roots.push(index);
        }
    }
    let by_start = |a: &usize, b: &usize| {
        (rows[*a].start, &rows[*a].name).cmp(&(rows[*b].start, &rows[*b].name))
    };
    roots.sort_by(by_start);
    for siblings in children.values_mut() {
        siblings.sort_by(by_start);
    }
    let mut order: Vec<(usize, usize)> = Vec::with_capacity(rows.len());
    let mut visited = vec![false; rows.len()];
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|root| (*root, 0)).collect();
    loop {
        while let Some((index, depth)) = stack.pop() {
            if std::mem::replace(&mut visited[index], true) {
                continue;
            }
            order.push((index, depth));
            if let Some(kids) = children.get(rows[index].span_id.as_str()) {
                stack.extend(kids.iter().rev().map(|kid| (*kid, depth + 1)));
            }
        }
        // Spans only reachable through a cycle: start again from the earliest of them.
        match (0..rows.len()).filter(|i| !visited[*i]).min_by(by_start) {
            Some(index) => stack.push((index, 0)),
            None => break,
        }
    }
    let mut slots: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(index, depth)| {
            let mut row = slots[index].take()?;
            row.depth = depth;
            Some(row)
        })
        .collect()
}

/// Attributes as text, in their order.
pub(crate) fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(display).unwrap_or_default(),
            )
        })
        .collect()
}

/// An attribute's value as text: strings as they are, arrays and maps JSON-like.
pub fn display(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(text)) => text.clone(),
        Some(Value::BoolValue(flag)) => flag.to_string(),
        Some(Value::IntValue(integer)) => integer.to_string(),
        Some(Value::DoubleValue(double)) => double.to_string(),
        Some(Value::ArrayValue(array)) => {
            let items: Vec<String> = array.values.iter().map(nested).collect();
            format!("[{}]", items.join(", "))
        }
        Some(Value::KvlistValue(list)) => {
            let items: Vec<String> = list
                .values
                .iter()
                .map(|kv| {
                    let value = kv.value.as_ref().map(nested).unwrap_or_default();
                    format!("{:?}: {value}", kv.key)
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Some(Value::BytesValue(bytes)) => otlp_json::base64(bytes),
        None => String::new(),
    }
}

/// How many colours services are drawn in, on the web and in the terminal.
pub const PALETTE_SIZE: usize = 9;

/// Colours for a set of services, given out in the order of their names: each service its own
/// colour while there are no more services than colours, and the same set of services the same
/// colours on every page and in every run.
pub struct Palette {
    services: Vec<String>,
}

impl Palette {
    pub fn new<'a>(services: impl IntoIterator<Item = &'a str>) -> Self {
        let mut services: Vec<String> = services.into_iter().map(str::to_owned).collect();
        services.sort();
        services.dedup();
        Self { services }
    }

    /// The palette index of a service's colour.
    pub fn colour(&self, service: &str) -> usize {
        match self
            .services
            .binary_search_by(|known| known.as_str().cmp(service))
        {
            Ok(rank) => rank % PALETTE_SIZE,
            // Not in the set: FNV-1a of the name, stable at least.
            Err(_) => {
                let hash = service
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
                    });
                (hash % PALETTE_SIZE as u64) as usize
            }
        }
    }
}

/// A value inside an array or map: strings quoted, so `["a, b"]` and `["a", "b"]` differ.
fn nested(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(text)) => format!("{text:?}"),
        _ => display(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{export, span};

    fn rows(spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>) -> Vec<(usize, String)> {
        let request = export("svc", spans);
        let waterfalls = Waterfall::all(&request.resource_spans);
        waterfalls[0]
            .rows
            .iter()
            .map(|row| (row.depth, row.name.clone()))
            .collect()
    }

    #[test]
    fn spans_nest_under_their_parents_in_start_order() {
        let order = rows(vec![
            span(1, 4, Some(1), "second child", 30, 40),
            span(1, 2, Some(1), "first child", 10, 20),
            span(1, 3, Some(2), "grandchild", 12, 18),
            span(1, 1, None, "root", 0, 50),
            span(1, 9, Some(8), "orphan", 5, 6),
        ]);
        let expected = [
            (0, "root"),
            (1, "first child"),
            (2, "grandchild"),
            (1, "second child"),
            (0, "orphan"),
        ];
        let expected: Vec<(usize, String)> =
            expected.iter().map(|(d, n)| (*d, n.to_string())).collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn a_cycle_of_parents_still_shows_every_span_once() {
        let order = rows(vec![
            span(1, 1, Some(2), "a", 0, 10),
            span(1, 2, Some(1), "b", 1, 9),
        ]);
        assert_eq!(order, [(0, "a".to_owned()), (1, "b".to_owned())]);
    }

    #[test]
    fn values_read_as_text() {
        let value = |v| AnyValue { value: Some(v) };
        assert_eq!(display(&value(Value::IntValue(201))), "201");
        let array = Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
            values: vec![
                value(Value::StringValue("a, b".into())),
                value(Value::BoolValue(false)),
            ],
        });
        assert_eq!(display(&value(array)), r#"["a, b", false]"#);
    }
}
