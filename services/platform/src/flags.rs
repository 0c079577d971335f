//! Scenario flags: failures and latency a reader switches on at run time, to find them in the
//! traces (docs/scenarios.md).
//!
//! Every service reads the file named by `FLAGS_FILE` (default `flags.json` in its working
//! directory), in flagd's flag-definition format: a flag's value is `variants[defaultVariant]`
//! while its `state` is `ENABLED`. The file is read again every [`POLL_INTERVAL`], so a change
//! takes effect within a second, without a restart:
//! - a missing file means every flag is off;
//! - a file that does not parse (not JSON, or not flagd's shape) changes nothing: the last good
//!   flags stay in force (all off at start), and one warning says why;
//! - an unknown flag is ignored, and a known one whose value has the wrong type or is out of
//!   range counts as off; each gets one warning naming the flag and the value it wanted.
//!
//! On the request path, [`ScenarioFlags::current`] is one atomic load (`arc-swap`): with every
//! flag off, a request pays nothing else.
//!
//! The file is read by polling its bytes rather than watching it, which works the same for a
//! file replaced by a rename, written in place, or bind-mounted into a container (where inotify
//! sees nothing of a change made on the host).

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwap;
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    FEATURE_FLAG_KEY, FEATURE_FLAG_RESULT_VALUE, FEATURE_FLAG_RESULT_VARIANT,
};
use rand_chacha::{
    ChaCha8Rng,
    rand_core::{RngCore, SeedableRng},
};
use serde::Deserialize;
use serde_json::Value;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::settings::{SettingsError, Variable, parse_var, var};

/// How often the file is read. A change takes effect within this (plus [`REREAD_DELAY`]).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A file that does not parse may have been caught halfway through a write (an editor saving in
/// place, `scripts/scenario.sh`): it is read again after this before it is reported.
const REREAD_DELAY: Duration = Duration::from_millis(100);

/// The span event that says a flag acted, as OpenTelemetry's feature-flag conventions name it.
pub const EVALUATION_EVENT: &str = "feature_flag.evaluation";

// The flags this platform knows, by their keys in the file.

/// The share of `POST /authorize` answers author-service fails with a 500 (0 to 1).
pub const AUTHOR_FAILURE_RATE: &str = "authorFailureRate";
/// Milliseconds author-service waits before answering `POST /authorize`.
pub const AUTHOR_LATENCY_MS: &str = "authorLatencyMs";
/// Milliseconds blog-service waits before each MongoDB operation.
pub const BLOG_DATABASE_LATENCY_MS: &str = "blogDatabaseLatencyMs";
/// Whether blog-service runs its MongoDB operations one at a time.
pub const BLOG_DATABASE_BOTTLENECK: &str = "blogDatabaseBottleneck";
const KNOWN: [&str; 4] = [
    AUTHOR_FAILURE_RATE,
    AUTHOR_LATENCY_MS,
    BLOG_DATABASE_LATENCY_MS,
    BLOG_DATABASE_BOTTLENECK,
];

/// A flag in force: its value, and the variant of the file that chose it.
#[derive(Debug, Clone, PartialEq)]
pub struct Active<T> {
    /// What the flag is set to.
    pub value: T,
    key: &'static str,
    variant: String,
    /// The value as the file gave it, for the evaluation event.
    result: Value,
}

impl<T> Active<T> {
    /// Records on `span` that this flag acted there: a `feature_flag.evaluation` event with the
    /// flag's key, the variant in force and its value.
    pub fn record_on(&self, span: &Span) {
        let value = match &self.result {
            Value::Bool(flag) => opentelemetry::Value::from(*flag),
            Value::Number(number) => match number.as_i64() {
                Some(integer) => opentelemetry::Value::from(integer),
                None => opentelemetry::Value::from(number.as_f64().unwrap_or_default()),
            },
            other => opentelemetry::Value::from(other.to_string()),
        };
        span.add_event(
            EVALUATION_EVENT,
            vec![
                KeyValue::new(FEATURE_FLAG_KEY, self.key),
                KeyValue::new(FEATURE_FLAG_RESULT_VARIANT, self.variant.clone()),
                KeyValue::new(FEATURE_FLAG_RESULT_VALUE, value),
            ],
        );
    }
}

