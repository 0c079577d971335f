//! Finding the cause of a slow or failed request: the pure logic, on a trace's span tree.
//!
//! - [`critical_path`]: the pieces of spans that, end to end, make the root span's duration, as
//!   Jaeger UI computes them.
//! - [`compare`]: a trace beside a baseline (another trace, or the typical trace of its kind),
//!   span by span, with each span's self time.
//!
//! Both read a [`Tree`]: a trace's spans (only what timing needs: ids, service, name, kind,
//! times) with each span's children, its orphans named, and its root chosen.
//!
//! **The root.** Among the spans with no parent id or whose parent is not in the trace, a true
//! root (no parent id at all) if there is one, else an orphan; of those, the earliest to start
//! (as the store's summaries and the waterfall's first row choose it). Every other top span (a
//! second root, an orphan) heads a tree of its own: the comparison counts its spans, the critical
//! path does not (it covers the root span only).

pub mod compare;
pub mod critical_path;

use std::{collections::HashMap, sync::Arc};

use crate::ids::SpanId;

/// OTLP's span kinds that Jaeger UI's critical path reads: a consumer under a producer does not
/// block it.
const PRODUCER: u8 = 4;
const CONSUMER: u8 = 5;

/// One span, as the analyses read it.
#[derive(Debug, Clone)]
pub struct Span {
    pub span_id: SpanId,
    /// The parent span id the span carries, whether or not that span is in the trace.
    pub parent: Option<SpanId>,
    pub service: Arc<str>,
    pub name: Arc<str>,
    /// OTLP's span kind number.
    pub kind: u8,
    /// Nanoseconds since the Unix epoch; `end >= start`.
    pub start: u64,
    pub end: u64,
}

/// A span whose parent is not in the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub span_id: SpanId,
    pub missing_parent: SpanId,
}

/// A trace's spans as a forest: every span is reached exactly once from a top span.
#[derive(Debug, Clone)]
pub struct Tree {
    pub spans: Vec<Span>,
    /// Every span's children (indices into `spans`), by start time then name, one span's after
    /// another's: span `i`'s are `children[child_ranges[i]..child_ranges[i + 1]]` (two vectors
    /// for the whole trace instead of one per span, which the typical trace's hundred trees of a
    /// thousand spans spent a quarter of their time allocating and freeing).
    children: Vec<usize>,
    child_ranges: Vec<usize>,
    /// Each span's parent in the forest; `None` for a top span.
    parents: Vec<Option<usize>>,
    /// The spans that head a tree, by start time then name.
    tops: Vec<usize>,
    root: Option<usize>,
    orphans: Vec<Orphan>,
}

impl Tree {
    /// The forest of these spans. A span whose parent is not among them is an orphan and heads a
    /// tree; so does the earliest span of a cycle of parents, which only a broken exporter sends.
    pub fn new(mut spans: Vec<Span>) -> Self {
        for span in &mut spans {
            span.end = span.end.max(span.start);
        }
        let index: HashMap<SpanId, usize, foldhash::fast::FixedState> = spans
            .iter()
            .enumerate()
            .map(|(i, span)| (span.span_id, i))
            .collect();
        let order = |a: &usize, b: &usize| {
            (spans[*a].start, &spans[*a].name).cmp(&(spans[*b].start, &spans[*b].name))
        };
        let mut linked_parent: Vec<Option<usize>> = vec![None; spans.len()];
        let mut tops = Vec::new();
        let mut orphans = Vec::new();
        for (i, span) in spans.iter().enumerate() {
            match span.parent.map(|parent| (parent, index.get(&parent))) {
                Some((_, Some(parent))) if *parent != i => linked_parent[i] = Some(*parent),
                Some((missing, None)) => {
                    orphans.push(Orphan {
                        span_id: span.span_id,
                        missing_parent: missing,
                    });
                    tops.push(i);
                }
                _ => tops.push(i),
            }
        }
        tops.sort_by(order);
        let (mut linked, linked_ranges) = grouped(&linked_parent);
        let linked_of = |i: usize| linked_ranges[i]..linked_ranges[i + 1];
        for i in 0..spans.len() {
            linked[linked_of(i)].sort_by(order);
        }
        // Walk from the tops, keeping only the links that reach a span first: cycles fall away.
        let mut parents: Vec<Option<usize>> = vec![None; spans.len()];
        let mut visited = vec![false; spans.len()];
        let mut stack: Vec<usize> = tops.iter().rev().copied().collect();
        loop {
            while let Some(i) = stack.pop() {
                if std::mem::replace(&mut visited[i], true) {
                    continue;
                }
                for &child in linked[linked_of(i)].iter().rev() {
                    if !visited[child] {
                        stack.push(child);
                    }
                }
                for &child in &linked[linked_of(i)] {
                    if !visited[child] && parents[child].is_none() {
                        parents[child] = Some(i);
                    }
                }
            }
            // Spans only reachable through a cycle: the earliest of them heads a tree.
            let unvisited = (0..spans.len()).filter(|i| !visited[*i]).min_by(order);
            match unvisited {
                Some(i) => {
                    tops.push(i);
                    stack.push(i);
                }
                None => break,
            }
        }
        tops.sort_by(order);
        // A span's children are its linked spans that the walk made its children, in the same
        // order (the walk gives each span one parent, the first to reach it).
        let mut children = linked;
        let mut child_ranges = vec![0; spans.len() + 1];
        let mut kept = 0;
        for i in 0..spans.len() {
            for at in linked_of(i) {
                if parents[children[at]] == Some(i) {
                    children[kept] = children[at];
                    kept += 1;
                }
            }
            child_ranges[i + 1] = kept;
        }
        children.truncate(kept);
        let root = tops
            .iter()
            .copied()
            .min_by_key(|i| (spans[*i].parent.is_some(), spans[*i].start));
        Self {
            spans,
            children,
            child_ranges,
            parents,
            tops,
            root,
            orphans,
        }
    }

