//! Load for the fault tests and the soak: many concurrent requests of a realistic mix, each one
//! recorded with when it started, how long it took and how it ended, so that a test can ask what
//! the platform answered before, during and after a fault.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::json;

use crate::{Api, Platform};

/// How long the load's client waits for an answer. Well above the 5 s within which the contract
/// wants every answer, so that a slow answer is measured rather than cut off, yet a hang still
/// ends (and is recorded as one).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a closed-loop sender waits after a failure (no answer, or a 5xx).
const FAILURE_BACKOFF: Duration = Duration::from_millis(10);

/// What a request of the mix does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `GET /blogs?limit=20`: blog → author → MongoDB (find and count).
    List,
    /// `GET /blogs/{id}` of a blog that exists: blog → author → MongoDB (find).
    Read,
    /// `POST /blogs` with a title no other request uses: blog → author → MongoDB (insert).
    Write,
    /// `POST /login` with the right password: authen → MongoDB, argon2id, token signing.
    Login,
    /// `POST /users` by the admin: user → author, argon2id, MongoDB (insert).
    CreateUser,
}

impl Kind {
    /// The status a healthy platform answers with.
    pub fn success(self) -> u16 {
        match self {
            Kind::Write | Kind::CreateUser => 201,
            Kind::List | Kind::Read | Kind::Login => 200,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::List => "GET /blogs?limit=20",
            Kind::Read => "GET /blogs/{id}",
            Kind::Write => "POST /blogs",
            Kind::Login => "POST /login",
            Kind::CreateUser => "POST /users",
        }
    }
}

/// One request of a load run.
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: Kind,
    pub started: Instant,
    pub latency: Duration,
    /// The status, or why no complete answer came (connection refused or reset, timeout, ...).
    pub outcome: Result<u16, String>,
    /// A write's title or a new user's name: unique to this request, so the database can be asked
    /// whether it was stored.
    pub name: Option<String>,
    /// The id of what a 201 created.
    pub id: Option<String>,
}

impl Record {
    pub fn finished(&self) -> Instant {
        self.started + self.latency
    }

    pub fn status(&self) -> Option<u16> {
        self.outcome.as_ref().ok().copied()
    }

    pub fn succeeded(&self) -> bool {
        self.status() == Some(self.kind.success())
    }

    /// One line for failure messages, with times relative to `origin`.
    pub fn describe(&self, origin: Instant) -> String {
        let at = self.started.saturating_duration_since(origin).as_secs_f64();
        let outcome = match &self.outcome {
            Ok(status) => status.to_string(),
            Err(error) => format!("no answer ({error})"),
        };
        format!(
            "started at +{at:.3} s: {} -> {outcome} in {:?}",
            self.kind.label(),
            self.latency
        )
    }
}

/// The first few `records`, one per line, for failure messages.
pub fn describe(records: &[&Record], origin: Instant) -> String {
    let mut lines: Vec<String> = records
        .iter()
        .take(10)
        .map(|record| format!("  {}", record.describe(origin)))
        .collect();
    if records.len() > 10 {
        lines.push(format!("  ... and {} more", records.len() - 10));
    }
    lines.join("\n")
}