impl Active<Duration> {
    /// Waits this flag's time inside `span` (an INTERNAL span named after what waits), which
    /// records the flag's evaluation: the added latency is never an unexplained gap.
    pub async fn wait_in(&self, span: Span) {
        use tracing::Instrument;
        self.record_on(&span);
        tokio::time::sleep(self.value).instrument(span).await;
    }
}

/// Every flag's value; `None` is off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flags {
    /// author-service: this share of `POST /authorize` answers 500.
    pub author_failure_rate: Option<Active<f64>>,
    /// author-service: `POST /authorize` answers this much later.
    pub author_latency: Option<Active<Duration>>,
    /// blog-service: each MongoDB operation takes this much longer.
    pub blog_database_latency: Option<Active<Duration>>,
    /// blog-service: one MongoDB operation at a time.
    pub blog_database_bottleneck: Option<Active<bool>>,
}

/// `authorFailureRate=20% (0.2), blogDatabaseBottleneck=on (true)`, or `all off`.
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn part<T>(flag: &Option<Active<T>>) -> Option<String> {
            flag.as_ref()
                .map(|flag| format!("{}={} ({})", flag.key, flag.variant, flag.result))
        }
        let parts: Vec<String> = [
            part(&self.author_failure_rate),
            part(&self.author_latency),
            part(&self.blog_database_latency),
            part(&self.blog_database_bottleneck),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            f.write_str("all off")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// The flags of one reading of the file, and a line for each thing in it that was ignored.
#[derive(Debug, PartialEq)]
pub struct Parsed {
    /// The flags in force after this reading.
    pub flags: Flags,
    /// One line per unknown key or unusable value, for the log.
    pub notes: Vec<String>,
}

/// The file as flagd defines it; other top-level keys (`$schema`, `$evaluators`, `metadata`)
/// are flagd's and ignored.
#[derive(Deserialize)]
struct Document {
    flags: BTreeMap<String, Definition>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Definition {
    state: State,
    variants: serde_json::Map<String, Value>,
    /// flagd allows `null`: the application's own default, which here is off.
    default_variant: Option<String>,
    #[serde(default)]
    targeting: Option<Value>,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "UPPERCASE")]
enum State {
    Enabled,
    Disabled,
}

/// Reads flagd's format. `Err` (the file does not parse) says where and why.
pub fn parse(text: &[u8]) -> Result<Parsed, String> {
    let document = read_document(text)?;
    let mut flags = Flags::default();
    let mut notes = Vec::new();
    for (key, definition) in &document.flags {
        let chosen = definition.default_variant(key)?;
        let Some(known) = KNOWN.into_iter().find(|known| known == key) else {
            notes.push(format!(
                "unknown flag {key:?} ignored; the flags are {}",
                KNOWN.join(", ")
            ));
            continue;
        };
        let Some((variant, value)) = chosen.filter(|_| definition.state == State::Enabled) else {
            continue;
        };
        if definition.targeting.as_ref().is_some_and(has_rules) {
            notes.push(format!(
                "flag {known}: targeting rules are not evaluated here; its defaultVariant \
                 {variant:?} applies to every request"
            ));
        }
        let chosen = Chosen {
            key: known,
            variant,
            value,
        };
        if let Err(expected) = chosen.set(&mut flags) {
            notes.push(format!(
                "flag {known} wants {value} (variant {variant:?}) but takes {expected}; it is off"
            ));
        }
    }
    Ok(Parsed { flags, notes })
}

/// The document, or where and why it is not flagd's format.
fn read_document(text: &[u8]) -> Result<Document, String> {
    // serde reads a struct from a JSON array too (its fields in order); flagd's file is an object.
    if let Some(first) = text.iter().find(|byte| !byte.is_ascii_whitespace())
        && *first != b'{'
    {
        return Err(
            r#"invalid type: not a JSON object; flagd's format is {"flags": {...}}"#.into(),
        );
    }
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let document: Document =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            match error.path().to_string().as_str() {
                "." => error.inner().to_string(),
                path => format!("{path}: {}", error.inner()),
            }
        })?;
    deserializer.end().map_err(|error| error.to_string())?;
    Ok(document)
}