    /// The span the trace is about (see the module's documentation); `None` without spans.
    pub fn root(&self) -> Option<usize> {
        self.root
    }

    /// The spans whose parent is not in the trace, with that parent's id.
    pub fn orphans(&self) -> &[Orphan] {
        &self.orphans
    }

    pub fn children(&self, span: usize) -> &[usize] {
        &self.children[self.child_ranges[span]..self.child_ranges[span + 1]]
    }

    pub fn parent(&self, span: usize) -> Option<usize> {
        self.parents[span]
    }

    /// The spans that head a tree: the root, other roots, orphans.
    pub fn tops(&self) -> &[usize] {
        &self.tops
    }

    /// The root span's duration, in nanoseconds.
    pub fn duration(&self) -> u64 {
        self.root
            .map(|root| self.spans[root].end - self.spans[root].start)
            .unwrap_or(0)
    }
}

/// The spans grouped by their parent: span `p`'s, in the order of their indices, are
/// `grouped[ranges[p]..ranges[p + 1]]`.
fn grouped(parents: &[Option<usize>]) -> (Vec<usize>, Vec<usize>) {
    let mut ranges = vec![0; parents.len() + 1];
    for parent in parents.iter().flatten() {
        ranges[parent + 1] += 1;
    }
    for i in 0..parents.len() {
        ranges[i + 1] += ranges[i];
    }
    let mut next = ranges.clone();
    let mut grouped = vec![0; ranges[parents.len()]];
    for (i, parent) in parents.iter().enumerate() {
        if let Some(parent) = parent {
            grouped[next[*parent]] = i;
            next[*parent] += 1;
        }
    }
    (grouped, ranges)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A span `id` (parent `parent`) of `service` named `name`, from `start` to `end`.
    pub fn span(
        id: u8,
        parent: Option<u8>,
        service: &str,
        name: &str,
        start: u64,
        end: u64,
    ) -> Span {
        Span {
            span_id: SpanId([id; 8]),
            parent: parent.map(|p| SpanId([p; 8])),
            service: Arc::from(service),
            name: Arc::from(name),
            kind: 0,
            start,
            end,
        }
    }

    #[test]
    fn the_root_is_a_true_root_before_an_earlier_orphan() {
        let tree = Tree::new(vec![
            span(2, Some(9), "b", "orphan", 0, 10),
            span(1, None, "a", "late root", 5, 8),
            span(3, None, "a", "later root", 6, 8),
            span(4, Some(1), "a", "child", 6, 7),
        ]);
        assert_eq!(tree.root(), Some(1));
        assert_eq!(
            tree.orphans(),
            [Orphan {
                span_id: SpanId([2; 8]),
                missing_parent: SpanId([9; 8]),
            }]
        );
        assert_eq!(tree.tops(), [0, 1, 2]);
        assert_eq!(tree.children(1), [3]);
        assert_eq!(tree.parent(3), Some(1));
    }

    #[test]
    fn without_a_true_root_the_earliest_orphan_is_the_root() {
        let tree = Tree::new(vec![
            span(2, Some(9), "b", "second", 5, 10),
            span(1, Some(8), "a", "first", 0, 10),
        ]);
        assert_eq!(tree.root(), Some(1));
        assert_eq!(tree.orphans().len(), 2);
    }

    #[test]
    fn a_cycle_of_parents_becomes_a_tree() {
        let tree = Tree::new(vec![
            span(1, Some(2), "a", "a", 0, 10),
            span(2, Some(1), "a", "b", 1, 9),
        ]);
        assert_eq!(tree.tops(), [0]);
        assert_eq!(tree.children(0), [1]);
        assert!(tree.children(1).is_empty());
        assert_eq!(tree.root(), Some(0));
    }
}
