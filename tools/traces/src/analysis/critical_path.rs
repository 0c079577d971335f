//! The critical path: the pieces of spans that, end to end, make the root span's duration, as
//! Jaeger UI computes it (jaeger-ui, `components/TracePage/CriticalPath/`).
//!
//! First the root's tree is made to nest in time, parents before children: a child that starts
//! at or after its parent's end, or ends at or before its parent's start, is dropped with its
//! descendants; a child that outlives its parent is cut to its parent's end (and one that starts
//! before its parent, to its parent's start). A consumer span under a producer span does not block
//! it and is left out. Then the walk starts at the root's end: the child that finished last is on
//! the path from its end to the point reached (the parent before it), and the walk goes down into
//! that child from its end. A span without such a child is on the path from its start, and the
//! walk goes back up to its parent at that start, where the next child chosen is the one that
//! finished last strictly before that point (a child still running then is passed over, as in
//! Jaeger UI); and so on until the root's start. The pieces cover the root span exactly, without
//! gaps or overlaps; pieces of no length are left out.

use super::{CONSUMER, PRODUCER, Tree};

/// A piece of the critical path: span `span` (an index into the tree's spans) from `start` to
/// `end`, in nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub span: usize,
    pub start: u64,
    pub end: u64,
}

/// The root span's critical path, in time order; empty without a root or when the root lasts
/// no time.
pub fn critical_path(tree: &Tree) -> Vec<Segment> {
    let Some(root) = tree.root() else {
        return Vec::new();
    };
    let nested = Nested::new(tree, root);
    let mut path = Vec::new();
    let mut current = root;
    // The point the walk has reached in `current`: its end, or the start of the child it came
    // back from.
    let mut until: Option<u64> = None;
    loop {
        let (start, end) = nested.times[current].unwrap_or_default();
        let point = until.unwrap_or(end);
        let mut last: Option<(usize, u64)> = None;
        for &child in &nested.children[current] {
            let (_, child_end) = nested.times[child].unwrap_or_default();
            let before = until.is_none_or(|until| child_end < until);
            if before && last.is_none_or(|(_, latest)| child_end > latest) {
                last = Some((child, child_end));
            }
        }
        match last {
            Some((child, child_end)) => {
                push(&mut path, current, child_end, point);
                current = child;
                until = None;
            }
            None => {
                push(&mut path, current, start, point);
                match nested.parent(tree, current, root) {
                    Some(parent) => {
                        until = Some(start);
                        current = parent;
                    }
                    None => break,
                }
            }
        }
    }
    path.reverse();
    path
}

fn push(path: &mut Vec<Segment>, span: usize, start: u64, end: u64) {
    if start < end {
        path.push(Segment { span, start, end });
    }
}

/// The root's tree with its spans' times cut to nest in their parents' (`None`: left out).
struct Nested {
    times: Vec<Option<(u64, u64)>>,
    children: Vec<Vec<usize>>,
}

impl Nested {
    fn new(tree: &Tree, root: usize) -> Self {
        let spans = &tree.spans;
        let mut times = vec![None; spans.len()];
        let mut children = vec![Vec::new(); spans.len()];
        times[root] = Some((spans[root].start, spans[root].end));
        let mut stack = vec![root];
        while let Some(parent) = stack.pop() {
            let Some((parent_start, parent_end)) = times[parent] else {
                continue;
            };
            for &child in tree.children(parent) {
                let span = &spans[child];
                if spans[parent].kind == PRODUCER && span.kind == CONSUMER {
                    continue;
                }
                let (start, end) = (span.start, span.end);
                let outside = if start >= parent_start {
                    start >= parent_end
                } else {
                    end <= parent_start
                };
                if outside {
                    continue;
                }
                times[child] = Some((start.max(parent_start), end.min(parent_end)));
                children[parent].push(child);
                stack.push(child);
            }
        }
        Self { times, children }
    }