impl Definition {
    /// The default variant's name and value; `None` for flagd's `null`. A variant without a
    /// name, or a default that names no variant, makes the whole file unreadable, as in flagd.
    fn default_variant(&self, key: &str) -> Result<Option<(&str, &Value)>, String> {
        if self.variants.keys().any(String::is_empty) {
            return Err(format!("flags.{key}.variants: a variant has an empty name"));
        }
        let Some(variant) = &self.default_variant else {
            return Ok(None);
        };
        match self.variants.get(variant) {
            Some(value) => Ok(Some((variant, value))),
            None => Err(format!(
                "flags.{key}.defaultVariant: {variant:?} is not one of its variants ({})",
                self.variants.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// A known flag that is enabled, and the variant it names.
struct Chosen<'a> {
    key: &'static str,
    variant: &'a str,
    value: &'a Value,
}

impl Chosen<'_> {
    /// Sets its flag in `flags` from the variant's value: on, or off for the value that means
    /// off (0, `false`). `Err` names what the flag takes when the value is of the wrong type or
    /// out of range; the flag stays off.
    fn set(&self, flags: &mut Flags) -> Result<(), &'static str> {
        match self.key {
            AUTHOR_FAILURE_RATE => {
                flags.author_failure_rate = match self.value.as_f64() {
                    Some(0.0) => None,
                    Some(rate) if (0.0..=1.0).contains(&rate) => self.active(rate),
                    _ => return Err("a number from 0 to 1"),
                }
            }
            AUTHOR_LATENCY_MS | BLOG_DATABASE_LATENCY_MS => {
                let latency = match self.value.as_u64() {
                    Some(0) => None,
                    Some(ms) => self.active(Duration::from_millis(ms)),
                    None => return Err("a whole number of milliseconds, 0 or more"),
                };
                if self.key == AUTHOR_LATENCY_MS {
                    flags.author_latency = latency;
                } else {
                    flags.blog_database_latency = latency;
                }
            }
            _ => {
                flags.blog_database_bottleneck = match self.value.as_bool() {
                    Some(false) => None,
                    Some(true) => self.active(true),
                    None => return Err("true or false"),
                }
            }
        }
        Ok(())
    }

    fn active<T>(&self, value: T) -> Option<Active<T>> {
        Some(Active {
            value,
            key: self.key,
            variant: self.variant.to_owned(),
            result: self.value.clone(),
        })
    }
}

/// flagd writes "no targeting" as `{}`.
fn has_rules(targeting: &Value) -> bool {
    !matches!(targeting, Value::Null) && targeting.as_object().is_none_or(|rules| !rules.is_empty())
}

/// The flags in force, kept up to date from the file, and the draws that decide which requests a
/// share applies to. Cheap to clone.
#[derive(Clone)]
pub struct ScenarioFlags {
    current: Arc<ArcSwap<Flags>>,
    chance: Arc<Chance>,
}

impl ScenarioFlags {
    /// The variables [`Self::watch_from_env`] reads, as `--help` lists them.
    pub const VARIABLES: &[Variable] = &[
        Variable {
            name: "FLAGS_FILE",
            default: Some("flags.json"),
            help: "the scenario flags, flagd's format, re-read while running; missing: every \
                   flag off",
        },
        Variable {
            name: "FLAGS_SEED",
            default: None,
            help: "seeds the draws of authorFailureRate, for repeatable runs; unset: random",
        },
    ];

    /// Reads `FLAGS_FILE` (default `flags.json`) now, and again every [`POLL_INTERVAL`] in the
    /// background; `FLAGS_SEED` seeds the draws. Needs a tokio runtime.
    pub fn watch_from_env() -> Result<Self, SettingsError> {
        let path = PathBuf::from(var("FLAGS_FILE").unwrap_or_else(|| "flags.json".to_owned()));
        let seed = parse_var("FLAGS_SEED", rand::random::<u64>())?;
        let flags = Self::fixed(Flags::default(), seed);
        let mut watch = Watch::new(path, flags.current.clone());
        watch.see(read(&watch.path));
        tokio::spawn(async move {
            loop {
                let pause = match watch.pending {
                    Some(_) => REREAD_DELAY,
                    None => POLL_INTERVAL,
                };
                tokio::time::sleep(pause).await;
                let path = watch.path.clone();
                match tokio::task::spawn_blocking(move || read(&path)).await {
                    Ok(reading) => watch.see(reading),
                    Err(error) => tracing::warn!(%error, "cannot read the scenario flags"),
                }
            }
        });
        Ok(flags)
    }

    /// These flags for good, with draws seeded by `seed`: for tests.
    pub fn fixed(flags: Flags, seed: u64) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(flags)),
            chance: Arc::new(Chance::new(seed)),
        }
    }

    /// The flags in force: one atomic load.
    pub fn current(&self) -> arc_swap::Guard<Arc<Flags>> {
        self.current.load()
    }

    /// Whether this request is among the `share` (0 to 1) that a flag applies to.
    pub fn draw(&self, share: f64) -> bool {
        self.chance.draw(share)
    }
}

