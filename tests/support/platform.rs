//! The four services, started from their release binaries for one test.

use std::{
    collections::HashMap,
    process::{Command, ExitStatus},
    time::{Duration, Instant},
};

use tempfile::TempDir;

use crate::{
    Api, Collector, MongoServer, free_port,
    process::{Process, binary},
};

pub const ADMIN_USERNAME: &str = "root-admin";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// The services in the order they start: author first, since user and blog depend on it.
pub const SERVICES: [&str; 4] = ["author", "authen", "user", "blog"];

#[derive(Default)]
pub struct PlatformOptions {
    /// Extra environment for every service (e.g. `OTEL_SDK_DISABLED`).
    pub env: Vec<(String, String)>,
}

pub struct Platform {
    pub mongo: MongoServer,
    pub collector: Collector,
    pub api: Api,
    ports: HashMap<&'static str, u16>,
    processes: HashMap<&'static str, Process>,
    keys: TempDir,
    logs: TempDir,
    options: PlatformOptions,
    /// Environment for one service only, applied after everything else.
    service_env: HashMap<&'static str, Vec<(String, String)>>,
}

impl Platform {
    /// A fresh database, a collector, keys, and the four services, ready.
    pub async fn start() -> Self {
        Self::start_with(PlatformOptions::default()).await
    }

    pub async fn start_with(options: PlatformOptions) -> Self {
        let mongo = MongoServer::start_new();
        let collector = Collector::start().await;
        let keys = tempfile::tempdir().expect("a directory for keys");
        generate_keys(keys.path());
        let ports: HashMap<_, _> = SERVICES
            .iter()
            .map(|service| (*service, free_port()))
            .collect();
        let api = Api::new(&ports);
        let mut platform = Self {
            mongo,
            collector,
            api,
            ports,
            processes: HashMap::new(),
            keys,
            logs: tempfile::tempdir().expect("a directory for logs"),
            options,
            service_env: HashMap::new(),
        };
        for service in SERVICES {
            platform.start_service(service);
        }
        for service in SERVICES {
            platform.wait_ready(service).await;
        }
        platform.wait_for_admin().await;
        platform
    }

    /// Where the platform's key pair lives (`private.pem`, `public.pem`), for tests that forge
    /// tokens the way only a holder of the private key could.
    pub fn keys_dir(&self) -> &std::path::Path {
        self.keys.path()
    }

