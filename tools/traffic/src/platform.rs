//! Talking to the platform: the setup (admin login, the run's users, some blogs to read) and one
//! request of each kind.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use crate::cli::Settings;
use crate::mix::{Kind, Rng};
use crate::stats::{Answer, Stats, TraceRef};

/// How many blog ids to remember for `GET /blogs/{id}`.
const KNOWN_BLOGS_MAX: usize = 1000;
/// Setup posts blogs until at least this many are known, so that there is something to read.
const KNOWN_BLOGS_MIN: usize = 5;
/// How often a setup request is sent while it answers 503, and the pause between (the platform's
/// `Retry-After`).
const SETUP_ATTEMPTS: u32 = 5;
const SETUP_RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct User {
    pub name: String,
    password: String,
    /// Refreshed by every good login, so a run longer than a token's lifetime keeps working.
    token: RwLock<String>,
}

impl User {
    fn token(&self) -> String {
        self.token.read().map(|t| t.clone()).unwrap_or_default()
    }

    fn set_token(&self, token: String) {
        if let Ok(mut slot) = self.token.write() {
            *slot = token;
        }
    }
}

pub struct Platform {
    http: reqwest::Client,
    authen: String,
    user: String,
    blog: String,
    run_id: String,
    pub readers: Vec<Arc<User>>,
    pub writers: Vec<Arc<User>>,
    blogs: Mutex<Vec<String>>,
    pub stats: Mutex<Stats>,
}

/// An HTTP answer, whatever its status, with its body.
struct Response {
    status: u16,
    trace: Option<TraceRef>,
    body: Vec<u8>,
}

#[derive(Deserialize)]
struct LoginAnswer {
    access_token: String,
}

#[derive(Deserialize)]
struct BlogAnswer {
    id: String,
}

#[derive(Deserialize)]
struct BlogPage {
    items: Vec<BlogAnswer>,
}

#[derive(Deserialize, Default)]
struct Problem {
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
}

/// The most specific message of an error chain ("Connection refused (os error 111)" rather than
/// "error sending request for url (...)").
pub fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        message = inner.to_string();
        source = inner.source();
    }
    message
}

/// " (title: detail)" of a problem+json body, for error messages.
fn problem_of(body: &[u8]) -> String {
    let problem: Problem = serde_json::from_slice(body).unwrap_or_default();
    match (problem.title.is_empty(), problem.detail.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!(" ({})", problem.title),
        (false, false) => format!(" ({}: {})", problem.title, problem.detail),
    }
}

fn words(rng: &mut Rng, count: u64) -> String {
    const WORDS: [&str; 16] = [
        "trace", "span", "latency", "mongo", "token", "author", "blog", "request", "service",
        "jaeger", "sampling", "context", "baggage", "tokio", "axum", "query",
    ];
    let mut text = String::new();
    for i in 0..count {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(rng.pick(&WORDS).copied().unwrap_or("trace"));
    }
    text
}

