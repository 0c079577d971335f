//! A trace beside a baseline, span by span.
//!
//! Spans are matched by their **path**: the service and operation of each span from the top of
//! their tree (the root, or an orphan) down to the span itself, so that `author-service: POST
//! /authorize` called by blog's `GET /blogs` and the same operation called elsewhere are different
//! rows. Spans on the same path add up: their count, their durations and their self times. A
//! span's **self time** is its duration less the time its children (cut to the span) cover,
//! overlapping children counted once.
//!
//! The **typical** trace of a kind is made of several traces' profiles: each row's lower median
//! over them (of an even number of traces, the smaller of the two middle values, so that it is
//! always a value one of the traces had), a trace without the row counting as zero there. A row
//! whose median count is zero (absent from at least half of the traces) is not in the typical
//! trace.

use std::{
    cmp::Reverse,
    collections::HashMap,
    hash::{BuildHasher, Hash, Hasher},
    sync::{Arc, LazyLock},
};

use super::Tree;

/// The maps of paths hash their keys' own hash again: foldhash, a few multiplications, where the
/// standard library's SipHash took a tenth of the typical trace's time.
type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// The seed of every path's hash, one per process so that the same path has the same hash in
/// every profile; random, so that a trace cannot be made of paths whose hashes collide.
static CHAIN_HASH: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);

/// A path: (service, operation) from the top span down to the span itself.
pub type Path = Vec<(Arc<str>, Arc<str>)>;

/// A path as a map key: its last step, linked to its parent's, with a hash of the whole chain, so
/// that neither building nor hashing a span's key grows with its depth.
#[derive(Debug, Clone)]
pub struct Key {
    hash: u64,
    step: Arc<Step>,
}

#[derive(Debug)]
struct Step {
    parent: Option<Key>,
    service: Arc<str>,
    name: Arc<str>,
}

impl Key {
    fn new(parent: Option<&Key>, service: &Arc<str>, name: &Arc<str>) -> Self {
        Self {
            hash: CHAIN_HASH.hash_one((parent.map(|p| p.hash), &**service, &**name)),
            step: Arc::new(Step {
                parent: parent.cloned(),
                service: Arc::clone(service),
                name: Arc::clone(name),
            }),
        }
    }

    fn of(path: &Path) -> Option<Self> {
        let mut key: Option<Self> = None;
        for (service, name) in path {
            key = Some(Self::new(key.as_ref(), service, name));
        }
        key
    }

    /// The path, from the top span down.
    pub fn path(&self) -> Path {
        let mut path = Vec::new();
        let mut step = Some(self);
        while let Some(key) = step {
            path.push((Arc::clone(&key.step.service), Arc::clone(&key.step.name)));
            step = key.step.parent.as_ref();
        }
        path.reverse();
        path
    }
}