/// Decides, draw by draw, whether a request falls in a share. The n-th draw depends only on the
/// seed and n (it is the n-th number of rand_chacha's ChaCha8 seeded with it, which the generator
/// can seek to), so with a fixed seed (`FLAGS_SEED`) the first N draws are the same N numbers in
/// every run, whichever requests get them: a test sending N requests sees the same number of
/// failures every time. Without a seed, the seed is random and so is every run. Lock-free: one
/// atomic increment per draw, and a copy of the seeded generator moved to the draw's place.
struct Chance {
    seeded: ChaCha8Rng,
    draws: AtomicU64,
}

impl Chance {
    fn new(seed: u64) -> Self {
        Self {
            seeded: ChaCha8Rng::seed_from_u64(seed),
            draws: AtomicU64::new(0),
        }
    }

    fn draw(&self, share: f64) -> bool {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let mut generator = self.seeded.clone();
        // Two 32-bit words a draw.
        generator.set_word_pos(u128::from(n) * 2);
        // The top 53 bits as a number in [0, 1).
        let uniform = (generator.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        uniform < share
    }
}

/// What one reading of the file found.
#[derive(Debug, Clone, PartialEq)]
enum Reading {
    Missing,
    Unreadable(String),
    Bytes(Vec<u8>),
}

fn read(path: &Path) -> Reading {
    match std::fs::read(path) {
        Ok(bytes) => Reading::Bytes(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Reading::Missing,
        Err(error) => Reading::Unreadable(error.to_string()),
    }
}

/// Turns readings of the file into the flags in force, and logs each change once.
struct Watch {
    path: PathBuf,
    current: Arc<ArcSwap<Flags>>,
    /// The last reading acted on (`None` before the first).
    last: Option<Reading>,
    /// Why the last reading did not parse, until it is read the same once more and reported.
    pending: Option<String>,
}

impl Watch {
    fn new(path: PathBuf, current: Arc<ArcSwap<Flags>>) -> Self {
        Self {
            path,
            current,
            last: None,
            pending: None,
        }
    }

    fn see(&mut self, reading: Reading) {
        let file = self.path.display();
        if self.last.as_ref() == Some(&reading) {
            // Read the same twice: not caught mid-write, really broken.
            if let Some(error) = self.pending.take() {
                tracing::warn!(
                    %file,
                    %error,
                    flags = %self.current.load(),
                    "the scenario flags file does not parse; the flags in force stay"
                );
            }
            return;
        }
        self.pending = None;
        match &reading {
            Reading::Missing => self.apply(Flags::default(), "no scenario flags file; all off"),
            Reading::Unreadable(error) => tracing::warn!(
                %file,
                %error,
                flags = %self.current.load(),
                "cannot read the scenario flags file; the flags in force stay"
            ),
            Reading::Bytes(bytes) => match parse(bytes) {
                Ok(parsed) => {
                    for note in &parsed.notes {
                        tracing::warn!(%file, "scenario flags: {note}");
                    }
                    self.apply(parsed.flags, "scenario flags read");
                }
                Err(error) => self.pending = Some(error),
            },
        }
        self.last = Some(reading);
    }

    fn apply(&self, flags: Flags, message: &str) {
        tracing::info!(file = %self.path.display(), %flags, "{message}");
        self.current.store(Arc::new(flags));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(text: &str) -> Parsed {
        parse(text.as_bytes()).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn one(key: &str, state: &str, value: &str) -> String {
        format!(
            r#"{{"flags": {{"{key}": {{"state": "{state}", "variants": {{"off": 0, "on": {value}}},
                "defaultVariant": "on"}}}}}}"#
        )
    }

    #[test]
    fn an_enabled_flag_is_its_default_variants_value() {
        let parsed = flags(
            r#"{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {
                "authorFailureRate": {"state": "ENABLED", "variants": {"off": 0, "20%": 0.2},
                                      "defaultVariant": "20%"},
                "authorLatencyMs": {"state": "ENABLED", "variants": {"off": 0, "slow": 2500},
                                    "defaultVariant": "slow", "targeting": {}},
                "blogDatabaseLatencyMs": {"state": "ENABLED", "variants": {"off": 0, "1s": 1000},
                                          "defaultVariant": "1s"},
                "blogDatabaseBottleneck": {"state": "ENABLED", "variants": {"off": false, "on": true},
                                           "defaultVariant": "on"}}}"#,
        );
        assert_eq!(parsed.notes, Vec::<String>::new());
        let flags = parsed.flags;
        let rate = flags.author_failure_rate.as_ref().unwrap();
        assert_eq!((rate.value, rate.variant.as_str()), (0.2, "20%"));
        assert_eq!(
            flags.author_latency.as_ref().unwrap().value,
            Duration::from_millis(2500)
        );
        assert_eq!(
            flags.blog_database_latency.as_ref().unwrap().value,
            Duration::from_secs(1)
        );
        assert!(flags.blog_database_bottleneck.as_ref().unwrap().value);
        assert_eq!(
            flags.to_string(),
            "authorFailureRate=20% (0.2), authorLatencyMs=slow (2500), \
             blogDatabaseLatencyMs=1s (1000), blogDatabaseBottleneck=on (true)"
        );
    }

    #[test]
    fn disabled_absent_and_neutral_flags_are_off() {
        for text in [
            r#"{"flags": {}}"#.to_owned(),
            one(AUTHOR_FAILURE_RATE, "DISABLED", "0.5"),
            one(AUTHOR_FAILURE_RATE, "ENABLED", "0"),
            one(AUTHOR_LATENCY_MS, "ENABLED", "0"),
            one(BLOG_DATABASE_BOTTLENECK, "ENABLED", "false"),
            // flagd's "use the application's default".
            r#"{"flags": {"authorLatencyMs": {"state": "ENABLED", "variants": {"on": 5},
                "defaultVariant": null}}}"#
                .to_owned(),
        ] {
            let parsed = flags(&text);
            assert_eq!(parsed.flags, Flags::default(), "{text}");
            assert_eq!(parsed.flags.to_string(), "all off");
            assert_eq!(parsed.notes, Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn a_wrong_type_or_range_is_off_with_a_note_naming_the_flag_and_value() {
        for (key, value, expected) in [
            (AUTHOR_FAILURE_RATE, "1.5", "a number from 0 to 1"),
            (AUTHOR_FAILURE_RATE, "-0.1", "a number from 0 to 1"),
            (AUTHOR_FAILURE_RATE, "\"20%\"", "a number from 0 to 1"),
            (AUTHOR_LATENCY_MS, "-5", "a whole number of milliseconds"),
            (
                BLOG_DATABASE_LATENCY_MS,
                "2.5",
                "a whole number of milliseconds",
            ),
            (
                BLOG_DATABASE_LATENCY_MS,
                "true",
                "a whole number of milliseconds",
            ),
            (BLOG_DATABASE_BOTTLENECK, "1", "true or false"),
        ] {
            let parsed = flags(&one(key, "ENABLED", value));
            assert_eq!(parsed.flags, Flags::default(), "{key} = {value}");
            assert_eq!(parsed.notes.len(), 1, "{:?}", parsed.notes);
            let note = &parsed.notes[0];
            assert!(
                note.starts_with(&format!("flag {key} wants {value} (variant \"on\")"))
                    && note.contains(expected),
                "{note}"
            );
        }
    }

    #[test]
    fn unknown_flags_and_targeting_are_noted_and_ignored() {
        let parsed = flags(
            r#"{"flags": {
                "cartFailure": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"},
                "authorLatencyMs": {"state": "ENABLED", "variants": {"off": 0, "on": 300},
                    "defaultVariant": "on",
                    "targeting": {"fractional": [["on", 50], ["off", 50]]}}}}"#,
        );
        assert_eq!(
            parsed.flags.author_latency.unwrap().value,
            Duration::from_millis(300)
        );
        assert_eq!(parsed.notes.len(), 2, "{:?}", parsed.notes);
        assert!(parsed.notes[0].contains("targeting rules are not evaluated"));
        assert!(parsed.notes[1].starts_with("unknown flag \"cartFailure\" ignored"));
    }

    #[test]
    fn what_is_not_flagds_format_does_not_parse() {
        for (text, reason) in [
            ("", "EOF"),
            ("{\"flags\": {", "EOF"),
            ("[]", "invalid type"),
            ("{}", "missing field `flags`"),
            (r#"{"flags": []}"#, "flags: invalid type"),
            (
                r#"{"flags": {"authorLatencyMs": {"state": "ON", "variants": {}, "defaultVariant": "x"}}}"#,
                "flags.authorLatencyMs.state: unknown variant `ON`",
            ),
            (
                r#"{"flags": {"authorLatencyMs": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "b"}}}"#,
                "flags.authorLatencyMs.defaultVariant: \"b\" is not one of its variants (a)",
            ),
            (
                r#"{"flags": {"authorLatencyMs": {"state": "ENABLED", "variants": {"": 1}, "defaultVariant": ""}}}"#,
                "a variant has an empty name",
            ),
            (r#"{"flags": {}} {}"#, "trailing characters"),
        ] {
            let error = parse(text.as_bytes()).expect_err(text);
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn the_shipped_file_names_every_flag_and_switches_none_on() {
        let shipped = include_bytes!("../../../flags.json");
        let parsed = parse(shipped).expect("flags.json parses");
        assert_eq!(parsed.flags, Flags::default());
        assert_eq!(parsed.notes, Vec::<String>::new());
        let document: serde_json::Value = serde_json::from_slice(shipped).unwrap();
        let mut keys: Vec<&str> = document["flags"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut known = KNOWN.to_vec();
        known.sort_unstable();
        assert_eq!(keys, known);
        for key in KNOWN {
            assert_eq!(document["flags"][key]["state"], "DISABLED", "{key}");
        }
    }

    #[test]
    fn the_nth_draw_is_the_nth_number_of_the_seeded_generator() {
        let chance = Chance::new(9);
        let mut sequence = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..100 {
            let uniform = (sequence.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            // Just above the number: drawn; the number itself: not.
            assert!(chance.draw(uniform + f64::EPSILON));
        }
        let mut sequence = ChaCha8Rng::seed_from_u64(9);
        let again = Chance::new(9);
        for _ in 0..100 {
            let uniform = (sequence.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            assert!(!again.draw(uniform));
        }
    }

    #[test]
    fn a_seed_fixes_the_draws_and_the_share_holds() {
        let share = |seed, draws: u32| {
            let chance = Chance::new(seed);
            (0..draws).filter(|_| chance.draw(0.2)).count() as f64 / f64::from(draws)
        };
        assert_eq!(share(7, 1000), share(7, 1000));
        for seed in [0, 1, 42, u64::MAX] {
            let observed = share(seed, 100_000);
            assert!((observed - 0.2).abs() < 0.005, "seed {seed}: {observed}");
        }
        let chance = Chance::new(3);
        assert!((0..1000).all(|_| !chance.draw(0.0)));
        assert!((0..1000).all(|_| chance.draw(1.0)));
    }

    #[test]
    fn a_broken_file_keeps_the_last_good_flags_and_a_missing_one_turns_all_off() {
        let current = Arc::new(ArcSwap::from_pointee(Flags::default()));
        let mut watch = Watch::new(PathBuf::from("flags.json"), current.clone());
        let good = Reading::Bytes(one(AUTHOR_LATENCY_MS, "ENABLED", "300").into_bytes());
        watch.see(good.clone());
        let in_force = current.load_full();
        assert!(in_force.author_latency.is_some());

        // Broken: nothing changes, and it is reported once it reads the same twice.
        let broken = Reading::Bytes(b"{\"flags\": {".to_vec());
        watch.see(broken.clone());
        assert!(watch.pending.is_some());
        watch.see(broken.clone());
        assert!(watch.pending.is_none());
        assert_eq!(current.load_full(), in_force);

        // Caught mid-write, then complete: no report, and the new flags apply.
        watch.see(Reading::Bytes(b"{\"fla".to_vec()));
        watch.see(Reading::Bytes(
            one(AUTHOR_LATENCY_MS, "ENABLED", "400").into_bytes(),
        ));
        assert!(watch.pending.is_none());
        assert_eq!(
            current.load().author_latency.as_ref().unwrap().value,
            Duration::from_millis(400)
        );

        watch.see(Reading::Unreadable("Is a directory (os error 21)".into()));
        assert!(current.load().author_latency.is_some());
        watch.see(Reading::Missing);
        assert_eq!(**current.load(), Flags::default());
    }
}
