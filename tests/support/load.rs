//! Load for the fault tests and the soak: many concurrent requests of a realistic mix, each one
//! recorded with when it started, how long it took and how it ended, so that a test can ask what
//! the platform answered before, during and after a fault. The schedules, the records and the
//! report come from the load engine (`loadgen`); what a request of each kind sends is here.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use loadgen::{Answer, ClosedLoop, Progress, Rng, TraceRef};
pub use loadgen::{describe, latency_percentile, status_counts};
use reqwest::Method;
use serde_json::json;

use crate::{Api, Platform, Reply};

/// How long the load's client waits for an answer. Well above the 5 s within which every answer
/// is due, so that a slow answer is measured rather than cut off, yet a hang still ends (and is
/// recorded as one).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

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
}

impl loadgen::Kind for Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::List => "GET /blogs?limit=20",
            Kind::Read => "GET /blogs/{id}",
            Kind::Write => "POST /blogs",
            Kind::Login => "POST /login",
            Kind::CreateUser => "POST /users",
        }
    }

    fn expects(self, status: u16) -> bool {
        status == self.success()
    }
}

/// What a request wrote, so the database can be asked whether it was stored.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// A write's title or a new user's name: unique to this request.
    pub name: Option<String>,
    /// The id of what a 201 created.
    pub id: Option<String>,
}

/// One request of a load run.
pub type Record = loadgen::Record<Kind, Written>;

/// Which requests to send, in what proportions, and as whom. Clones share the known blogs and
/// the sequence number, so concurrent senders never reuse a title or a username.
#[derive(Clone)]
pub struct Mix {
    mix: loadgen::Mix<Kind>,
    writer_token: Arc<str>,
    admin_token: Arc<str>,
    /// Blogs known to exist: a few made by [`prepare`](Self::prepare), then every 201.
    blogs: Arc<Mutex<Vec<String>>>,
    /// Numbers the requests: their kind and details are drawn from it (reproducibly), and their
    /// titles and usernames carry it (uniquely).
    sequence: Arc<AtomicU64>,
}

/// The user every blog request and login of the mix acts as (READ and WRITE).
pub const LOAD_USER: &str = "load-writer";