/// A long chain of steps is dropped one step at a time, not by recursion as deep as the trace.
impl Drop for Step {
    fn drop(&mut self) {
        let mut parent = self.parent.take();
        while let Some(key) = parent {
            match Arc::try_unwrap(key.step) {
                Ok(mut step) => parent = step.parent.take(),
                Err(_) => break,
            }
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        let (mut a, mut b) = (self, other);
        loop {
            if Arc::ptr_eq(&a.step, &b.step) {
                return true;
            }
            if a.hash != b.hash || a.step.service != b.step.service || a.step.name != b.step.name {
                return false;
            }
            match (&a.step.parent, &b.step.parent) {
                (Some(pa), Some(pb)) => (a, b) = (pa, pb),
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl Eq for Key {}

/// What the spans on one path add up to, in one trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub count: u64,
    /// Nanoseconds.
    pub duration: u64,
    pub self_time: u64,
}

/// A trace (or the typical trace) as its paths' totals, with its root span's duration.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub duration: u64,
    paths: Map<Key, Stats>,
}

/// One path of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub path: Path,
    /// `None`: no span on this path on that side.
    pub trace: Option<Stats>,
    pub baseline: Option<Stats>,
    /// The trace's self time less the baseline's, in nanoseconds.
    pub self_delta: i64,
}

impl Row {
    pub fn service(&self) -> &str {
        self.path
            .last()
            .map(|(service, _)| &**service)
            .unwrap_or("")
    }

    pub fn operation(&self) -> &str {
        self.path.last().map(|(_, name)| &**name).unwrap_or("")
    }

    /// The path as text, each step `service: operation`.
    pub fn steps(&self) -> Vec<String> {
        self.path
            .iter()
            .map(|(service, name)| format!("{service}: {name}"))
            .collect()
    }
}

impl Profile {
    /// Every span of the trace on its path, with its self time.
    pub fn of(tree: &Tree) -> Self {
        let mut paths: Map<Key, Stats> = Map::default();
        // One buffer for every span's children's intervals.
        let mut intervals = Vec::new();
        let mut stack: Vec<(usize, Option<Key>)> =
            tree.tops().iter().map(|top| (*top, None)).collect();
        while let Some((index, parent)) = stack.pop() {
            let span = &tree.spans[index];
            let key = Key::new(parent.as_ref(), &span.service, &span.name);
            let duration = span.end - span.start;
            intervals.clear();
            intervals.extend(
                tree.children(index)
                    .iter()
                    .map(|child| (tree.spans[*child].start, tree.spans[*child].end)),
            );
            let covered = covered(&mut intervals, span.start, span.end);
            for child in tree.children(index) {
                stack.push((*child, Some(key.clone())));
            }
            let stats = paths.entry(key).or_default();
            stats.count += 1;
            stats.duration += duration;
            stats.self_time += duration - covered;
        }
        Self {
            duration: tree.duration(),
            paths,
        }
    }

    /// What the spans on `path` add up to; `None` without any.
    pub fn get(&self, path: &Path) -> Option<Stats> {
        self.paths.get(&Key::of(path)?).copied()
    }

    /// The paths this profile has spans on.
    pub fn paths(&self) -> impl Iterator<Item = Path> + '_ {
        self.paths.keys().map(Key::path)
    }

    /// The typical trace of these (see the module's documentation); empty without any.
    pub fn typical(profiles: &[Self]) -> Self {
        // How many profiles have each path. A path's count is at least 1 where it is present
        // and 0 where it is absent, so its median count is 0, and it is left out, exactly when
        // it is absent from more than `total - needed` profiles: those paths' values (most of
        // them, when traces of a kind vary in shape) are never gathered.
        let total = profiles.len();
        let needed = total - total.saturating_sub(1) / 2;
        let mut presence: Map<&Key, usize> = Map::default();
        for profile in profiles {
            for path in profile.paths.keys() {
                *presence.entry(path).or_default() += 1;
            }
        }
        let mut paths = Map::default();
        let mut values: Vec<&Stats> = Vec::new();
        for (path, present) in presence {
            if present < needed {
                continue;
            }
            values.clear();
            values.extend(
                profiles
                    .iter()
                    .filter_map(|profile| profile.paths.get(path)),
            );
            let median = |read: fn(&Stats) -> u64| {
                lower_median_with_zeros(values.iter().map(|stats| read(stats)), total - present)
            };
            let stats = Stats {
                count: median(|s| s.count),
                duration: median(|s| s.duration),
                self_time: median(|s| s.self_time),
            };
            paths.insert(path.clone(), stats);
        }
        Self {
            duration: lower_median_with_zeros(profiles.iter().map(|p| p.duration), 0),
            paths,
        }
    }
}

/// The trace's rows beside the baseline's, what changed most first (the largest difference in
/// self time either way; of equal ones, the trace's slower first), then by path.
pub fn compare(trace: &Profile, baseline: &Profile) -> Vec<Row> {
    let mut keys: Vec<&Key> = trace.paths.keys().collect();
    keys.extend(
        baseline
            .paths
            .keys()
            .filter(|key| !trace.paths.contains_key(*key)),
    );
    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|key| {
            let (ours, theirs) = (trace.paths.get(key), baseline.paths.get(key));
            let self_time = |stats: Option<&Stats>| i64::try_from(stats.map_or(0, |s| s.self_time));
            Row {
                path: key.path(),
                trace: ours.copied(),
                baseline: theirs.copied(),
                self_delta: self_time(ours)
                    .unwrap_or(i64::MAX)
                    .saturating_sub(self_time(theirs).unwrap_or(i64::MAX)),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        let key = |row: &Row| {
            (
                Reverse(row.self_delta.unsigned_abs()),
                Reverse(row.self_delta),
            )
        };
        key(a).cmp(&key(b)).then_with(|| a.path.cmp(&b.path))
    });
    rows
}

/// How much of `[start, end]` these intervals cover, each cut to it, overlaps counted once (the
/// intervals are reordered).
fn covered(intervals: &mut [(u64, u64)], start: u64, end: u64) -> u64 {
    intervals.sort_unstable();
    let mut total = 0;
    let mut reached = start;
    for &(s, e) in intervals.iter() {
        let (s, e) = (s.max(start), e.min(end));
        let s = s.max(reached);
        if e > s {
            total += e - s;
            reached = e;
        }
    }
    total
}

/// The lower median of these values and `zeros` more zeros: of an even number of values, the
/// smaller middle one; 0 of none.
fn lower_median_with_zeros(values: impl Iterator<Item = u64>, zeros: usize) -> u64 {
    let mut values: Vec<u64> = values.collect();
    let total = values.len() + zeros;
    if total == 0 {
        return 0;
    }
    let middle = (total - 1) / 2;
    if middle < zeros {
        return 0;
    }
    *values.select_nth_unstable(middle - zeros).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Span, tests::span};