impl Platform {
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response, reqwest::Error> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let trace = response
            .headers()
            .get("traceresponse")
            .and_then(|v| v.to_str().ok())
            .and_then(TraceRef::parse);
        let body = response.bytes().await?.to_vec();
        Ok(Response {
            status,
            trace,
            body,
        })
    }

    /// Sends a setup request, again while it answers 503 (which stores nothing and says "try again
    /// shortly"), so that a scenario failing a share of the requests (docs/scenarios.md) does not
    /// stop the run before it starts.
    async fn send_setup(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Response, reqwest::Error> {
        let mut attempts = 1;
        loop {
            let answer = self.send(request()).await?;
            if answer.status != 503 || attempts == SETUP_ATTEMPTS {
                return Ok(answer);
            }
            attempts += 1;
            tokio::time::sleep(SETUP_RETRY_AFTER).await;
        }
    }

    async fn login(&self, username: &str, password: &str) -> Result<Response, reqwest::Error> {
        self.send(
            self.http
                .post(format!("{}/login", self.authen))
                .json(&json!({ "username": username, "password": password })),
        )
        .await
    }

    async fn post_blog(
        &self,
        token: &str,
        rng: &mut Rng,
        n: u64,
    ) -> Result<Response, reqwest::Error> {
        let title = format!("Traffic {} #{n}: {}", self.run_id, words(rng, 3));
        let content_words = 5 + rng.below(200);
        let content = words(rng, content_words);
        self.send(
            self.http
                .post(format!("{}/blogs", self.blog))
                .bearer_auth(token)
                .json(&json!({ "title": title, "content": content })),
        )
        .await
    }

    fn remember_blog(&self, body: &[u8], rng: &mut Rng) {
        if let Ok(blog) = serde_json::from_slice::<BlogAnswer>(body)
            && let Ok(mut blogs) = self.blogs.lock()
        {
            if blogs.len() < KNOWN_BLOGS_MAX {
                blogs.push(blog.id);
            } else {
                let slot = rng.below(blogs.len() as u64) as usize;
                blogs[slot] = blog.id;
            }
        }
    }

    pub fn known_blogs(&self) -> usize {
        self.blogs.lock().map(|b| b.len()).unwrap_or(0)
    }

    /// Logs in as the administrator, creates the run's users and logs them in, and makes sure
    /// there are a few blogs to read. Progress goes to stderr; the error is one line.
    pub async fn setup(
        settings: &Settings,
        run_id: &str,
        rng: &mut Rng,
    ) -> Result<Platform, String> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(3))
            .pool_max_idle_per_host(settings.concurrency)
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {}", describe(&e)))?;
        let mut platform = Platform {
            http,
            authen: settings.authen.clone(),
            user: settings.user.clone(),
            blog: settings.blog.clone(),
            run_id: run_id.to_owned(),
            readers: Vec::new(),
            writers: Vec::new(),
            blogs: Mutex::new(Vec::new()),
            stats: Mutex::new(Stats::default()),
        };

        for (service, url) in [
            ("authen-service", &platform.authen),
            ("user-service", &platform.user),
            ("blog-service", &platform.blog),
        ] {
            let health = platform.http.get(format!("{url}/healthz"));
            if let Err(e) = platform.send(health).await {
                return Err(format!(
                    "cannot reach {service} at {url} ({}): is the platform running? Start it with \
                     scripts/up.sh, or pass --authen/--user/--blog",
                    describe(&e)
                ));
            }
        }

        let unreachable = |what: &str, e: reqwest::Error| format!("{what}: {}", describe(&e));
        let admin = &settings.admin_user;
        let answer = platform
            .login(admin, &settings.admin_password)
            .await
            .map_err(|e| unreachable("admin login", e))?;
        let admin_token = match answer.status {
            200 => {
                serde_json::from_slice::<LoginAnswer>(&answer.body)
                    .map_err(|e| format!("admin login: unexpected answer: {e}"))?
                    .access_token
            }
            401 => {
                return Err(format!(
                    "the administrator '{admin}' could not log in (401): are --admin-user and \
                     --admin-password (ADMIN_USERNAME, ADMIN_PASSWORD or .data/admin-password) the \
                     platform's?"
                ));
            }
            status => {
                return Err(format!(
                    "admin login answered HTTP {status}{}",
                    problem_of(&answer.body)
                ));
            }
        };
        eprintln!("traffic: the administrator '{admin}' logged in");

        // Half readers, half writers (the odd one out writes).
        let writers = settings.users.div_ceil(2);
        let readers = settings.users - writers;
        let mut specs = Vec::new();
        for i in 1..=readers {
            specs.push((format!("{}-{run_id}-r{i}", settings.prefix), false));
        }
        for i in 1..=writers {
            specs.push((format!("{}-{run_id}-w{i}", settings.prefix), true));
        }
        for (name, writer) in specs {
            let password = format!("traffic-pass-{:016x}", rng.next_u64());
            let permissions: &[&str] = if writer {
                &["READ", "WRITE"]
            } else {
                &["READ"]
            };
            let answer = platform
                .send_setup(|| {
                    platform
                        .http
                        .post(format!("{}/users", platform.user))
                        .bearer_auth(&admin_token)
                        .json(&json!({
                            "username": name,
                            "password": password,
                            "permissions": permissions,
                        }))
                })
                .await
                .map_err(|e| unreachable("creating a user", e))?;
            if answer.status != 201 {
                return Err(format!(
                    "creating the user '{name}' answered HTTP {}{}{}",
                    answer.status,
                    problem_of(&answer.body),
                    if answer.status == 403 {
                        format!(": does '{admin}' have ADMIN?")
                    } else {
                        String::new()
                    }
                ));
            }
            let answer = platform
                .login(&name, &password)
                .await
                .map_err(|e| unreachable("a new user's login", e))?;
            let token = match (
                answer.status,
                serde_json::from_slice::<LoginAnswer>(&answer.body),
            ) {
                (200, Ok(login)) => login.access_token,
                (status, _) => {
                    return Err(format!(
                        "the new user '{name}' could not log in: HTTP {status}{}",
                        problem_of(&answer.body)
                    ));
                }
            };
            let user = Arc::new(User {
                name,
                password,
                token: RwLock::new(token),
            });
            if writer {
                platform.writers.push(user);
            } else {
                platform.readers.push(user);
            }
        }
        let names = |users: &[Arc<User>]| {
            users
                .iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        eprintln!(
            "traffic: created and logged in {} (READ) and {} (READ, WRITE)",
            names(&platform.readers),
            names(&platform.writers)
        );

        // Blogs to read: the newest hundred, and a few new ones if there are not enough.
        let writer = platform.writers[0].token();
        let page = platform
            .send_setup(|| {
                platform
                    .http
                    .get(format!("{}/blogs?limit=100&offset=0", platform.blog))
                    .bearer_auth(&writer)
            })
            .await
            .map_err(|e| unreachable("listing the blogs", e))?;
        if page.status != 200 {
            return Err(format!(
                "listing the blogs answered HTTP {}{}",
                page.status,
                problem_of(&page.body)
            ));
        }
        if let Ok(page) = serde_json::from_slice::<BlogPage>(&page.body)
            && let Ok(mut blogs) = platform.blogs.lock()
        {
            blogs.extend(page.items.into_iter().map(|b| b.id));
        }
        let mut posted = 0;
        let mut unavailable = 0;
        while platform.known_blogs() < KNOWN_BLOGS_MIN {
            let answer = platform
                .post_blog(&writer, rng, posted)
                .await
                .map_err(|e| unreachable("posting a blog", e))?;
            if answer.status == 503 && unavailable + 1 < SETUP_ATTEMPTS {
                unavailable += 1;
                tokio::time::sleep(SETUP_RETRY_AFTER).await;
                continue;
            }
            if answer.status != 201 {
                return Err(format!(
                    "posting a blog answered HTTP {}{}",
                    answer.status,
                    problem_of(&answer.body)
                ));
            }
            platform.remember_blog(&answer.body, rng);
            posted += 1;
        }
        eprintln!(
            "traffic: {} blogs known to read{}",
            platform.known_blogs(),
            if posted > 0 {
                format!(" ({posted} posted now)")
            } else {
                String::new()
            }
        );
        Ok(platform)
    }

    /// Sends one request of `kind`, its details drawn from `rng`, and records the outcome.
    pub async fn run_one(&self, kind: Kind, mut rng: Rng, n: u64) {
        let rng = &mut rng;
        let reader = rng.pick(&self.readers).cloned();
        let writer = rng.pick(&self.writers).cloned();
        let (Some(reader), Some(writer)) = (reader, writer) else {
            return;
        };
        let anyone = if rng.chance(50) { &reader } else { &writer };
        let started = Instant::now();
        let result = match kind {
            Kind::ListBlogs => {
                let offset = if rng.chance(50) { 0 } else { 1 + rng.below(40) };
                let url = format!("{}/blogs?limit=20&offset={offset}", self.blog);
                self.send(self.http.get(url).bearer_auth(anyone.token()))
                    .await
            }
            Kind::GetBlog => {
                let known = self
                    .blogs
                    .lock()
                    .ok()
                    .and_then(|blogs| rng.pick(&blogs).cloned());
                // One in ten asks for an id that cannot exist: an ObjectId from 1970.
                let id = match known {
                    Some(id) if !rng.chance(10) => id,
                    _ => format!("00000000{:016x}", rng.next_u64()),
                };
                let url = format!("{}/blogs/{id}", self.blog);
                self.send(self.http.get(url).bearer_auth(anyone.token()))
                    .await
            }
            Kind::WriterPost => {
                let response = self.post_blog(&writer.token(), rng, n).await;
                if let Ok(r) = &response
                    && r.status == 201
                {
                    self.remember_blog(&r.body, rng);
                }
                response
            }
            Kind::ReaderPost => self.post_blog(&reader.token(), rng, n).await,
            Kind::BadLogin => {
                let password = format!("wrong-password-{n}");
                if rng.chance(50) {
                    self.login(&anyone.name, &password).await
                } else {
                    let nobody = format!("nobody-{}-{n}", self.run_id);
                    self.login(&nobody, &password).await
                }
            }
            Kind::GoodLogin => {
                let response = self.login(&anyone.name, &anyone.password).await;
                if let Ok(r) = &response
                    && r.status == 200
                    && let Ok(login) = serde_json::from_slice::<LoginAnswer>(&r.body)
                {
                    anyone.set_token(login.access_token);
                }
                response
            }
        };
        let latency = started.elapsed();
        let outcome = result
            .map(|r| Answer {
                status: r.status,
                trace: r.trace,
            })
            .map_err(|e| describe(&e));
        if let Ok(mut stats) = self.stats.lock() {
            stats.record(kind, latency, outcome);
        }
    }
}
