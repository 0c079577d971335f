//! pm2 runs the platform from the project's `ecosystem.config.js`, as the README tells a user to:
//! the four release binaries start and serve the story, a crashed service is restarted by pm2, and
//! `pm2 delete all` stops them gracefully (SIGINT, with time to flush their spans) before `pm2 kill`
//! takes the daemon away.
//!
//! pm2 comes from `PM2_BIN`, or from `.tools/npm`, where scripts/test.sh installs it. It runs with a
//! `PM2_HOME` of its own in a temporary directory, so it never touches a pm2 daemon of the user's.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use e2e_tests::{Api, Collector, MongoServer, SpanKind, describe, free_port};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use serde_json::Value;
use tempfile::TempDir;

const ADMIN_USERNAME: &str = "pm2-admin";
const ADMIN_PASSWORD: &str = "pm2-admin-password";

/// The services, and the variable ecosystem.config.js (like scripts/up.sh) takes each port from.
const SERVICES: [(&str, &str); 4] = [
    ("author", "AUTHOR_PORT"),
    ("authen", "AUTHEN_PORT"),
    ("user", "USER_PORT"),
    ("blog", "BLOG_PORT"),
];

#[tokio::test(flavor = "multi_thread")]
async fn pm2_runs_restarts_and_stops_the_platform() {
    let pm2_bin = pm2_binary();
    for (service, _) in SERVICES {
        let path = project_root().join(format!("target/release/{service}-service"));
        assert!(
            path.is_file(),
            "{} is missing: ecosystem.config.js runs the services from target/release/, so build \
             them first with `cargo build --release --workspace --bins` (scripts/test.sh does) \
             into the project's own target directory",
            path.display()
        );
    }

    // Declared before the guard, so they outlive it: pm2 is killed first.
    let mongo = MongoServer::start_new();
    let collector = Collector::start().await;
    let ports: HashMap<&'static str, u16> = SERVICES
        .iter()
        .map(|(service, _)| (*service, free_port()))
        .collect();
    let api = Api::new(&ports);
    let dir = tempfile::tempdir().expect("a temporary directory for pm2");
    let keys = dir.path().join("keys");
    generate_keys(&keys);

    let mut env: Vec<(String, String)> = SERVICES
        .iter()
        .map(|(service, variable)| (variable.to_string(), ports[service].to_string()))
        .collect();
    env.extend(
        [
            ("MONGODB_URI", mongo.uri()),
            ("MONGODB_DB", mongo.database_name()),
            (
                "JWT_PRIVATE_KEY",
                keys.join("private.pem").display().to_string(),
            ),
            (
                "JWT_PUBLIC_KEY",
                keys.join("public.pem").display().to_string(),
            ),
            ("ADMIN_USERNAME", ADMIN_USERNAME.into()),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
            // Spans leave only when a batch fills up or the service stops: whatever reaches the
            // collector after `pm2 delete` was flushed on pm2's SIGINT.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000".into()),
            // The services run in the project root (ecosystem.config.js says so), where a
            // developer's .env may live; these would change what the test sees, so pin them.
            ("OTEL_SDK_DISABLED", "false".into()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
            ("OTEL_TRACES_SAMPLER", "always_on".into()),
            ("RUST_LOG", "info".into()),
        ]
        .map(|(key, value)| (key.to_owned(), value)),
    );
    let mut pm2 = Pm2::new(pm2_bin, dir, env);

    // --- pm2 start ecosystem.config.js ---------------------------------------------------------
    let ecosystem = project_root().join("ecosystem.config.js");
    pm2.run(&["start", &ecosystem.display().to_string()]);
    let apps = pm2.apps();
    let mut names: Vec<&str> = apps.iter().map(|app| app.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "authen-service",
            "author-service",
            "blog-service",
            "user-service"
        ]
    );
    for (service, _) in SERVICES {
        wait_ready(&pm2, &api, service, ports[service], Duration::from_secs(30)).await;
    }

    // Each app got its port, and only user-service the administrator's credentials.
    for (service, _) in SERVICES {
        let app = pm2.app(&format!("{service}-service"));
        let environ = environment_of(app.pid);
        assert_eq!(
            environ.get("PORT").map(String::as_str),
            Some(ports[service].to_string().as_str()),
            "{service}-service's PORT"
        );
        assert_eq!(
            environ.contains_key("ADMIN_PASSWORD"),
            service == "user",
            "{service}-service: only user-service is given ADMIN_PASSWORD"
        );
        assert_eq!(
            environ.get("FLAGS_FILE").map(PathBuf::from),
            Some(project_root().join("flags.json")),
            "{service}-service reads the scenario flags from the project root"
        );
    }

    // --- the story ------------------------------------------------------------------------------
    let started = Instant::now();
    while api.login(ADMIN_USERNAME, ADMIN_PASSWORD).await.status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the bootstrap admin never appeared:\n{}",
            pm2.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin = api.token(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let created = api
        .create_user(
            &admin,
            "pm2-writer",
            "pm2-writer-password",
            &["READ", "WRITE"],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let writer = api.token("pm2-writer", "pm2-writer-password").await;
    let posted = api
        .post_blog(Some(&writer), "Under pm2", "Started by pm2.")
        .await;
    assert_eq!(posted.status, 201, "{}", posted.text);
    let blog_id = posted.body["id"]
        .as_str()
        .expect("the blog's id")
        .to_owned();
    let listed = api.list_blogs(Some(&writer), "").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(
        listed.body["items"][0], posted.body,
        "the new blog is listed"
    );

    // --- a crash: pm2 restarts blog-service -----------------------------------------------------
    let before: HashMap<String, App> = pm2
        .apps()
        .into_iter()
        .map(|app| (app.name.clone(), app))
        .collect();
    let crashed = &before["blog-service"];
    kill(Pid::from_raw(crashed.pid), Signal::SIGKILL).expect("kill -9 blog-service");
    let started = Instant::now();
    let restarted = loop {
        let app = pm2.app("blog-service");
        if app.status == "online" && app.pid > 0 && app.pid != crashed.pid {
            break app;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "pm2 did not restart blog-service within 15 s (now {app:?}):\n{}",
            pm2.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        restarted.restarts > crashed.restarts,
        "pm2 counts the restart: {crashed:?} -> {restarted:?}"
    );
    let left = Duration::from_secs(15).saturating_sub(started.elapsed());
    wait_ready(&pm2, &api, "blog", ports["blog"], left).await;
    for app in pm2.apps() {
        if app.name != "blog-service" {
            assert_eq!(
                (app.pid, app.restarts),
                (before[&app.name].pid, before[&app.name].restarts),
                "{} was left alone",
                app.name
            );
        }
    }
    // The blog is still there, served by the new process.
    let read = api.get_blog(Some(&writer), &blog_id).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body, posted.body);

    // --- pm2 delete all: SIGINT, and the services flush their spans before they exit ------------
    let trace_id = read.trace_id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let is_blog_server = |span: &e2e_tests::ExportedSpan| {
        span.service == "blog-service" && span.kind == SpanKind::Server
    };
    assert!(
        !collector.trace(&trace_id).iter().any(is_blog_server),
        "the span is still buffered before pm2 stops the service"
    );
    let app_pids: Vec<i32> = pm2.apps().iter().map(|app| app.pid).collect();
    pm2.run(&["delete", "all"]);
    assert!(pm2.apps().is_empty(), "pm2 delete all leaves no app");
    let spans = collector.trace(&trace_id);
    assert!(
        spans.iter().any(is_blog_server)
            && spans
                .iter()
                .any(|span| span.service == "author-service" && span.kind == SpanKind::Server),
        "blog- and author-service flushed the last request's spans when pm2 stopped them; \
         the trace has:\n{}",
        describe(&spans)
    );

    // --- pm2 kill: the daemon goes, and nothing listens any more --------------------------------
    let daemon = pm2.daemon_pid().expect("the pm2 daemon's pid file");
    pm2.kill();
    for pid in app_pids.iter().chain([&daemon]) {
        wait_until(Duration::from_secs(10), || !is_running(*pid));
        assert!(!is_running(*pid), "process {pid} is still running");
    }
    assert!(
        !pm2.home().join("rpc.sock").exists() && !pm2.home().join("pm2.pid").exists(),
        "the pm2 daemon removed its socket and pid file"
    );
    for (service, _) in SERVICES {
        let port = ports[service];
        wait_until(Duration::from_secs(10), || !listening(port));
        assert!(
            !listening(port),
            "{service}-service's port {port} still accepts connections"
        );
    }
    // The apps' output went to the configured per-app log files.
    for (service, _) in SERVICES {
        let log = pm2.log_dir().join(format!("{service}-service.out.log"));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!text.is_empty(), "{} is empty", log.display());
    }
}

/// pm2 with a `PM2_HOME` of its own. Dropping it kills the daemon and every app pm2 started, so a
/// failed assertion leaves nothing behind.
struct Pm2 {
    bin: PathBuf,
    dir: TempDir,
    env: Vec<(String, String)>,
    /// Every app process seen, to make sure none outlives the test.
    seen: Mutex<Vec<i32>>,
    killed: bool,
}

#[derive(Debug, Clone)]
struct App {
    name: String,
    pid: i32,
    status: String,
    restarts: u64,
}

impl Pm2 {
    fn new(bin: PathBuf, dir: TempDir, env: Vec<(String, String)>) -> Self {
        Self {
            bin,
            dir,
            env,
            seen: Mutex::new(Vec::new()),
            killed: false,
        }
    }

    /// `PM2_HOME`: the daemon's socket, pid file and log.
    fn home(&self) -> PathBuf {
        self.dir.path().join("pm2")
    }

    /// Where ecosystem.config.js is told (`PM2_LOG_DIR`) to put the apps' logs.
    fn log_dir(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// pm2 with `args` in the project root, with only the test's environment (PATH for node).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .current_dir(project_root())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("PM2_HOME", self.home())
            .env("PM2_LOG_DIR", self.log_dir())
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null());
        command
    }

    /// Runs pm2 and returns its stdout; panics with its output unless it succeeds within 60 s.
    fn run(&self, args: &[&str]) -> String {
        let output = self.dir.path().join("pm2-command.out");
        let result = tokio::task::block_in_place(|| {
            run_with_timeout(self.command(args), &output, Duration::from_secs(60))
        });
        match result {
            (Some(true), text) => text,
            (status, text) => panic!(
                "pm2 {} failed ({}):\n{text}\n{}",
                args.join(" "),
                status.map_or("timed out", |_| "non-zero exit"),
                self.diagnostics()
            ),
        }
    }

    /// `pm2 jlist`: the apps pm2 manages.
    fn apps(&self) -> Vec<App> {
        let out = self.run(&["jlist"]);
        let list: Vec<Value> = out
            .lines()
            .find_map(|line| serde_json::from_str(line).ok())
            .unwrap_or_else(|| panic!("pm2 jlist printed no JSON list:\n{out}"));
        let apps: Vec<App> = list
            .iter()
            .map(|app| App {
                name: app["name"].as_str().unwrap_or_default().to_owned(),
                pid: app["pid"].as_i64().unwrap_or_default() as i32,
                status: app["pm2_env"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                restarts: app["pm2_env"]["restart_time"].as_u64().unwrap_or_default(),
            })
            .collect();
        let mut seen = self.seen.lock().unwrap();
        seen.extend(apps.iter().map(|app| app.pid).filter(|pid| *pid > 0));
        apps
    }

    fn app(&self, name: &str) -> App {
        self.apps()
            .into_iter()
            .find(|app| app.name == name)
            .unwrap_or_else(|| panic!("pm2 does not list {name}"))
    }

    fn daemon_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.home().join("pm2.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `pm2 kill`: stops every app, then the daemon.
    fn kill(&mut self) {
        self.run(&["kill"]);
        self.killed = true;
    }

    /// The ends of pm2's own log and of each app's logs, for failure messages.
    fn diagnostics(&self) -> String {
        let mut files = vec![self.home().join("pm2.log")];
        for (service, _) in SERVICES {
            for stream in ["out", "error"] {
                files.push(
                    self.log_dir()
                        .join(format!("{service}-service.{stream}.log")),
                );
            }
        }
        let mut text = String::new();
        for file in files {
            let content = std::fs::read_to_string(&file).unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            text.push_str(&format!(
                "--- {} ---\n{}\n",
                file.display(),
                lines[lines.len().saturating_sub(20)..].join("\n")
            ));
        }
        text
    }
}

impl Drop for Pm2 {
    fn drop(&mut self) {
        if self.killed {
            return;
        }
        let daemon = self.daemon_pid();
        let output = self.dir.path().join("pm2-kill.out");
        let _ = run_with_timeout(self.command(&["kill"]), &output, Duration::from_secs(30));
        // Whatever pm2 kill could not stop: only processes that are still ours (a pid may have
        // been reused since).
        let apps = self
            .seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default();
        let ours = apps
            .into_iter()
            .map(|pid| (pid, "target/release/"))
            .chain(daemon.map(|pid| (pid, "PM2")));
        for (pid, marker) in ours {
            let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if is_running(pid) && String::from_utf8_lossy(&command_line).contains(marker) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// Runs `command` with stdout and stderr into `output` (a file, not a pipe: the daemon pm2 spawns
/// would hold a pipe open). Returns whether it succeeded (`None` if it was killed after
/// `timeout`) and what it printed.
fn run_with_timeout(
    mut command: Command,
    output: &Path,
    timeout: Duration,
) -> (Option<bool>, String) {
    let file = std::fs::File::create(output).expect("creating the pm2 output file");
    let mut child = command
        .stdout(file.try_clone().expect("cloning a file handle"))
        .stderr(file)
        .spawn()
        .expect("starting pm2");
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status.success());
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, std::fs::read_to_string(output).unwrap_or_default())
}

/// Polls `service`'s /readyz on `port` until it answers 200.
async fn wait_ready(pm2: &Pm2, api: &Api, service: &str, port: u16, timeout: Duration) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    loop {
        if let Ok(response) = api.http().get(&url).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "{service}-service did not answer 200 on {url} within {timeout:?}:\n{}",
            pm2.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The project root: ecosystem.config.js, target/ and scripts/ are there.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the project")
        .to_path_buf()
}

/// `PM2_BIN`, or the copy scripts/test.sh installs into .tools/npm. Never skips: a missing pm2 is
/// a failure that says how to get it.
fn pm2_binary() -> PathBuf {
    let path = match std::env::var_os("PM2_BIN").filter(|value| !value.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => project_root().join(".tools/npm/node_modules/.bin/pm2"),
    };
    assert!(
        path.is_file(),
        "pm2 is not installed at {} (from PM2_BIN, or .tools/npm by default): run the tests with \
         scripts/test.sh, which installs pm2 into .tools/npm and sets PM2_BIN",
        path.display()
    );
    path
}

/// A 2048-bit pair made by the project's scripts/gen-keys.sh, as the harness makes its keys.
fn generate_keys(dir: &Path) {
    let output = Command::new("bash")
        .arg(project_root().join("scripts/gen-keys.sh"))
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

/// The environment a process runs with.
fn environment_of(pid: i32) -> HashMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_else(|error| panic!("reading the environment of process {pid}: {error}"));
    raw.split(|byte| *byte == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (key, value) = entry.split_once('=')?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Whether `pid` is a live process. A zombie (exited, waiting for its parent to reap it, as the
/// detached pm2 daemon may be in a container without an init that reaps) counts as gone.
fn is_running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ...": comm may hold spaces and parentheses, so look after the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

fn wait_until(timeout: Duration, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() && started.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(50));
    }
}