    pub fn url(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.ports[service])
    }

    /// Starts one service (again) with the platform's environment.
    pub fn start_service(&mut self, service: &'static str) {
        let mut command = Command::new(binary(&format!("{service}-service")));
        let keys = self.keys.path();
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", self.ports[service].to_string())
            .env("MONGODB_URI", self.mongo.uri())
            .env("MONGODB_DB", self.mongo.database_name())
            .env("AUTHOR_URL", self.url("author"))
            .env("JWT_PRIVATE_KEY", keys.join("private.pem"))
            .env("JWT_PUBLIC_KEY", keys.join("public.pem"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", self.collector.endpoint())
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("RUST_LOG", "info")
            // The services must not read a developer's .env from the test's working directory.
            .current_dir(self.logs.path());
        if service == "user" {
            command
                .env("ADMIN_USERNAME", ADMIN_USERNAME)
                .env("ADMIN_PASSWORD", ADMIN_PASSWORD);
        }
        let service_env = self.service_env.get(service).into_iter().flatten();
        for (key, value) in self.options.env.iter().chain(service_env) {
            command.env(key, value);
        }
        let log = self.logs.path().join(format!("{service}.log"));
        self.processes
            .insert(service, Process::spawn(service, command, log));
    }

    /// Environment for one service's next start (after [`stop_service`](Self::stop_service)).
    pub fn set_service_env(&mut self, service: &'static str, env: &[(&str, &str)]) {
        let owned = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.service_env.insert(service, owned);
    }

    /// Stops one service with SIGTERM; returns how long it took to exit.
    pub fn stop_service(&mut self, service: &str) -> Option<Duration> {
        let mut process = self.processes.remove(service)?;
        process.stop_with(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10))
    }

    /// Sends SIGTERM to one service and returns at once, with when the signal was sent and a task
    /// that ends when the process exits, with the time it took (`None`: still running after
    /// 10 s, then killed). For tests that act while the service drains.
    pub fn terminate_service(
        &mut self,
        service: &str,
    ) -> (Instant, tokio::task::JoinHandle<Option<Duration>>) {
        let mut process = self
            .processes
            .remove(service)
            .unwrap_or_else(|| panic!("{service}-service is not running"));
        let sent = process
            .signal(nix::sys::signal::Signal::SIGTERM)
            .expect("a running process");
        let exit = tokio::task::spawn_blocking(move || {
            process.wait_for_exit(sent, Duration::from_secs(10))
        });
        (sent, exit)
    }

    /// Kills one service with SIGKILL, as a crash or the OOM killer would, and waits until it is
    /// gone (its ports closed).
    pub fn kill_service(&mut self, service: &str) {
        let mut process = self
            .processes
            .remove(service)
            .unwrap_or_else(|| panic!("{service}-service is not running"));
        process.stop_with(nix::sys::signal::Signal::SIGKILL, Duration::from_secs(5));
    }

    /// Waits up to 10 s for a service started with settings it must refuse to exit by itself,
    /// and returns its exit status; fails if it is still running then.
    pub fn wait_for_refusal(&mut self, service: &str) -> ExitStatus {
        let mut process = self
            .processes
            .remove(service)
            .unwrap_or_else(|| panic!("{service}-service was not started"));
        process
            .exit_status(Duration::from_secs(10))
            .unwrap_or_else(|| {
                panic!(
                    "{service}-service still runs 10 s after it started:\n{}",
                    process.log_tail()
                )
            })
    }

    /// Whether the service's process is still running (it has not crashed or exited).
    pub fn is_running(&mut self, service: &str) -> bool {
        self.processes
            .get_mut(service)
            .is_some_and(Process::is_running)
    }

    /// The service's resident memory in KiB.
    pub fn rss_kib(&self, service: &str) -> u64 {
        self.processes[service].rss_kib()
    }

    /// The service's log so far.
    pub fn log(&self, service: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{service}.log"))).unwrap_or_default()
    }

    /// Waits until the service's `/readyz` answers 200, failing with its log if it dies or takes
    /// over 30 s.
    pub async fn wait_ready(&mut self, service: &'static str) {
        let url = format!("{}/readyz", self.url(service));
        let started = Instant::now();
        loop {
            if let Ok(response) = self.api.http().get(&url).send().await
                && response.status().is_success()
            {
                return;
            }
            let process = self.processes.get_mut(service).expect("a started service");
            assert!(
                process.is_running() && started.elapsed() < Duration::from_secs(30),
                "{service}-service did not become ready:\n{}",
                process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The admin is bootstrapped in the background; wait until it can log in.
    async fn wait_for_admin(&self) {
        let started = Instant::now();
        while self.api.login(ADMIN_USERNAME, ADMIN_PASSWORD).await.status != 200 {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the bootstrap admin never appeared:\n{}",
                self.log("user")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A token for the bootstrap admin.
    pub async fn admin_token(&self) -> String {
        self.api.token(ADMIN_USERNAME, ADMIN_PASSWORD).await
    }

    /// Where any of `secrets` (passwords, tokens) shows up: in an answer that `api` received
    /// (except a successful login's, which carries the token it issues), in a service's log, or in
    /// a span the collector received. Waits for the spans still in flight first. Empty when
    /// nothing leaked.
    pub async fn leaks(&self, secrets: &[String]) -> Vec<String> {
        self.collector.wait_until_quiet().await;
        // Logs are JSON lines: a secret may appear there escaped (a NUL as `\u0000`, ...).
        let forms: Vec<(&String, Vec<String>)> = secrets
            .iter()
            .map(|secret| {
                let quoted = serde_json::to_string(secret).expect("a string serializes");
                let escaped = quoted[1..quoted.len() - 1].to_owned();
                (secret, vec![secret.clone(), escaped])
            })
            .collect();
        let mut found = Vec::new();
        let mut check = |place: &str, text: &str| {
            for (secret, forms) in &forms {
                if forms.iter().any(|form| text.contains(form.as_str())) {
                    let shown: String = secret.chars().take(40).collect();
                    found.push(format!("{place} holds {shown:?}"));
                }
            }
        };
        for exchange in self.api.transcript() {
            let issues_a_token = exchange.path == "/login" && exchange.status == 200;
            if !issues_a_token {
                let place = format!(
                    "the {} answer to {} {}{}",
                    exchange.status, exchange.method, exchange.service, exchange.path
                );
                check(&place, &exchange.text);
            }
        }
        for service in SERVICES {
            check(&format!("{service}-service's log"), &self.log(service));
        }
        for span in self.collector.spans() {
            check(
                &format!("span {:?} of {}", span.name, span.service),
                &span.all_text(),
            );
        }
        found
    }

    /// Creates a user with `permissions` (as the admin) and returns a token for it.
    pub async fn user_token(&self, username: &str, permissions: &[&str]) -> String {
        let admin = self.admin_token().await;
        let password = format!("{username}-password");
        let reply = self
            .api
            .create_user(&admin, username, &password, permissions)
            .await;
        assert_eq!(reply.status, 201, "creating {username}: {}", reply.text);
        self.api.token(username, &password).await
    }
}

/// A 2048-bit pair (the smallest the services accept, and quick to make) in `dir` as
/// `private.pem` and `public.pem`, made by the project's own scripts/gen-keys.sh, so every test
/// run also checks that script.
pub fn generate_keys(dir: &std::path::Path) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gen-keys.sh");
    let output = Command::new("bash")
        .arg(script)
        .args(["--bits", "2048", "--force", "--out-dir"])
        .arg(dir)
        .output()
        .expect("running scripts/gen-keys.sh");
    assert!(
        output.status.success(),
        "scripts/gen-keys.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