    fn profile(spans: Vec<Span>) -> Profile {
        Profile::of(&Tree::new(spans))
    }

    fn path(steps: &[(&str, &str)]) -> Path {
        steps
            .iter()
            .map(|(s, o)| (Arc::from(*s), Arc::from(*o)))
            .collect()
    }

    fn stats(count: u64, duration: u64, self_time: u64) -> Option<Stats> {
        Some(Stats {
            count,
            duration,
            self_time,
        })
    }

    /// blog's `GET /blogs` calling author (taking `authorize` ns) then MongoDB twice.
    fn get_blogs(authorize: u64) -> Vec<Span> {
        vec![
            span(1, None, "blog", "GET /blogs", 0, 100 + authorize),
            span(2, Some(1), "blog", "POST /authorize", 10, 20 + authorize),
            span(3, Some(2), "author", "POST /authorize", 12, 18 + authorize),
            span(
                4,
                Some(1),
                "mongodb",
                "find",
                30 + authorize,
                40 + authorize,
            ),
            span(
                5,
                Some(1),
                "mongodb",
                "find",
                50 + authorize,
                60 + authorize,
            ),
        ]
    }

    #[test]
    fn self_time_is_what_the_children_do_not_cover_and_repeated_spans_add_up() {
        let profile = profile(get_blogs(0));
        assert_eq!(profile.duration, 100);
        let get = |steps: &[(&str, &str)]| profile.get(&path(steps));
        assert_eq!(get(&[("blog", "GET /blogs")]), stats(1, 100, 70));
        assert_eq!(
            get(&[("blog", "GET /blogs"), ("mongodb", "find")]),
            stats(2, 20, 20)
        );
        assert_eq!(
            get(&[
                ("blog", "GET /blogs"),
                ("blog", "POST /authorize"),
                ("author", "POST /authorize")
            ]),
            stats(1, 6, 6)
        );
    }

    #[test]
    fn overlapping_and_overflowing_children_are_counted_once_and_cut() {
        let profile = profile(vec![
            span(1, None, "a", "root", 0, 100),
            span(2, Some(1), "a", "x", 10, 50),
            span(3, Some(1), "a", "y", 30, 60),
            span(4, Some(1), "a", "z", 90, 150),
            span(5, Some(1), "a", "late", 120, 130),
        ]);
        // Covered: 10..60 and 90..100.
        let root = profile.get(&path(&[("a", "root")])).unwrap();
        assert_eq!(root.self_time, 40);
        assert_eq!(
            profile
                .get(&path(&[("a", "root"), ("a", "z")]))
                .unwrap()
                .self_time,
            60
        );
    }

    #[test]
    fn the_delayed_span_comes_first() {
        let rows = compare(&profile(get_blogs(500)), &profile(get_blogs(0)));
        let author = path(&[
            ("blog", "GET /blogs"),
            ("blog", "POST /authorize"),
            ("author", "POST /authorize"),
        ]);
        assert_eq!(rows[0].path, author);
        assert_eq!(rows[0].self_delta, 500);
        assert_eq!(
            (rows[0].service(), rows[0].operation()),
            ("author", "POST /authorize")
        );
        assert_eq!(
            rows[0].steps(),
            [
                "blog: GET /blogs",
                "blog: POST /authorize",
                "author: POST /authorize"
            ]
        );
        assert!(rows[1..].iter().all(|row| row.self_delta == 0), "{rows:?}");
        assert_eq!(rows.len(), 4);
    }

