//! The embedded MongoDB-compatible server for machines without MongoDB: nx-27017, a MongoDB wire
//! protocol server on SQLite (`scripts/test.sh` and `scripts/up.sh` install it into
//! `.tools/venv`).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use nix::sys::signal::Signal;
use platform::settings::Variable;

use crate::{paths::project_root, process::Process};

/// How long nx-27017 may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// An nx-27017 process with its databases in a directory of its own. It keeps its port across
/// [`stop`](Self::stop) and [`start`](Self::start), as a restarted server would, so the services
/// find it again.
pub struct EmbeddedMongo {
    binary: PathBuf,
    dir: PathBuf,
    log_dir: PathBuf,
    host: String,
    /// The port asked for (0: any), then the one it got.
    port: u16,
    process: Option<Process>,
}

impl EmbeddedMongo {
    /// The server `binary`, keeping its databases in `dir/mongo/` and its pid file in `dir`,
    /// writing its logs to `log_dir` (`nx-27017.log`, and `nx-27017.console.log` for what it
    /// prints, a crash's traceback included), and listening on `host:port` (0: a free port).
    pub fn new(binary: PathBuf, dir: &Path, log_dir: &Path, host: &str, port: u16) -> Self {
        Self {
            binary,
            dir: dir.to_owned(),
            log_dir: log_dir.to_owned(),
            host: host.to_owned(),
            port,
            process: None,
        }
    }

    /// What [`Self::binary`] reads, as `--help` lists it.
    pub const VARIABLES: &[Variable] = &[Variable {
        name: "NX_27017_BIN",
        default: Some(".tools/venv/bin/nx-27017"),
        help: "the embedded server, which scripts/up.sh and scripts/test.sh install",
    }];

    /// `NX_27017_BIN`, or the copy `.tools/venv` holds.
    pub fn binary() -> Result<PathBuf, String> {
        let path = std::env::var_os("NX_27017_BIN")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| project_root().join(".tools/venv/bin/nx-27017"));
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} is missing: scripts/test.sh and scripts/up.sh install nx-27017 there (or set \
                 NX_27017_BIN)",
                path.display()
            ))
        }
    }

    /// `mongodb://host:port`.
    pub fn uri(&self) -> String {
        format!("mongodb://{}:{}", self.host, self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn process(&self) -> Option<&Process> {
        self.process.as_ref()
    }

    /// How the server ended, if it has.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.process.as_mut()?.exit_status()
    }

    /// Starts the server, unless it runs, and waits until it listens.
    pub async fn start(&mut self) -> Result<(), String> {
        if self.process.is_some() {
            return Ok(());
        }
        let data = self.dir.join("mongo");
        let pid_file = self.dir.join("nx-27017.pid");
        std::fs::create_dir_all(&data)
            .and_then(|()| std::fs::create_dir_all(&self.log_dir))
            .map_err(|error| format!("creating {}: {error}", data.display()))?;
        remove_stale_pid_file(&pid_file)?;
        let mut command = Command::new(&self.binary);
        command
            .args(["--host", &self.host, "-p", &self.port.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg("--log-file")
            .arg(self.log_dir.join("nx-27017.log"));
        let console = self.log_dir.join("nx-27017.console.log");
        let mut process =
            Process::spawn("nx-27017", command, &console).map_err(|error| error.to_string())?;
        let address = process.address(listening, START_TIMEOUT).await?;
        self.port = address.port();
        self.process = Some(process);
        Ok(())
    }

    /// Stops the server with `signal` (SIGKILL looks like a crash to the services).
    pub fn stop(&mut self, signal: Signal) {
        if let Some(mut process) = self.process.take() {
            process.stop(signal, Duration::from_secs(10));
        }
    }
}

/// nx-27017 refuses to start while its pid file names a live process: a file left by a run that
/// did not stop cleanly (kill -9, a crash, a reboot) is removed, one naming a running nx-27017 is
/// an error.
fn remove_stale_pid_file(pid_file: &Path) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return Ok(());
    };
    let pid = text.trim();
    let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if !pid.is_empty() && String::from_utf8_lossy(&command_line).contains("nx-27017") {
        return Err(format!(
            "nx-27017 from an earlier run is still running (pid {pid}, see {}); stop it with: \
             kill {pid}",
            pid_file.display()
        ));
    }
    std::fs::remove_file(pid_file)
        .map_err(|error| format!("removing the stale {}: {error}", pid_file.display()))
}

/// nx-27017's start-up line: `... - Listening on 127.0.0.1:27017`.
fn listening(line: &str) -> Option<SocketAddr> {
    line.split_once("Listening on ")?.1.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_up_line_names_the_port() {
        let line =
            "2026-11-29 13:58:08,093 - nx_27017 - INFO - [12854] - Listening on 127.0.0.1:37777";
        assert_eq!(listening(line), Some("127.0.0.1:37777".parse().unwrap()));
        assert_eq!(listening("Starting NX-27017 with ... port=0"), None);
    }
}
