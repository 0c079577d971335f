//! The four services for one test, started by the launcher from the platform's one definition.

use std::{
    collections::HashMap,
    path::Path,
    process::ExitStatus,
    time::{Duration, Instant},
};

use launcher::{Plan, SERVICES, Services, Wiring, paths};
use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::{Api, Balancer, Collector, MongoServer};

pub const ADMIN_USERNAME: &str = "root-admin";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// How long a service may take to be ready in a test.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct PlatformOptions {
    /// Extra environment for every service (e.g. `OTEL_SDK_DISABLED`).
    pub env: Vec<(String, String)>,
    /// How many replicas of each service run. Above 1, nginx balances them ([`Balancer`]): the
    /// test's [`Api`] and the services' `AUTHOR_URL` go through it, and
    /// [`replica_api`](Platform::replica_api) reaches one replica directly.
    pub replicas: usize,
}

/// The seed the tests' services draw their injected failures from: the same share in every run.
const FLAGS_SEED: &str = "20240611";

impl PlatformOptions {
    /// Services that read their scenario flags from `file` (again within 2 s of a change) and
    /// draw their failures from one seed, with `env` besides.
    pub fn with_flags(file: &Path, mut env: Vec<(String, String)>) -> Self {
        env.push(("FLAGS_FILE".into(), file.display().to_string()));
        env.push(("FLAGS_SEED".into(), FLAGS_SEED.into()));
        Self {
            env,
            ..Self::default()
        }
    }
}

/// A platform of its own for one test. Dropping it stops the balancer and the services (flushing
/// their spans to the collector), then the collector and the database.
pub struct Platform {
    pub balancer: Option<Balancer>,
    services: Services,
    pub collector: Collector,
    pub mongo: MongoServer,
    pub api: Api,
    keys: TempDir,
    /// The services' (and nginx's) logs and working directory, deleted with the platform.
    _logs: TempDir,
}

impl Platform {
    /// A fresh database, a collector, keys, and the four services, ready.
    pub async fn start() -> Self {
        Self::start_with(PlatformOptions::default()).await
    }

