//! Talking to the platform: logging in, creating users and blogs, and one request of each kind
//! of the mix, recorded.

use std::{
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use loadgen::{Answer, Record, Rng, Summary, TraceRef, error_chain};
use serde::Deserialize;
use serde_json::json;

use crate::{cli::Target, mix::Kind};

/// How many blog ids to remember for `GET /blogs/{id}`.
const KNOWN_BLOGS_MAX: usize = 1000;
/// How often a setup request is sent while it answers 503, and the pause between (the platform's
/// `Retry-After`).
const SETUP_ATTEMPTS: u32 = 5;
const SETUP_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A user of the run, with the token of its last login.
pub struct User {
    pub name: String,
    password: String,
    /// Refreshed by every good login, so a run longer than a token's lifetime keeps working.
    token: RwLock<String>,
}

impl User {
    pub fn new(name: String, password: String, token: String) -> Self {
        Self {
            name,
            password,
            token: RwLock::new(token),
        }
    }

    pub fn token(&self) -> String {
        self.token.read().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    fn set_token(&self, token: String) {
        if let Ok(mut slot) = self.token.write() {
            *slot = token;
        }
    }
}

/// The platform as a client sees it, and what the run's requests got from it.
pub struct Client {
    http: reqwest::Client,
    pub target: Target,
    run_id: String,
    pub readers: Vec<Arc<User>>,
    pub writers: Vec<Arc<User>>,
    blogs: Mutex<Vec<String>>,
    pub summary: Mutex<Summary<Kind>>,
}

/// An HTTP answer, whatever its status, with its body.
pub struct Response {
    pub status: u16,
    trace: Option<TraceRef>,
    pub body: Vec<u8>,
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
    total: u64,
}

#[derive(Deserialize, Default)]
struct Problem {
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
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

/// An answer that is not `expected`, as one line: "creating a user answered HTTP 403 (...)".
fn unexpected(what: &str, answer: &Response) -> String {
    format!(
        "{what} answered HTTP {}{}",
        answer.status,
        problem_of(&answer.body)
    )
}

/// A request that got no answer, as one line.
fn unanswered(what: &str, error: &reqwest::Error) -> String {
    format!("{what}: {}", error_chain(error))
}

fn words(rng: &mut Rng, count: u64) -> String {
    const WORDS: [&str; 16] = [
        "trace", "span", "latency", "mongo", "token", "author", "blog", "request", "service",
        "jaeger", "sampling", "context", "baggage", "tokio", "axum", "query",
    ];
    let words: Vec<&str> = (0..count)
        .map(|_| rng.pick(&WORDS).copied().unwrap_or("trace"))
        .collect();
    words.join(" ")
}

impl Client {
    /// A client for `target`; `run_id` goes into what the run creates. No request yet.
    pub fn new(target: &Target, run_id: &str, concurrency: usize) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(target.timeout)
            .connect_timeout(Duration::from_secs(3))
            .pool_max_idle_per_host(concurrency)
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {}", error_chain(&e)))?;
        Ok(Self {
            http,
            target: target.clone(),
            run_id: run_id.to_owned(),
            readers: Vec::new(),
            writers: Vec::new(),
            blogs: Mutex::new(Vec::new()),
            summary: Mutex::new(Summary::default()),
        })
    }

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

    /// Fails with what to do unless every service the run talks to answers.
    pub async fn check_reachable(&self) -> Result<(), String> {
        let t = &self.target;
        for (service, url) in [
            ("authen-service", &t.authen),
            ("user-service", &t.user),
            ("blog-service", &t.blog),
        ] {
            if let Err(e) = self.send(self.http.get(format!("{url}/healthz"))).await {
                return Err(format!(
                    "cannot reach {service} at {url} ({}): is the platform running? Start it \
                     with scripts/up.sh, or pass --authen/--user/--blog",
                    error_chain(&e)
                ));
            }
        }
        Ok(())
    }

    async fn login(&self, username: &str, password: &str) -> Result<Response, reqwest::Error> {
        let body = json!({ "username": username, "password": password });
        self.send(
            self.http
                .post(format!("{}/login", self.target.authen))
                .json(&body),
        )
        .await
    }

    /// A token for `username`, or why there is none.
    pub async fn token(&self, username: &str, password: &str) -> Result<String, String> {
        let answer = self
            .login(username, password)
            .await
            .map_err(|e| unanswered(&format!("logging in as '{username}'"), &e))?;
        match (
            answer.status,
            serde_json::from_slice::<LoginAnswer>(&answer.body),
        ) {
            (200, Ok(login)) => Ok(login.access_token),
            _ => Err(unexpected(&format!("logging in as '{username}'"), &answer)),
        }
    }

    /// The administrator's token. user-service creates the administrator in the background
    /// once MongoDB answers, a moment after it is ready: a 401 is retried for `patience`.
    pub async fn admin_token(&self, patience: Duration) -> Result<String, String> {
        let (admin, password) = (&self.target.admin_user, &self.target.admin_password);
        let started = Instant::now();
        loop {
            let answer = self
                .login(admin, password)
                .await
                .map_err(|e| unanswered("admin login", &e))?;
            match answer.status {
                200 => {
                    return serde_json::from_slice::<LoginAnswer>(&answer.body)
                        .map(|login| login.access_token)
                        .map_err(|e| format!("admin login: unexpected answer: {e}"));
                }
                401 if started.elapsed() < patience => {
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
                401 => {
                    return Err(format!(
                        "the administrator '{admin}' could not log in (401): are --admin-user and \
                         --admin-password (ADMIN_USERNAME, ADMIN_PASSWORD or .data/admin-password) \
                         the platform's?"
                    ));
                }
                _ => return Err(unexpected("admin login", &answer)),
            }
        }
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

    /// Creates a user (as the administrator) and logs it in.
    pub async fn create_user(
        &self,
        admin_token: &str,
        name: &str,
        password: &str,
        permissions: &[String],
    ) -> Result<User, String> {
        let body = json!({ "username": name, "password": password, "permissions": permissions });
        let url = format!("{}/users", self.target.user);
        let answer = self
            .send_setup(|| self.http.post(&url).bearer_auth(admin_token).json(&body))
            .await
            .map_err(|e| unanswered("creating a user", &e))?;
        if answer.status != 201 {
            let hint = if answer.status == 403 {
                format!(": does '{}' have ADMIN?", self.target.admin_user)
            } else {
                String::new()
            };
            return Err(unexpected(&format!("creating the user '{name}'"), &answer) + &hint);
        }
        let token = self.token(name, password).await?;
        Ok(User::new(name.to_owned(), password.to_owned(), token))
    }

    /// Posts a blog with `title` and `content`.
    pub async fn post(
        &self,
        token: &str,
        title: &str,
        content: &str,
    ) -> Result<Response, reqwest::Error> {
        let request = self.http.post(format!("{}/blogs", self.target.blog));
        let body = json!({ "title": title, "content": content });
        self.send(request.bearer_auth(token).json(&body)).await
    }

    /// Posts a blog of a few random words.
    async fn post_words(
        &self,
        token: &str,
        rng: &mut Rng,
        n: u64,
    ) -> Result<Response, reqwest::Error> {
        let title = format!("Traffic {} #{n}: {}", self.run_id, words(rng, 3));
        let content_words = 5 + rng.below(200);
        self.post(token, &title, &words(rng, content_words)).await
    }

    /// The newest `limit` blogs' ids and how many there are in all.
    pub async fn list(&self, token: &str, limit: u32) -> Result<(Vec<String>, u64), String> {
        let url = format!("{}/blogs?limit={limit}&offset=0", self.target.blog);
        let page = self
            .send_setup(|| self.http.get(&url).bearer_auth(token))
            .await
            .map_err(|e| unanswered("listing the blogs", &e))?;
        match serde_json::from_slice::<BlogPage>(&page.body) {
            Ok(list) if page.status == 200 => {
                Ok((list.items.into_iter().map(|b| b.id).collect(), list.total))
            }
            _ => Err(unexpected("listing the blogs", &page)),
        }
    }

    /// Keeps a new blog's id for `GET /blogs/{id}` (replacing a random one when full).
    pub fn remember_blog(&self, body: &[u8], rng: &mut Rng) {
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

    pub fn remember_blogs(&self, ids: Vec<String>) {
        if let Ok(mut blogs) = self.blogs.lock() {
            blogs.extend(ids);
        }
    }

    pub fn known_blogs(&self) -> usize {
        self.blogs.lock().map(|b| b.len()).unwrap_or(0)
    }

    /// Posts blogs of random words as `writer` until at least `count` are known to read.
    pub async fn post_until_known(
        &self,
        writer: &User,
        count: usize,
        rng: &mut Rng,
    ) -> Result<u64, String> {
        let mut posted = 0;
        let mut unavailable = 0;
        while self.known_blogs() < count {
            let answer = self
                .post_words(&writer.token(), rng, posted)
                .await
                .map_err(|e| unanswered("posting a blog", &e))?;
            if answer.status == 503 && unavailable + 1 < SETUP_ATTEMPTS {
                unavailable += 1;
                tokio::time::sleep(SETUP_RETRY_AFTER).await;
                continue;
            }
            if answer.status != 201 {
                return Err(unexpected("posting a blog", &answer));
            }
            self.remember_blog(&answer.body, rng);
            posted += 1;
        }
        Ok(posted)
    }

    /// Sends request `n` of the run, of `kind`, its details drawn from `rng`, and records the
    /// outcome.
    pub async fn run_one(&self, kind: Kind, mut rng: Rng, n: u64) {
        let reader = rng.pick(&self.readers).cloned();
        let writer = rng.pick(&self.writers).cloned();
        let (Some(reader), Some(writer)) = (reader, writer) else {
            return;
        };
        let started = Instant::now();
        let result = self.request(kind, &reader, &writer, &mut rng, n).await;
        let record = Record {
            kind,
            started,
            latency: started.elapsed(),
            outcome: result
                .map(|r| Answer {
                    status: r.status,
                    trace: r.trace,
                })
                .map_err(|e| error_chain(&e)),
            note: (),
        };
        if let Ok(mut summary) = self.summary.lock() {
            summary.record(&record);
        }
    }

    /// The request of `kind`, sent by the reader, the writer or either of them.
    async fn request(
        &self,
        kind: Kind,
        reader: &User,
        writer: &User,
        rng: &mut Rng,
        n: u64,
    ) -> Result<Response, reqwest::Error> {
        let anyone = if rng.chance(50) { reader } else { writer };
        let blog = &self.target.blog;
        match kind {
            Kind::ListBlogs => {
                let offset = if rng.chance(50) { 0 } else { 1 + rng.below(40) };
                let url = format!("{blog}/blogs?limit=20&offset={offset}");
                self.send(self.http.get(url).bearer_auth(anyone.token()))
                    .await
            }
            Kind::GetBlog => {
                let url = format!("{blog}/blogs/{}", self.blog_to_read(rng));
                self.send(self.http.get(url).bearer_auth(anyone.token()))
                    .await
            }
            Kind::WriterPost => {
                let response = self.post_words(&writer.token(), rng, n).await;
                if let Ok(r) = &response
                    && r.status == 201
                {
                    self.remember_blog(&r.body, rng);
                }
                response
            }
            Kind::ReaderPost => self.post_words(&reader.token(), rng, n).await,
            Kind::BadLogin => self.bad_login(anyone, rng, n).await,
            Kind::GoodLogin => self.good_login(anyone).await,
        }
    }

    /// A known blog, or now and then (one in ten) an id that cannot exist: an ObjectId from 1970.
    fn blog_to_read(&self, rng: &mut Rng) -> String {
        let known = self
            .blogs
            .lock()
            .ok()
            .and_then(|blogs| rng.pick(&blogs).cloned());
        match known {
            Some(id) if !rng.chance(10) => id,
            _ => format!("00000000{:016x}", rng.next_u64()),
        }
    }

    /// A wrong password for a real user, or a user that does not exist.
    async fn bad_login(
        &self,
        user: &User,
        rng: &mut Rng,
        n: u64,
    ) -> Result<Response, reqwest::Error> {
        let password = format!("wrong-password-{n}");
        if rng.chance(50) {
            self.login(&user.name, &password).await
        } else {
            self.login(&format!("nobody-{}-{n}", self.run_id), &password)
                .await
        }
    }

    /// The right password; the new token replaces the user's old one.
    async fn good_login(&self, user: &User) -> Result<Response, reqwest::Error> {
        let response = self.login(&user.name, &user.password).await;
        if let Ok(r) = &response
            && r.status == 200
            && let Ok(login) = serde_json::from_slice::<LoginAnswer>(&r.body)
        {
            user.set_token(login.access_token);
        }
        response
    }
}
