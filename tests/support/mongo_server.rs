//! A MongoDB-speaking server for one test: nx-27017 from `NX_27017_BIN` (scripts/test.sh installs
//! it), or an existing server named by `TEST_MONGODB_URI` (then each test uses its own database,
//! and stopping it is not possible).

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::{free_port, process::Process};

pub struct MongoServer {
    port: u16,
    external_uri: Option<String>,
    dir: TempDir,
    process: Option<Process>,
}

impl MongoServer {
    /// Starts a fresh, empty server; file-backed, so data survives [`stop`](Self::stop) and
    /// [`start`](Self::start).
    pub fn start_new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut server = Self {
            port: free_port(),
            external_uri: std::env::var("TEST_MONGODB_URI")
                .ok()
                .filter(|uri| !uri.is_empty()),
            dir,
            process: None,
        };
        server.start();
        server
    }

    /// The URI the services get.
    pub fn uri(&self) -> String {
        match &self.external_uri {
            Some(uri) => uri.clone(),
            None => format!("mongodb://127.0.0.1:{}", self.port),
        }
    }

    /// A database name no other test uses (matters only with `TEST_MONGODB_URI`).
    pub fn database_name(&self) -> String {
        let suffix = self
            .dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(['.', '-'], "_");
        format!("blog_test_{suffix}")
    }

    pub fn is_embedded(&self) -> bool {
        self.external_uri.is_none()
    }

    pub fn start(&mut self) {
        if !self.is_embedded() || self.process.is_some() {
            return;
        }
        let binary = nx_27017_binary();
        let path = |name: &str| -> PathBuf { self.dir.path().join(name) };
        let data = path("data");
        std::fs::create_dir_all(&data).expect("creating the data directory");
        let _ = std::fs::remove_file(path("nx.pid"));
        let mut command = Command::new(&binary);
        command
            .args(["--host", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .arg("--pid-file")
            .arg(path("nx.pid"))
            .arg("--log-file")
            .arg(path("nx.log"));
        let mut process = Process::spawn("nx-27017", command, path("nx.console.log"));
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                process.is_running() && started.elapsed() < Duration::from_secs(20),
                "nx-27017 did not start on port {}:\n{}",
                self.port,
                process.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.process = Some(process);
    }

    /// Stops the server (as a crash would look to the services: the port goes away).
    pub fn stop(&mut self) {
        assert!(
            self.is_embedded(),
            "an external TEST_MONGODB_URI server cannot be stopped by the tests"
        );
        if let Some(mut process) = self.process.take() {
            process.stop_with(Signal::SIGKILL, Duration::from_secs(5));
        }
    }

    /// A collection of the services' database, for checking what was stored.
    pub async fn collection(&self, name: &str) -> mongodb::Collection<mongodb::bson::Document> {
        let client = mongodb::Client::with_uri_str(self.uri())
            .await
            .expect("a client for the test server");
        client.database(&self.database_name()).collection(name)
    }
}

/// `NX_27017_BIN`, or the venv scripts/test.sh and scripts/up.sh install into.
fn nx_27017_binary() -> PathBuf {
    let path = std::env::var_os("NX_27017_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/nx-27017")
        });
    assert!(
        path.is_file(),
        "{} is missing: run the tests with scripts/test.sh, which installs nx-27017 (or set NX_27017_BIN)",
        path.display()
    );
    path
}
