//! `/dependencies`: the service graph of the recent traces as an SVG, callers left of the
//! services they call, each edge labelled with its number of calls; and the same as a table.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use time::OffsetDateTime;

use super::{Lookback, Section, layout, palette, service_chip};
use crate::{
    store::{Dependency, Store},
    units::parse_go,
    waterfall::Palette,
};

const LOOKBACKS: [(&str, &str); 5] = [
    ("1h", "Last hour"),
    ("6h", "Last 6 hours"),
    ("24h", "Last day"),
    ("168h", "Last week"),
    ("all", "Everything kept"),
];

/// Geometry of the drawing, in SVG user units.
const NODE_WIDTH: f64 = 180.0;
const NODE_HEIGHT: f64 = 40.0;
const COLUMN_GAP: f64 = 190.0;
const ROW_GAP: f64 = 36.0;
const MARGIN: f64 = 24.0;

pub async fn page(
    State(store): State<Arc<Store>>,
    query: Result<Query<Lookback>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let asked = Lookback::from_query(query);
    let lookback = asked.or("24h");
    let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or_default();
    let from = match lookback {
        "all" => Ok(0),
        text => parse_go(text)
            .map(|d| now.saturating_sub(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))),
    };
    let (status, content) = match from {
        Ok(from) => (
            StatusCode::OK,
            graph(&store.dependencies(from, u64::MAX), &palette(&store)),
        ),
        Err(problem) => (
            StatusCode::BAD_REQUEST,
            html! { p.problem { "lookback: " (problem) } },
        ),
    };
    let body = html! {
        h1 { "Service dependencies" }
        form.filters method="get" action="/dependencies" {
            label { "Lookback"
                select name="lookback" {
                    @for (value, text) in LOOKBACKS { option value=(value) selected[value == lookback] { (text) } }
                }
            }
            button type="submit" { "Show" }
        }
        (content)
    };
    (status, layout("Dependencies", Section::Dependencies, body)).into_response()
}

fn graph(links: &[Dependency], palette: &Palette) -> Markup {
    if links.is_empty() {
        return html! { p.empty { "No calls between services in this window yet." } };
    }
    let layout = Layout::new(links);
    html! {
        (layout.svg(links, palette))
        h2 { "Calls" }
        table.list #calls {
            thead { tr { th { "Caller" } th { "Callee" } th.num { "Calls" } } }
            tbody {
                @for link in links {
                    tr.link {
                        td { (service_chip(palette, &link.parent, None)) }
                        td { (service_chip(palette, &link.child, None)) }
                        td.num { (link.call_count) }
                    }
                }
            }
        }
    }
}

/// Where each service goes: its column is the length of the longest chain of callers above it
/// (so callers sit left of what they call); within a column, services are ordered by where their
/// callers are (so edges cross less), and each column is centred on the tallest.
struct Layout {
    positions: BTreeMap<String, (f64, f64)>,
    width: f64,
    height: f64,
}