/// Counts by status, e.g. `200: 812, 201: 95, 503: 40, no answer: 2`.
pub fn status_counts<'a>(records: impl IntoIterator<Item = &'a Record>) -> String {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for record in records {
        let key = match record.status() {
            Some(status) => status.to_string(),
            None => "no answer".to_owned(),
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `percent`th percentile (nearest rank) of the answered requests' latencies.
pub fn latency_percentile<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    percent: usize,
) -> Duration {
    let mut latencies: Vec<Duration> = records
        .into_iter()
        .filter(|record| record.outcome.is_ok())
        .map(|record| record.latency)
        .collect();
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    latencies.sort();
    let rank = (percent * latencies.len()).div_ceil(100).max(1);
    latencies[rank - 1]
}

/// Which requests to send, in what proportions, and as whom. Clones share the known blogs and
/// the sequence number, so concurrent senders never reuse a title or a username.
#[derive(Clone)]
pub struct Mix {
    /// Each kind with its share (out of the sum of the weights).
    weights: Vec<(Kind, u64)>,
    writer_token: Arc<str>,
    admin_token: Arc<str>,
    /// Blogs known to exist: a few made by [`prepare`](Self::prepare), then every 201.
    blogs: Arc<Mutex<Vec<String>>>,
    sequence: Arc<AtomicU64>,
}

/// The user every blog request and login of the mix acts as (READ and WRITE).
pub const LOAD_USER: &str = "load-writer";

impl Mix {
    /// Creates [`LOAD_USER`] and a few blogs (so that reads have something to read) and returns a
    /// mix of `weights`, e.g. `&[(Kind::List, 6), (Kind::Write, 1)]`.
    pub async fn prepare(platform: &Platform, weights: &[(Kind, u64)]) -> Self {
        assert!(weights.iter().any(|(_, weight)| *weight > 0));
        let writer_token = platform.user_token(LOAD_USER, &["READ", "WRITE"]).await;
        let mut blogs = Vec::new();
        for i in 0..Self::SEED_BLOGS {
            let reply = platform
                .api
                .post_blog(
                    Some(&writer_token),
                    &format!("Seed {i}"),
                    "Read under load.",
                )
                .await;
            assert_eq!(reply.status, 201, "{}", reply.text);
            blogs.push(reply.body["id"].as_str().expect("an id").to_owned());
        }
        Self {
            weights: weights.to_vec(),
            writer_token: writer_token.into(),
            admin_token: platform.admin_token().await.into(),
            blogs: Arc::new(Mutex::new(blogs)),
            sequence: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many blogs [`prepare`](Self::prepare) writes.
    pub const SEED_BLOGS: u64 = 5;

    /// [`LOAD_USER`]'s password.
    pub fn password() -> String {
        format!("{LOAD_USER}-password")
    }

    /// The same users and blogs in other proportions.
    pub fn with_weights(&self, weights: &[(Kind, u64)]) -> Self {
        assert!(weights.iter().any(|(_, weight)| *weight > 0));
        Self {
            weights: weights.to_vec(),
            ..self.clone()
        }
    }

    /// The ids of the blogs created so far (the seeds and every 201).
    pub fn blogs(&self) -> Vec<String> {
        self.blogs.lock().unwrap().clone()
    }

    /// Picks the next request's kind: the weights' shares, spread evenly by hashing a counter.
    fn next(&self) -> (u64, Kind) {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let total: u64 = self.weights.iter().map(|(_, weight)| weight).sum();
        let mut slot = splitmix64(n) % total;
        for (kind, weight) in &self.weights {
            if slot < *weight {
                return (n, *kind);
            }
            slot -= weight;
        }
        unreachable!("the slot is below the total of the weights")
    }

    /// Sends the next request of the mix and records what came back.
    pub async fn send(&self, api: &Api) -> Record {
        let (n, kind) = self.next();
        let token = Some(&*self.writer_token);
        let started = Instant::now();
        let (name, reply) = match kind {
            Kind::List => {
                let reply = api
                    .try_send("blog", Method::GET, "/blogs?limit=20", token, None)
                    .await;
                (None, reply)
            }
            Kind::Read => {
                let id = {
                    let blogs = self.blogs.lock().unwrap();
                    blogs[(splitmix64(!n) % blogs.len() as u64) as usize].clone()
                };
                let path = format!("/blogs/{id}");
                (
                    None,
                    api.try_send("blog", Method::GET, &path, token, None).await,
                )
            }
            Kind::Write => {
                let title = format!("load {n}");
                let body = json!({ "title": title, "content": "Written under load." });
                let reply = api
                    .try_send("blog", Method::POST, "/blogs", token, Some(body))
                    .await;
                (Some(title), reply)
            }
            Kind::Login => {
                let body = json!({ "username": LOAD_USER, "password": Self::password() });
                let reply = api
                    .try_send("authen", Method::POST, "/login", None, Some(body))
                    .await;
                (None, reply)
            }
            Kind::CreateUser => {
                let username = format!("load-user-{n}");
                let body = json!({
                    "username": username,
                    "password": "load-user-password",
                    "permissions": ["READ"],
                });
                let admin = Some(&*self.admin_token);
                let reply = api
                    .try_send("user", Method::POST, "/users", admin, Some(body))
                    .await;
                (Some(username), reply)
            }
        };
        let latency = started.elapsed();
        let id = reply
            .as_ref()
            .ok()
            .filter(|reply| reply.status == 201)
            .and_then(|reply| reply.body["id"].as_str())
            .map(str::to_owned);
        if kind == Kind::Write
            && let Some(id) = &id
        {
            self.blogs.lock().unwrap().push(id.clone());
        }
        Record {
            kind,
            started,
            latency,
            outcome: reply.map(|reply| reply.status),
            name,
            id,
        }
    }
}

/// A well-mixed hash of a counter (SplitMix64's finaliser), so consecutive requests get unrelated
/// kinds and blogs while a run stays reproducible.
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Closed-loop load: `workers` senders, each sending its next request as soon as the last one is
/// answered, until [`stop`](Self::stop).
pub struct Load {
    /// When the load began: the origin of [`Record::describe`]'s times.
    pub origin: Instant,
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<Record>>>,
    workers: tokio::task::JoinSet<()>,
}

impl Load {
    pub fn closed_loop(api: &Api, mix: &Mix, workers: usize) -> Self {
        let api = api.with_timeout(CLIENT_TIMEOUT);
        let stop = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let (api, mix, stop, records) =
                (api.clone(), mix.clone(), stop.clone(), records.clone());
            set.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let record = mix.send(&api).await;
                    // A failure comes back in microseconds while a service is down; back off a
                    // little, as a client would, rather than spin the machine.
                    let failed = record.status().is_none_or(|status| status >= 500);
                    records.lock().unwrap().push(record);
                    if failed {
                        tokio::time::sleep(FAILURE_BACKOFF).await;
                    }
                }
            });
        }
        Self {
            origin: Instant::now(),
            stop,
            records,
            workers: set,
        }
    }

    /// The requests answered (or failed) so far.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap().clone()
    }

    /// How many requests have ended so far.
    pub fn count(&self) -> usize {
        self.records.lock().unwrap().len()
    }

    /// Lets the load run until `done` holds for the records so far, failing after `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Record]) -> bool,
    ) {
        let started = Instant::now();
        while !done(&self.records.lock().unwrap()) {
            assert!(started.elapsed() < timeout, "no {what} within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops starting requests, waits for those in flight and returns every record, in the order
    /// the requests ended.
    pub async fn stop(mut self) -> Vec<Record> {
        self.stop.store(true, Ordering::Relaxed);
        while let Some(joined) = self.workers.join_next().await {
            joined.expect("a load worker panicked");
        }
        std::mem::take(&mut *self.records.lock().unwrap())
    }
}

/// What an open-loop run did.
pub struct OpenLoop {
    pub records: Vec<Record>,
    /// Starts skipped because `max_in_flight` requests were still waiting for answers.
    pub skipped: u64,
    /// From the first start to the last answer.
    pub elapsed: Duration,
}

/// Open-loop load: starts a request every `1 / rate` seconds for `duration`, whatever the
/// platform's pace, with at most `max_in_flight` waiting at a time. A start that finds that many
/// in flight is skipped and counted, never sent late, so an overloaded platform shows as a lower
/// achieved rate instead of a schedule that drifts with it.
pub async fn open_loop(
    api: &Api,
    mix: &Mix,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
) -> OpenLoop {
    let api = api.with_timeout(CLIENT_TIMEOUT);
    let records = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    let mut skipped = 0;
    let origin = tokio::time::Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate);
    for i in 0.. {
        let slot = interval.mul_f64(i as f64);
        if slot >= duration {
            break;
        }
        tokio::time::sleep_until(origin + slot).await;
        if in_flight.load(Ordering::Relaxed) >= max_in_flight {
            skipped += 1;
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (api, mix, records, in_flight) =
            (api.clone(), mix.clone(), records.clone(), in_flight.clone());
        senders.spawn(async move {
            let record = mix.send(&api).await;
            records.lock().unwrap().push(record);
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
        // Reap finished senders as we go, so a long run does not keep thousands of handles.
        while let Some(joined) = senders.try_join_next() {
            joined.expect("a load sender panicked");
        }
    }
    while let Some(joined) = senders.join_next().await {
        joined.expect("a load sender panicked");
    }
    let records = std::mem::take(&mut *records.lock().unwrap());
    OpenLoop {
        records,
        skipped,
        elapsed: origin.elapsed(),
    }
}
