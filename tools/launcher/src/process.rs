//! Child processes that write to a log file, say where they listen, and are stopped, never leaked.

use std::{
    fs, io,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tokio::runtime::{Handle, RuntimeFlavor};

/// How long a dropped process has after SIGTERM before it is killed: the services promise to stop
/// within 5 s.
const STOP_TIMEOUT: Duration = Duration::from_secs(6);

/// A running child process and its log file. Dropping it stops it: SIGTERM, then SIGKILL after
/// [`STOP_TIMEOUT`].
pub struct Process {
    name: String,
    log: PathBuf,
    /// Where this run's output starts in the log, which restarts append to.
    log_start: u64,
    child: Option<Child>,
}

impl Process {
    /// Starts `command` with stdin closed and stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> io::Result<Self> {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|error| with_context(error, &format!("opening {}", log.display())))?;
        let log_start = out.metadata()?.len();
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|error| {
                let program = Path::new(command.get_program()).display().to_string();
                with_context(error, &format!("cannot start {name} ({program})"))
            })?;
        Ok(Self {
            name: name.to_owned(),
            log: log.to_owned(),
            log_start,
            child: Some(child),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none() && self.child.is_some()
    }

    /// How it ended, once it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Resident memory in KiB (`VmRSS` in `/proc/<pid>/status`; Linux only).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Sends `signal` without waiting; returns when it was sent (`None` if the process is gone).
    pub fn signal(&self, signal: Signal) -> Option<Instant> {
        let pid = Pid::from_raw(i32::try_from(self.pid()?).ok()?);
        let sent = Instant::now();
        kill(pid, signal).ok()?;
        Some(sent)
    }

    /// Sends `signal` and waits for the exit, up to `timeout`, then kills it; returns how long it
    /// took, or `None` if it had to be killed (or was gone already).
    pub fn stop(&mut self, signal: Signal, timeout: Duration) -> Option<Duration> {
        let sent = self.signal(signal)?;
        self.wait_for_exit(sent, timeout)
    }

    /// Waits until the process has exited, up to `timeout` after `since`, then kills it; returns
    /// the time from `since` to the exit, or `None` if it had to be killed. Safe to call from
    /// async code on a multi-threaded tokio runtime: see [`off_the_runtime`].
    pub fn wait_for_exit(&mut self, since: Instant, timeout: Duration) -> Option<Duration> {
        let mut child = self.child.take()?;
        off_the_runtime(move || {
            while since.elapsed() < timeout {
                if let Ok(Some(_)) = child.try_wait() {
                    return Some(since.elapsed());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
            None
        })
    }

    /// What this run of the process has written so far.
    pub fn output(&self) -> String {
        let log = fs::read(&self.log).unwrap_or_default();
        let start = usize::try_from(self.log_start).unwrap_or(usize::MAX);
        String::from_utf8_lossy(log.get(start..).unwrap_or_default()).into_owned()
    }

    /// The last lines of this run's output, for error messages.
    pub fn log_tail(&self) -> String {
        let output = self.output();
        let lines: Vec<&str> = output.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("--- the end of {} ---\n{tail}", self.log.display())
    }

    /// The address the process says it listens on: the first line of this run's output that
    /// `listening` finds one in. Fails with the log's tail when the process exits first or
    /// `timeout` passes.
    pub async fn address(
        &mut self,
        listening: fn(&str) -> Option<SocketAddr>,
        timeout: Duration,
    ) -> Result<SocketAddr, String> {
        let started = Instant::now();
        loop {
            if let Some(address) = self.output().lines().find_map(listening) {
                return Ok(address);
            }
            if let Some(status) = self.exit_status() {
                return Err(format!(
                    "{} exited ({status}) before it listened\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            if started.elapsed() > timeout {
                return Err(format!(
                    "{} did not listen within {timeout:?}\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(Signal::SIGTERM, STOP_TIMEOUT);
    }
}

/// Stops all of `processes` at once: `signal` to each, then each waited for until `timeout` has
/// passed since the signals (then killed). Returns each one's time to exit (`None`: killed, or
/// gone already).
pub fn stop_all(
    processes: &mut [Process],
    signal: Signal,
    timeout: Duration,
) -> Vec<Option<Duration>> {
    let sent: Vec<Option<Instant>> = processes
        .iter()
        .map(|process| process.signal(signal))
        .collect();
    processes
        .iter_mut()
        .zip(sent)
        .map(|(process, sent)| process.wait_for_exit(sent?, timeout))
        .collect()
}

/// Runs `wait`, a blocking wait for a process, without holding up the tokio runtime it may be
/// called from: on a multi-threaded runtime the thread's other tasks move elsewhere first
/// (`block_in_place`), so a test's in-process collector keeps receiving the spans a stopping
/// service flushes, and its load keeps running. A current-thread runtime has nowhere to move
/// them: use the multi-threaded one with this crate.
fn off_the_runtime<T>(wait: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

/// The address in a service's start-up line (`"message":"listening"`, with `"address"`), as
/// the services log it in JSON: its fields at the top of the object or under `fields`.
pub fn service_listening(line: &str) -> Option<SocketAddr> {
    let line: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = line.get("fields").unwrap_or(&line);
    if fields.get("message")? != "listening" {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}

fn with_context(error: io::Error, context: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{context}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_says_where_it_listens() {
        let top = r#"{"timestamp":"2026-01-01T00:00:00Z","level":"INFO","target":"platform::server","message":"listening","service":"blog-service","version":"0.1.0","address":"127.0.0.1:40123"}"#;
        let nested = r#"{"level":"INFO","fields":{"message":"listening","address":"[::1]:3003"}}"#;
        assert_eq!(
            service_listening(top),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(
            service_listening(nested),
            Some("[::1]:3003".parse().unwrap())
        );
        for other in [
            r#"{"message":"stopping","address":"127.0.0.1:1"}"#,
            r#"{"message":"listening"}"#,
            "listening on 127.0.0.1:1",
            "",
        ] {
            assert_eq!(service_listening(other), None, "{other}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_address_is_read_from_this_run_of_the_log_only() {
        let dir = std::env::temp_dir().join(format!("launcher-process-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("echo.log");
        let line = r#"{"message":"listening","address":"127.0.0.1:1111"}"#;
        fs::write(&log, format!("{line}\n")).unwrap();
        let mut command = Command::new("sh");
        command.args([
            "-c",
            r#"echo '{"message":"listening","address":"127.0.0.1:2222"}'; sleep 5"#,
        ]);
        let mut process = Process::spawn("echo", command, &log).unwrap();
        let address = process
            .address(service_listening, Duration::from_secs(5))
            .await;
        assert_eq!(address, Ok("127.0.0.1:2222".parse().unwrap()));
        let took = process.stop(Signal::SIGTERM, Duration::from_secs(5));
        assert!(took.is_some(), "sh stops on SIGTERM");
        assert!(!process.is_running());
        fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_process_that_exits_before_it_listens_is_an_error_with_its_output() {
        let dir = std::env::temp_dir().join(format!("launcher-exit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo 'JWT_PRIVATE_KEY: cannot read keys/private.pem'; exit 2",
        ]);
        let mut process = Process::spawn("authen-service", command, &dir.join("a.log")).unwrap();
        let error = process
            .address(service_listening, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(error.contains("authen-service exited"), "{error}");
        assert!(error.contains("cannot read keys/private.pem"), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }
}
