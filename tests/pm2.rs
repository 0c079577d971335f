//! pm2 runs the platform from the project's `ecosystem.config.js`, as the README tells a user to:
//! the four release binaries start and serve the story, a crashed service is restarted by pm2, and
//! `pm2 delete all` stops them gracefully (SIGINT, with time to flush their spans) before `pm2 kill`
//! takes the daemon away. The local trace viewer runs beside them, keeping its traces in the
//! data directory the file names.
//!
//! pm2 comes from `PM2_BIN`, or from `.tools/npm`, where scripts/test.sh installs it. It runs with a
//! `PM2_HOME` of its own in a temporary directory, so it never touches a pm2 daemon of the user's.
//!
//! `ecosystem.config.js` stays a file in pm2's own terms; a test here checks that it says what the
//! platform's one definition (the launcher's) says: the same services in the same order, on the
//! same ports, with the same variables, run from cargo's target directory wherever that is.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use e2e_tests::{
    Api, Collector, MongoServer, SERVICES, SpanKind, describe, free_port, generate_keys,
    project_root,
};
use launcher::{definition::ADMIN_VARIABLES, paths};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use serde_json::{Value, json};
use tempfile::TempDir;

const ADMIN_USERNAME: &str = "pm2-admin";
const ADMIN_PASSWORD: &str = "pm2-admin-password";

/// Where ecosystem.config.js must find the services: the release build's directory, which cargo
/// puts in its target directory (`CARGO_TARGET_DIR`, `build.target-dir` or `target/`).
fn release_dir() -> PathBuf {
    let dir = paths::binary_dir();
    assert_eq!(
        dir.file_name().and_then(|name| name.to_str()),
        Some("release"),
        "ecosystem.config.js runs the release binaries: run this test with --release \
         (scripts/test.sh does)"
    );
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn pm2_runs_restarts_and_stops_the_platform() {
    let pm2_bin = pm2_binary();
    for service in SERVICES {
        paths::binary(service.binary).unwrap_or_else(|error| panic!("{error}"));
    }
    // Declared before the guard, so they outlive it: pm2 is killed first.
    let mongo = MongoServer::start_new().await;
    let collector = Collector::start().await;
    // pm2's file fixes each port before the services start (AUTHOR_URL names author-service's),
    // so these are chosen free here rather than by the services.
    let ports: HashMap<&'static str, u16> = SERVICES
        .iter()
        .map(|service| (service.name, free_port()))
        .collect();
    let api = Api::new(&ports);
    let dir = tempfile::tempdir().expect("a temporary directory for pm2");
    let env = environment(&ports, &mongo, &collector, dir.path());
    let mut pm2 = Pm2::new(pm2_bin, dir, env);

    start_from_the_ecosystem_file(&pm2, &api, &ports).await;
    let (writer, posted) = the_story_is_served(&pm2, &api).await;
    let read = a_killed_service_is_restarted_alone(&pm2, &api, &ports, &writer, &posted).await;
    let app_pids = delete_all_flushes_the_last_spans(&pm2, &collector, &read.trace_id()).await;
    kill_leaves_nothing_running(&mut pm2, &ports, &app_pids);
}

/// What the test gives pm2 to pass on: ports, database, keys (in `dir`), collector, the trace
/// viewer's data directory (in `dir`) and ports of its choosing, and pins for what a developer's
/// `.env` in the project root could otherwise change.
fn environment(
    ports: &HashMap<&'static str, u16>,
    mongo: &MongoServer,
    collector: &Collector,
    dir: &Path,
) -> Vec<(String, String)> {
    let keys = dir.join("keys");
    generate_keys(&keys).expect("a key pair");
    let mut env: Vec<(String, String)> = SERVICES
        .iter()
        .map(|service| {
            (
                service.port_variable.to_owned(),
                ports[service.name].to_string(),
            )
        })
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
            ("TRACES_DATA", viewer_data(dir).display().to_string()),
            ("TRACES_OTLP_GRPC", "127.0.0.1:0".into()),
            ("TRACES_OTLP_HTTP", "127.0.0.1:0".into()),
            ("TRACES_UI", "127.0.0.1:0".into()),
        ]
        .map(|(key, value)| (key.to_owned(), value)),
    );
    env
}