    #[test]
    fn a_span_on_one_side_only_has_nothing_on_the_other() {
        let mut slow = get_blogs(0);
        slow.push(span(6, Some(1), "blog", "retry", 60, 90));
        let rows = compare(&profile(slow), &profile(get_blogs(0)));
        let retry = rows.iter().find(|row| row.operation() == "retry").unwrap();
        assert_eq!((retry.trace, retry.baseline), (stats(1, 30, 30), None));
        assert_eq!(retry.self_delta, 30);
        assert_eq!(rows[0].operation(), "retry", "{rows:?}");
        // The root lost the 30ns retry covers.
        assert_eq!(rows[1].operation(), "GET /blogs");
        assert_eq!(rows[1].self_delta, -30);

        let empty = compare(&Profile::default(), &profile(get_blogs(0)));
        assert!(empty.iter().all(|row| row.trace.is_none()));
        assert_eq!(empty[0].self_delta, -70);
        assert!(compare(&Profile::default(), &Profile::default()).is_empty());
    }

    #[test]
    fn orphans_head_their_own_paths() {
        let rows = compare(
            &profile(vec![
                span(1, None, "blog", "GET /blogs", 0, 100),
                span(3, Some(2), "author", "POST /authorize", 12, 18),
            ]),
            &profile(get_blogs(0)),
        );
        let orphan = rows
            .iter()
            .find(|row| row.path == path(&[("author", "POST /authorize")]))
            .unwrap();
        assert_eq!((orphan.trace, orphan.baseline), (stats(1, 6, 6), None));
    }

    #[test]
    fn the_typical_trace_is_each_path_s_median_with_absence_as_zero() {
        let mut with_retry = get_blogs(0);
        with_retry.push(span(6, Some(1), "blog", "retry", 60, 90));
        let profiles: Vec<Profile> = [get_blogs(10), get_blogs(0), with_retry, get_blogs(30)]
            .into_iter()
            .map(profile)
            .collect();
        let typical = Profile::typical(&profiles);
        // Root durations 110, 100, 100, 130: the lower median is 100.
        assert_eq!(typical.duration, 100);
        // The author's self times 16, 6, 6, 36.
        let author = path(&[
            ("blog", "GET /blogs"),
            ("blog", "POST /authorize"),
            ("author", "POST /authorize"),
        ]);
        assert_eq!(
            typical.get(&author).unwrap(),
            Stats {
                count: 1,
                duration: 6,
                self_time: 6
            }
        );
        // One trace of four retried: not typical.
        assert!(!typical.paths().any(|p| &*p.last().unwrap().1 == "retry"));
        assert!(Profile::typical(&[]).paths().next().is_none());
    }

    #[test]
    fn a_trace_as_deep_as_it_is_long_is_profiled_and_dropped_without_recursion() {
        let spans: Vec<Span> = (0..200_000u64)
            .map(|i| {
                let mut span = span(0, None, "a", "call", i, 400_000 - i);
                span.span_id = crate::ids::SpanId((i + 1).to_be_bytes());
                span.parent = (i > 0).then(|| crate::ids::SpanId(i.to_be_bytes()));
                span
            })
            .collect();
        let deep = profile(spans);
        assert_eq!(deep.paths.len(), 200_000);
        assert_eq!(deep.get(&path(&[("a", "call")])), stats(1, 400_000, 2));
        drop(deep);
    }

    #[test]
    fn medians_are_values_that_occurred() {
        assert_eq!(lower_median_with_zeros([5, 1, 3].into_iter(), 0), 3);
        assert_eq!(lower_median_with_zeros([4, 1, 3, 2].into_iter(), 0), 2);
        assert_eq!(lower_median_with_zeros([4, 3].into_iter(), 2), 0);
        assert_eq!(lower_median_with_zeros([4, 3].into_iter(), 1), 3);
        assert_eq!(lower_median_with_zeros([9].into_iter(), 0), 9);
        assert_eq!(lower_median_with_zeros(std::iter::empty(), 3), 0);
        assert_eq!(lower_median_with_zeros(std::iter::empty(), 0), 0);
    }
}