impl Mix {
    /// Creates [`LOAD_USER`] and a few blogs (so that reads have something to read) and returns a
    /// mix of `weights`, e.g. `&[(Kind::List, 6), (Kind::Write, 1)]`.
    pub async fn prepare(platform: &Platform, weights: &[(Kind, u64)]) -> Self {
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
            mix: loadgen::Mix::new(weights),
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

    /// Sends the next request of the mix and records what came back.
    pub async fn send(&self, api: &Api) -> Record {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let (kind, mut rng) = self.mix.draw(n);
        let started = Instant::now();
        let (name, reply) = self.request(api, kind, n, &mut rng).await;
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
        let outcome = reply.map(|reply| Answer {
            status: reply.status,
            trace: reply.header("traceresponse").and_then(TraceRef::parse),
        });
        let note = Written { name, id };
        Record {
            kind,
            started,
            latency,
            outcome,
            note,
        }
    }

    /// Request `n`, of `kind`: what it wrote (a title, a username) and its answer.
    async fn request(
        &self,
        api: &Api,
        kind: Kind,
        n: u64,
        rng: &mut Rng,
    ) -> (Option<String>, Result<Reply, String>) {
        let token = &self.writer_token;
        match kind {
            Kind::List => (
                None,
                api.try_execute(
                    api.request("blog", Method::GET, "/blogs?limit=20")
                        .bearer_auth(token),
                )
                .await,
            ),
            Kind::Read => {
                let path = {
                    let blogs = self.blogs.lock().unwrap();
                    format!("/blogs/{}", rng.pick(&blogs).expect("seeded blogs"))
                };
                (
                    None,
                    api.try_execute(api.request("blog", Method::GET, &path).bearer_auth(token))
                        .await,
                )
            }
            Kind::Write => {
                let title = format!("load {n}");
                let body = json!({ "title": title, "content": "Written under load." });
                (
                    Some(title),
                    api.try_execute(
                        api.request("blog", Method::POST, "/blogs")
                            .bearer_auth(token)
                            .json(&body),
                    )
                    .await,
                )
            }
            Kind::Login => {
                let body = json!({ "username": LOAD_USER, "password": Self::password() });
                (
                    None,
                    api.try_execute(api.request("authen", Method::POST, "/login").json(&body))
                        .await,
                )
            }
            Kind::CreateUser => {
                let username = format!("load-user-{n}");
                let body = json!({
                    "username": username, "password": "load-user-password", "permissions": ["READ"],
                });
                let admin = &self.admin_token;
                (
                    Some(username),
                    api.try_execute(
                        api.request("user", Method::POST, "/users")
                            .bearer_auth(admin)
                            .json(&body),
                    )
                    .await,
                )
            }
        }
    }
}

/// Closed-loop load: `workers` senders, each sending its next request as soon as the last one is
/// answered, until [`stop`](Self::stop).
pub struct Load {
    /// When the load began: the origin of [`Record::describe`]'s times.
    pub origin: Instant,
    records: Arc<Mutex<Vec<Record>>>,
    senders: ClosedLoop,
}

impl Load {
    pub fn closed_loop(api: &Api, mix: &Mix, workers: usize) -> Self {
        let api = api.with_timeout(CLIENT_TIMEOUT);
        let records: Arc<Mutex<Vec<Record>>> = Arc::default();
        let (mix, recorded) = (mix.clone(), records.clone());
        let senders = ClosedLoop::start(workers, move |_| {
            let (api, mix, recorded) = (api.clone(), mix.clone(), recorded.clone());
            async move {
                let record = mix.send(&api).await;
                let failed = record.failed();
                recorded.lock().unwrap().push(record);
                failed
            }
        });
        Self {
            origin: Instant::now(),
            records,
            senders,
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
    pub async fn stop(self) -> Vec<Record> {
        self.senders.stop().await;
        std::mem::take(&mut *self.records.lock().unwrap())
    }
}

/// What an open-loop run did.
pub struct OpenLoop {
    pub records: Vec<Record>,
    /// Starts skipped because `max_in_flight` requests were still waiting for answers, or
    /// because the schedule fell more than a second behind.
    pub skipped: u64,
    /// From the first start to the last answer.
    pub elapsed: Duration,
}

/// Open-loop load: starts `rate` requests a second for `duration`, whatever the platform's pace,
/// with at most `max_in_flight` waiting at a time. A start that finds that many in flight is
/// skipped and counted, never sent late, so an overloaded platform shows as a lower achieved rate
/// instead of a schedule that drifts with it. Starts the test's own scheduler missed by up to a
/// second (a busy machine) go out at once.
pub async fn open_loop(
    api: &Api,
    mix: &Mix,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
) -> OpenLoop {
    let api = api.with_timeout(CLIENT_TIMEOUT);
    let records: Arc<Mutex<Vec<Record>>> = Arc::default();
    let plan = loadgen::OpenLoop {
        rate,
        duration,
        max_in_flight,
        late_grace: Some(Duration::from_secs(1)),
    };
    let origin = Instant::now();
    let never = std::future::pending::<()>;
    let tally = plan
        .run(&Progress::default(), never(), never(), |_| {
            let (api, mix, records) = (api.clone(), mix.clone(), records.clone());
            async move {
                let record = mix.send(&api).await;
                records.lock().unwrap().push(record);
            }
        })
        .await;
    let records = std::mem::take(&mut *records.lock().unwrap());
    OpenLoop {
        records,
        skipped: tally.skipped_busy + tally.skipped_late,
        elapsed: origin.elapsed(),
    }
}