/// Where the test's trace viewer keeps its traces.
fn viewer_data(dir: &Path) -> PathBuf {
    dir.join("traces-data")
}

/// `pm2 start ecosystem.config.js`: the four apps, each running the binary of this build
/// (wherever cargo put it) on its port, and only user-service given the administrator's
/// credentials; and the trace viewer, keeping its traces in a private directory of its own.
async fn start_from_the_ecosystem_file(pm2: &Pm2, api: &Api, ports: &HashMap<&'static str, u16>) {
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
            "traces",
            "user-service"
        ]
    );
    let viewer = pm2.app("traces");
    assert_eq!(Path::new(&viewer.script), release_dir().join("traces"));
    let data = viewer_data(pm2.dir.path());
    wait_until(Duration::from_secs(15), || {
        data.join("traces.redb").is_file()
    });
    assert!(
        data.join("traces.redb").is_file(),
        "the viewer keeps its traces in {}:\n{}",
        data.display(),
        pm2.diagnostics()
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&data).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "a private data directory");
    for service in SERVICES {
        let service = service.name;
        wait_ready(pm2, api, service, ports[service], Duration::from_secs(30)).await;
    }
    for service in SERVICES {
        let app = pm2.app(service.binary);
        assert_eq!(
            Path::new(&app.script),
            release_dir().join(service.binary),
            "the program pm2 runs"
        );
        let service = service.name;
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
}

/// The administrator creates a writer, who posts a blog and finds it listed. The writer's token
/// and the blog as posted.
async fn the_story_is_served(pm2: &Pm2, api: &Api) -> (String, e2e_tests::Reply) {
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
    let listed = api.list_blogs(Some(&writer), "").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(
        listed.body["items"][0], posted.body,
        "the new blog is listed"
    );
    (writer, posted)
}

/// SIGKILL to blog-service: pm2 starts it again within 15 s, counts the restart, leaves the
/// other apps alone, and the new process serves the blog posted before. Its answer.
async fn a_killed_service_is_restarted_alone(
    pm2: &Pm2,
    api: &Api,
    ports: &HashMap<&'static str, u16>,
    writer: &str,
    posted: &e2e_tests::Reply,
) -> e2e_tests::Reply {
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
    wait_ready(pm2, api, "blog", ports["blog"], left).await;
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
    let blog_id = posted.body["id"].as_str().expect("the blog's id");
    let read = api.get_blog(Some(writer), blog_id).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body, posted.body);
    read
}

/// `pm2 delete all` sends SIGINT, and the services flush the spans still buffered (the batch
/// delay is ten minutes) before they exit. The pids the apps had.
async fn delete_all_flushes_the_last_spans(
    pm2: &Pm2,
    collector: &Collector,
    trace_id: &str,
) -> Vec<i32> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let is_blog_server = |span: &e2e_tests::ExportedSpan| {
        span.service == "blog-service" && span.kind == SpanKind::Server
    };
    assert!(
        !collector.trace(trace_id).iter().any(is_blog_server),
        "the span is still buffered before pm2 stops the service"
    );
    let app_pids = pm2.apps().iter().map(|app| app.pid).collect();
    pm2.run(&["delete", "all"]);
    assert!(pm2.apps().is_empty(), "pm2 delete all leaves no app");
    let spans = collector.trace(trace_id);
    assert!(
        spans.iter().any(is_blog_server)
            && spans
                .iter()
                .any(|span| span.service == "author-service" && span.kind == SpanKind::Server),
        "blog- and author-service flushed the last request's spans when pm2 stopped them; \
         the trace has:\n{}",
        describe(&spans)
    );
    app_pids
}