    pub async fn start_with(options: PlatformOptions) -> Self {
        let mongo = MongoServer::start_new().await;
        let collector = Collector::start().await;
        let keys = tempfile::tempdir().expect("a directory for keys");
        launcher::keys::generate(keys.path()).unwrap_or_else(|error| panic!("{error}"));
        // The services run in the logs' directory, where no developer's .env file is.
        let logs = tempfile::tempdir().expect("a directory for logs");
        for service in SERVICES {
            paths::binary(service.binary).unwrap_or_else(|error| panic!("{error}"));
        }
        let balancer_ports = (options.replicas > 1).then(Balancer::choose_ports);
        let plan = Plan {
            bin_dir: paths::binary_dir(),
            work_dir: logs.path().to_owned(),
            log_dir: logs.path().to_owned(),
            wiring: Wiring {
                host: Some("127.0.0.1".to_owned()),
                author_url: balancer_ports
                    .as_ref()
                    .map(|ports| format!("http://127.0.0.1:{}", ports["author"])),
                mongodb_uri: Some(mongo.uri()),
                mongodb_db: Some(mongo.database_name()),
                private_key: Some(keys.path().join("private.pem")),
                public_key: Some(keys.path().join("public.pem")),
                otlp_endpoint: Some(collector.endpoint()),
                rust_log: Some("info".to_owned()),
                // FLAGS_FILE from `options.env` when a test switches scenarios; else none: all off.
                flags_file: None,
                admin: Some((ADMIN_USERNAME.to_owned(), ADMIN_PASSWORD.to_owned())),
            },
            ports: HashMap::new(),
            replicas: options.replicas,
            clean_environment: true,
            own_process_group: false,
            env: [("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned())]
                .into_iter()
                .chain(options.env)
                .collect(),
        };
        let mut services = Services::launch(plan)
            .await
            .unwrap_or_else(|error| panic!("the platform did not start: {error}"));
        let balancer = match balancer_ports {
            Some(ports) => {
                let replicas = SERVICES
                    .iter()
                    .map(|service| {
                        let names = services.replicas(service.name);
                        (
                            service.name,
                            names.iter().map(|n| services.port(n)).collect(),
                        )
                    })
                    .collect();
                Some(Balancer::start(&logs.path().join("nginx"), ports, &replicas).await)
            }
            None => None,
        };
        if let Err(error) = services.wait_all_ready().await {
            let nginx = balancer
                .as_ref()
                .map(Balancer::error_log)
                .unwrap_or_default();
            panic!("the platform did not start: {error}\n{nginx}");
        }
        let ports: HashMap<&'static str, u16> = match &balancer {
            Some(balancer) => balancer.ports().clone(),
            None => SERVICES
                .iter()
                .map(|service| (service.name, services.port(service.name)))
                .collect(),
        };
        let platform = Self {
            balancer,
            services,
            collector,
            mongo,
            api: Api::new(&ports),
            keys,
            _logs: logs,
        };
        platform.wait_for_admin().await;
        platform
    }

    /// Where the platform's key pair lives (`private.pem`, `public.pem`), for tests that forge
    /// tokens the way only a holder of the private key could.
    pub fn keys_dir(&self) -> &std::path::Path {
        self.keys.path()
    }

    /// The URL of one replica (`blog`, `blog#2`), not the balancer's.
    pub fn url(&self, service: &str) -> String {
        self.services.url(service)
    }

    /// The names of a service's replicas: `blog`, `blog#2`, ...
    pub fn replicas(&self, service: &str) -> Vec<String> {
        self.services.replicas(service)
    }

    /// A client that sends `service`'s requests to one of its replicas (`author#2`) directly.
    pub fn replica_api(&self, replica: &str) -> Api {
        let service = launcher::services::service_named(replica);
        Api::new(&HashMap::from([(
            service.name,
            self.services.port(replica),
        )]))
    }

    /// Starts one service again, on the port it had, with the platform's environment.
    pub fn start_service(&mut self, service: &str) {
        self.services
            .restart(service)
            .unwrap_or_else(|error| panic!("{error}"));
    }

    /// Environment for one service's next start (after [`stop_service`](Self::stop_service)).
    pub fn set_service_env(&mut self, service: &str, env: &[(&str, &str)]) {
        let owned = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.services.set_service_env(service, owned);
    }

    /// Stops one service with SIGTERM; returns how long it took to exit.
    pub fn stop_service(&mut self, service: &str) -> Option<Duration> {
        let mut process = self.services.take(service)?;
        process.stop(Signal::SIGTERM, Duration::from_secs(10))
    }

    /// Sends SIGTERM to one service and returns at once, with when the signal was sent and a task
    /// that ends when the process exits, with the time it took (`None`: still running after
    /// 10 s, then killed). For tests that act while the service drains.
    pub fn terminate_service(
        &mut self,
        service: &str,
    ) -> (Instant, tokio::task::JoinHandle<Option<Duration>>) {
        let mut process = self
            .services
            .take(service)
            .unwrap_or_else(|| panic!("{service}-service is not running"));
        let sent = process.signal(Signal::SIGTERM).expect("a running process");
        let exit = tokio::task::spawn_blocking(move || {
            process.wait_for_exit(sent, Duration::from_secs(10))
        });
        (sent, exit)
    }

    /// Kills one service with SIGKILL, as a crash or the OOM killer would, and waits until it is
    /// gone (its ports closed).
    pub fn kill_service(&mut self, service: &str) {
        let mut process = self
            .services
            .take(service)
            .unwrap_or_else(|| panic!("{service}-service is not running"));
        process.stop(Signal::SIGKILL, Duration::from_secs(5));
    }

    /// Waits up to 10 s for a service started with settings it must refuse to exit by itself,
    /// and returns its exit status; fails if it is still running then.
    pub fn wait_for_refusal(&mut self, service: &str) -> ExitStatus {
        let mut process = self
            .services
            .take(service)
            .unwrap_or_else(|| panic!("{service}-service was not started"));
        let started = Instant::now();
        loop {
            if let Some(status) = process.exit_status() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{service}-service still runs 10 s after it started:\n{}",
                process.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the service's process is still running (it has not crashed or exited).
    pub fn is_running(&mut self, service: &str) -> bool {
        self.services
            .process_mut(service)
            .is_some_and(|process| process.is_running())
    }

    /// The service's resident memory in KiB.
    pub fn rss_kib(&self, service: &str) -> u64 {
        self.services
            .process(service)
            .and_then(|process| process.rss_kib())
            .unwrap_or_else(|| panic!("no resident memory for {service}-service: not running?"))
    }

    /// The log of a service's replica (`blog`, `blog#2`) so far, every start of it.
    pub fn log(&self, service: &str) -> String {
        std::fs::read_to_string(self.services.log_path(service)).unwrap_or_default()
    }

    /// Waits until the service's `/readyz` answers 200, failing with its log if it dies or takes
    /// over 30 s.
    pub async fn wait_ready(&mut self, service: &str) {
        if let Err(error) = self.services.wait_ready(service, READY_TIMEOUT).await {
            panic!("{error}");
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
            for replica in self.replicas(service.name) {
                check(&format!("{replica}'s log"), &self.log(&replica));
            }
        }
        for span in self.collector.spans() {
            check(
                &format!("span {:?} of {}", span.name, span.service),
                &span.all_text(),
            );
        }
        for record in self.collector.log_records() {
            check(
                &format!("log record {} of {}", record.body, record.service),
                &record.all_text(),
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