impl Layout {
    fn new(links: &[Dependency]) -> Self {
        let mut column: BTreeMap<&str, usize> = BTreeMap::new();
        for link in links {
            column.entry(&link.parent).or_default();
            column.entry(&link.child).or_default();
        }
        // Longest path by relaxation; a cycle stops growing at the number of services.
        let limit = column.len().saturating_sub(1);
        for _ in 0..column.len() {
            let mut changed = false;
            for link in links {
                let next = (column[link.parent.as_str()] + 1).min(limit);
                if next > column[link.child.as_str()] {
                    column.insert(&link.child, next);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let count = column.values().max().map_or(1, |last| last + 1);
        let mut columns: Vec<Vec<&str>> = vec![Vec::new(); count];
        for (service, index) in &column {
            columns[*index].push(service);
        }
        let tallest = columns.iter().map(Vec::len).max().unwrap_or(1);
        let mut positions: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for (index, services) in columns.iter_mut().enumerate() {
            // The mean height of a service's callers placed so far; the callers come first.
            let callers_at = |service: &str| {
                let heights: Vec<f64> = links
                    .iter()
                    .filter(|link| link.child == service)
                    .filter_map(|link| positions.get(&link.parent).map(|(_, y)| *y))
                    .collect();
                (!heights.is_empty()).then(|| heights.iter().sum::<f64>() / heights.len() as f64)
            };
            let mut ordered: Vec<(f64, &str)> = services
                .iter()
                .map(|service| (callers_at(service).unwrap_or(f64::MAX), *service))
                .collect();
            ordered.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
            let offset = (tallest - ordered.len()) as f64 * (NODE_HEIGHT + ROW_GAP) / 2.0;
            for (row, (_, service)) in ordered.into_iter().enumerate() {
                let x = MARGIN + index as f64 * (NODE_WIDTH + COLUMN_GAP);
                let y = MARGIN + offset + row as f64 * (NODE_HEIGHT + ROW_GAP);
                positions.insert(service.to_owned(), (x, y));
            }
        }
        let (columns, rows) = (count as f64, tallest as f64);
        Self {
            positions,
            width: 2.0 * MARGIN + columns * NODE_WIDTH + (columns - 1.0) * COLUMN_GAP,
            height: 2.0 * MARGIN + rows * NODE_HEIGHT + (rows - 1.0) * ROW_GAP,
        }
    }

    fn svg(&self, links: &[Dependency], palette: &Palette) -> Markup {
        let mut labels: Vec<Label> = Vec::new();
        let edges: Vec<Markup> = links
            .iter()
            .map(|link| self.edge(link, &mut labels))
            .collect();
        html! {
            svg.graph #graph xmlns="http://www.w3.org/2000/svg" role="img"
                aria-label="Service dependency graph"
                width=(self.width) height=(self.height)
                viewBox={"0 0 " (self.width) " " (self.height)} {
                defs {
                    marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"
                        markerHeight="7" orient="auto-start-reverse" {
                        path d="M 0 0 L 10 5 L 0 10 z" fill="#8c959f" {}
                    }
                }
                @for edge in &edges { (edge) }
                @for (service, (x, y)) in &self.positions {
                    g class={"node c" (palette.colour(service))} {
                        title { (service) }
                        rect x=(x) y=(y) width=(NODE_WIDTH) height=(NODE_HEIGHT) rx="8" {}
                        text x=(x + NODE_WIDTH / 2.0) y=(y + NODE_HEIGHT / 2.0 + 4.5)
                            text-anchor="middle" { (shorten(service, 22)) }
                    }
                }
            }
        }
    }

    /// A curve from the caller's right side to the callee's left side, labelled with the count
    /// on the curve: at its middle, or as near it as no other label is.
    fn edge(&self, link: &Dependency, labels: &mut Vec<Label>) -> Markup {
        let (px, py) = self.positions[&link.parent];
        let (cx, cy) = self.positions[&link.child];
        let start = (px + NODE_WIDTH, py + NODE_HEIGHT / 2.0);
        let end = (cx, cy + NODE_HEIGHT / 2.0);
        let bend = ((end.0 - start.0).abs() / 2.0).max(60.0);
        let (control1, control2) = ((start.0 + bend, start.1), (end.0 - bend, end.1));
        let path = format!(
            "M {} {} C {} {}, {} {}, {} {}",
            start.0, start.1, control1.0, control1.1, control2.0, control2.1, end.0, end.1
        );
        let text = format!(
            "{} {}",
            link.call_count,
            if link.call_count == 1 {
                "call"
            } else {
                "calls"
            }
        );
        let width = text.chars().count() as f64 * LABEL_CHAR_WIDTH;
        // From the middle outwards: 0.5, 0.45, 0.55, 0.4, ... 0.2, 0.8.
        let label = (0..13)
            .map(|i| 0.5 + f64::from((i + 1) / 2) * 0.05 * if i % 2 == 0 { 1.0 } else { -1.0 })
            .map(|t| {
                let (x, y) = cubic(start, control1, control2, end, t);
                Label {
                    x,
                    y: y - 6.0,
                    width,
                }
            })
            .find(|candidate| !labels.iter().any(|placed| placed.overlaps(candidate)))
            .unwrap_or_else(|| {
                let (x, y) = cubic(start, control1, control2, end, 0.5);
                Label {
                    x,
                    y: y - 6.0,
                    width,
                }
            });
        labels.push(label);
        html! {
            g.edge {
                path d=(path) marker-end="url(#arrow)" {}
                text x=(label.x) y=(label.y) text-anchor="middle" { (text) }
            }
        }
    }
}

/// About how wide a character of an edge's label is, in SVG user units.
const LABEL_CHAR_WIDTH: f64 = 7.0;
const LABEL_HEIGHT: f64 = 14.0;

/// Where an edge's label is: its text's anchor (centre, baseline) and its width.
#[derive(Clone, Copy)]
struct Label {
    x: f64,
    y: f64,
    width: f64,
}

impl Label {
    fn overlaps(&self, other: &Label) -> bool {
        (self.x - other.x).abs() * 2.0 < self.width + other.width
            && (self.y - other.y).abs() < LABEL_HEIGHT
    }
}

/// The point at `t` (0 to 1) of a cubic Bézier curve.
fn cubic(p0: (f64, f64), p1: (f64, f64), p2: (f64, f64), p3: (f64, f64), t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let at = |a: f64, b: f64, c: f64, d: f64| {
        u * u * u * a + 3.0 * u * u * t * b + 3.0 * u * t * t * c + t * t * t * d
    };
    (at(p0.0, p1.0, p2.0, p3.0), at(p0.1, p1.1, p2.1, p3.1))
}

/// At most `max` characters, with an ellipsis when cut (the full name is the node's title).
fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_owned()
    } else {
        let kept: String = name.chars().take(max - 1).collect();
        format!("{kept}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(parent: &str, child: &str, call_count: u64) -> Dependency {
        Dependency {
            parent: parent.into(),
            child: child.into(),
            call_count,
        }
    }

    #[test]
    fn callers_sit_left_of_what_they_call_and_labels_do_not_overlap() {
        let links = [
            link("authen-service", "mongodb", 6),
            link("blog-service", "author-service", 4),
            link("blog-service", "mongodb", 4),
            link("user-service", "author-service", 3),
            link("user-service", "mongodb", 3),
        ];
        let layout = Layout::new(&links);
        let x = |service: &str| layout.positions[service].0;
        assert!(x("blog-service") < x("author-service") && x("user-service") < x("mongodb"));
        assert_eq!(x("author-service"), x("mongodb"));
        let mut labels = Vec::new();
        for link in &links {
            layout.edge(link, &mut labels);
        }
        for (i, a) in labels.iter().enumerate() {
            for b in &labels[i + 1..] {
                assert!(
                    !a.overlaps(b),
                    "labels at ({}, {}) and ({}, {})",
                    a.x,
                    a.y,
                    b.x,
                    b.y
                );
            }
        }
    }
}
