//! Child processes that are stopped, never leaked: SIGTERM on drop, SIGKILL if they linger.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

/// A running child process and its log file.
pub struct Process {
    pub log: std::path::PathBuf,
    child: Option<Child>,
}

impl Process {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: std::path::PathBuf) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("opening the log file");
        let err = out.try_clone().expect("cloning the log file handle");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        Self {
            log,
            child: Some(child),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Sends `signal` and waits for the exit, up to `timeout`; returns how long it took, or `None`
    /// if it had to be killed.
    pub fn stop_with(&mut self, signal: Signal, timeout: Duration) -> Option<Duration> {
        let mut child = self.child.take()?;
        let started = Instant::now();
        let _ = kill(Pid::from_raw(child.id() as i32), signal);
        while started.elapsed() < timeout {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop_with(Signal::SIGTERM, Duration::from_secs(6));
    }
}

/// Where cargo put the binaries of the profile these tests were built with.
pub fn binary(name: &str) -> std::path::PathBuf {
    let test_exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the services first (`cargo build --release --workspace --bins`, \
         which scripts/test.sh does) with the same profile as the tests",
        path.display()
    );
    path
}