    /// The span's parent, unless the span is the root.
    fn parent(&self, tree: &Tree, span: usize, root: usize) -> Option<usize> {
        if span == root {
            None
        } else {
            tree.parent(span)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Span, tests::span as at};

    /// The path as (span id's byte, start, end).
    fn path(spans: Vec<Span>) -> Vec<(u8, u64, u64)> {
        let tree = Tree::new(spans);
        let path = critical_path(&tree);
        assert_covers_the_root(&tree, &path);
        path.iter()
            .map(|s| (tree.spans[s.span].span_id.0[0], s.start, s.end))
            .collect()
    }

    fn assert_covers_the_root(tree: &Tree, path: &[Segment]) {
        let root = &tree.spans[tree.root().unwrap()];
        let mut reached = root.start;
        for segment in path {
            assert_eq!(segment.start, reached, "a gap or an overlap: {path:?}");
            assert!(segment.end > segment.start, "{path:?}");
            reached = segment.end;
        }
        assert_eq!(reached, root.end.max(root.start), "{path:?}");
    }

    fn span(id: u8, parent: Option<u8>, start: u64, end: u64) -> Span {
        at(id, parent, "svc", &format!("op{id}"), start, end)
    }

    #[test]
    fn a_lone_span_is_its_own_path() {
        assert_eq!(path(vec![span(1, None, 0, 10)]), [(1, 0, 10)]);
    }

    #[test]
    fn sequential_children_take_their_turns() {
        // |------------1-------------|
        //   |--2--|    |----3----|
        let path = path(vec![
            span(1, None, 0, 100),
            span(2, Some(1), 10, 30),
            span(3, Some(1), 40, 90),
        ]);
        assert_eq!(
            path,
            [
                (1, 0, 10),
                (2, 10, 30),
                (1, 30, 40),
                (3, 40, 90),
                (1, 90, 100)
            ]
        );
    }

    #[test]
    fn of_overlapping_children_the_last_to_finish_wins_and_one_still_running_is_passed_over() {
        // 2 and 3 overlap: 3 finishes last; 2 is still running when 3 starts, so the walk goes
        // back to 1 at 3's start and finds 4, which finished before.
        let path = path(vec![
            span(1, None, 0, 100),
            span(4, Some(1), 5, 15),
            span(2, Some(1), 20, 60),
            span(3, Some(1), 30, 80),
        ]);
        assert_eq!(
            path,
            [
                (1, 0, 5),
                (4, 5, 15),
                (1, 15, 30),
                (3, 30, 80),
                (1, 80, 100)
            ]
        );
    }

    #[test]
    fn a_child_that_outlives_its_parent_is_cut_at_the_parent_end() {
        let path = path(vec![
            span(1, None, 0, 100),
            span(2, Some(1), 50, 150),
            span(3, Some(2), 60, 140),
        ]);
        assert_eq!(path, [(1, 0, 50), (2, 50, 60), (3, 60, 100)]);
    }

    #[test]
    fn children_starting_after_their_parent_ends_are_dropped() {
        let path = path(vec![
            span(1, None, 0, 100),
            span(2, Some(1), 100, 150),
            span(3, Some(1), 120, 130),
            span(4, Some(1), 20, 40),
        ]);
        assert_eq!(path, [(1, 0, 20), (4, 20, 40), (1, 40, 100)]);
    }

    #[test]
    fn a_child_that_starts_before_its_parent_is_cut_at_the_parent_start() {
        let path = path(vec![
            span(1, None, 10, 100),
            span(2, Some(1), 0, 50),
            span(3, Some(1), 0, 5),
        ]);
        assert_eq!(path, [(2, 10, 50), (1, 50, 100)]);
    }

    #[test]
    fn the_path_goes_down_and_back_up_through_generations() {
        let path = path(vec![
            span(1, None, 0, 100),
            span(2, Some(1), 10, 90),
            span(3, Some(2), 20, 50),
            span(4, Some(3), 30, 40),
            span(5, Some(2), 60, 80),
        ]);
        assert_eq!(
            path,
            [
                (1, 0, 10),
                (2, 10, 20),
                (3, 20, 30),
                (4, 30, 40),
                (3, 40, 50),
                (2, 50, 60),
                (5, 60, 80),
                (2, 80, 90),
                (1, 90, 100)
            ]
        );
    }

    #[test]
    fn only_the_root_is_covered_when_there_are_several_roots_and_orphans() {
        let path = path(vec![
            span(1, None, 0, 100),
            span(2, Some(1), 10, 20),
            span(5, None, 0, 500),
            span(6, Some(9), 0, 400),
            span(7, Some(6), 50, 60),
        ]);
        assert_eq!(path, [(1, 0, 10), (2, 10, 20), (1, 20, 100)]);
    }

    #[test]
    fn a_consumer_does_not_block_its_producer() {
        let mut producer = span(2, Some(1), 10, 20);
        producer.kind = PRODUCER;
        let mut consumer = span(3, Some(2), 12, 19);
        consumer.kind = CONSUMER;
        let path = path(vec![span(1, None, 0, 100), producer, consumer]);
        assert_eq!(path, [(1, 0, 10), (2, 10, 20), (1, 20, 100)]);
    }

    #[test]
    fn a_root_of_no_length_has_an_empty_path() {
        assert_eq!(path(vec![span(1, None, 5, 5)]), []);
        assert!(critical_path(&Tree::new(Vec::new())).is_empty());
    }

    #[test]
    fn any_tree_is_covered_exactly() {
        // Trees from a small linear congruential generator: every shape of overlap and overflow.
        let mut state: u64 = 42;
        let mut next = |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        for _ in 0..500 {
            let count = 1 + next(30) as u8;
            let mut spans = vec![span(1, None, 100, 200 + next(100))];
            for id in 2..=count {
                let parent = 1 + next(u64::from(id - 1)) as u8;
                let start = next(400);
                spans.push(span(id, Some(parent), start, start + next(150)));
            }
            let tree = Tree::new(spans);
            assert_covers_the_root(&tree, &critical_path(&tree));
        }
    }
}