/// `pm2 kill`: the daemon and every app are gone, nothing listens on the services' ports, and
/// the apps' output went to the configured per-app log files.
fn kill_leaves_nothing_running(
    pm2: &mut Pm2,
    ports: &HashMap<&'static str, u16>,
    app_pids: &[i32],
) {
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
    for service in SERVICES {
        let (service, port) = (service.name, ports[service.name]);
        wait_until(Duration::from_secs(10), || !listening(port));
        assert!(
            !listening(port),
            "{service}-service's port {port} still accepts connections"
        );
    }
    for service in SERVICES {
        let log = pm2.log_dir().join(format!("{}.out.log", service.binary));
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
    /// The program pm2 runs.
    script: String,
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

    /// pm2 with `args` in the project root, with only the test's environment (PATH for node;
    /// cargo's, for ecosystem.config.js to ask where cargo builds).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = ecosystem_command(&self.bin, &self.log_dir());
        command
            .args(args)
            .env("HOME", self.dir.path())
            .env("PM2_HOME", self.home())
            .envs(self.env.iter().map(|(key, value)| (key, value)));
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
                script: app["pm2_env"]["pm_exec_path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
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
        for service in SERVICES {
            for stream in ["out", "error"] {
                files.push(
                    self.log_dir()
                        .join(format!("{}.{stream}.log", service.binary)),
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
        let release = release_dir().display().to_string();
        let ours = apps
            .into_iter()
            .map(|pid| (pid, release.as_str()))
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

/// `program` (pm2, or node reading ecosystem.config.js) in the project root, with only the test's
/// environment: PATH for node; cargo's own variables, so that ecosystem.config.js asks cargo
/// where it builds as it would for the user; pm2's log directory in a temporary one.
fn ecosystem_command(program: &Path, log_dir: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(project_root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PM2_LOG_DIR", log_dir)
        .stdin(Stdio::null());
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    for (variable, default) in [
        ("CARGO_HOME", home.join(".cargo")),
        ("RUSTUP_HOME", home.join(".rustup")),
    ] {
        let value = std::env::var_os(variable).map_or(default, PathBuf::from);
        if value.is_dir() {
            command.env(variable, value);
        }
    }
    if let Some(target_dir) = std::env::var_os("CARGO_TARGET_DIR") {
        command.env("CARGO_TARGET_DIR", target_dir);
    }
    command
}

/// ecosystem.config.js as pm2 reads it, with the administrator's credentials in the environment:
/// its apps, as JSON.
fn ecosystem_apps(log_dir: &Path) -> Vec<Value> {
    let script = "process.stdout.write(JSON.stringify(require(process.argv[1]).apps))";
    let output = ecosystem_command(Path::new("node"), log_dir)
        .args(["-e", script])
        .arg(project_root().join("ecosystem.config.js"))
        .env("ADMIN_USERNAME", "admin")
        .env("ADMIN_PASSWORD", "a-password")
        .output()
        .expect("node runs (scripts/test.sh needs it for pm2)");
    assert!(
        output.status.success(),
        "node could not read ecosystem.config.js:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the apps as JSON")
}

#[test]
fn ecosystem_config_agrees_with_the_platform_definition() {
    let logs = tempfile::tempdir().expect("a directory for pm2's logs");
    let mut apps = ecosystem_apps(logs.path());
    let viewer = apps.remove(0);
    assert_eq!(viewer["name"], "traces", "the trace viewer starts first");
    assert_eq!(
        viewer["script"].as_str().map(PathBuf::from),
        Some(release_dir().join("traces"))
    );
    let data = project_root().join(".data/traces").display().to_string();
    assert_eq!(
        viewer["args"].as_array().unwrap()[..3],
        [json!("serve"), json!("--data"), json!(data)],
        "traces serve --data .data/traces"
    );
    let names: Vec<&str> = apps
        .iter()
        .map(|app| app["name"].as_str().unwrap())
        .collect();
    let binaries: Vec<&str> = SERVICES.iter().map(|service| service.binary).collect();
    assert_eq!(
        names, binaries,
        "the services, in the definition's start order"
    );
    for (app, service) in apps.iter().zip(SERVICES) {
        let env = app["env"].as_object().expect("an env");
        let mut variables: Vec<&str> = env.keys().map(String::as_str).collect();
        let mut expected = service.variables();
        variables.sort_unstable();
        expected.sort_unstable();
        assert_eq!(variables, expected, "{}'s variables", service.binary);
        assert_eq!(
            env["PORT"],
            service.port.to_string(),
            "{}'s port",
            service.binary
        );
        assert_eq!(
            app["script"].as_str().map(PathBuf::from),
            Some(release_dir().join(service.binary)),
            "{} runs from cargo's target directory",
            service.binary
        );
        let filtered: Vec<&str> = app["filter_env"]
            .as_array()
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            filtered, ADMIN_VARIABLES,
            "{}: the shell's administrator credentials are not handed to every app",
            service.binary
        );
    }
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
