//! Child processes that are stopped, never leaked: SIGTERM on drop, SIGKILL if they linger.

use std::{
    process::{Child, Command, ExitStatus, Stdio},
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

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory in KiB (`VmRSS` in `/proc/<pid>/status`); Linux only.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.pid().expect("a running process");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|error| panic!("reading /proc/{pid}/status: {error}"));
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
    }

    /// Sends `signal` and waits for the exit, up to `timeout`; returns how long it took, or `None`
    /// if it had to be killed.
    pub fn stop_with(&mut self, signal: Signal, timeout: Duration) -> Option<Duration> {
        let sent = self.signal(signal)?;
        self.wait_for_exit(sent, timeout)
    }

    /// Sends `signal` without waiting; returns when it was sent (`None` if the process is gone).
    pub fn signal(&self, signal: Signal) -> Option<Instant> {
        let child = self.child.as_ref()?;
        let sent = Instant::now();
        let _ = kill(Pid::from_raw(child.id() as i32), signal);
        Some(sent)
    }

    /// Waits until the process has exited, up to `timeout` after `since`, then kills it; returns
    /// the time from `since` to the exit, or `None` if it had to be killed.
    pub fn wait_for_exit(&mut self, since: Instant, timeout: Duration) -> Option<Duration> {
        let mut child = self.child.take()?;
        while since.elapsed() < timeout {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(since.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Waits up to `timeout` for the process to exit by itself and returns its status; `None`
    /// while it still runs (it is left running).
    pub fn exit_status(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.as_mut()?.try_wait() {
                self.child = None;
                return Some(status);
            }
            if started.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
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
