//! Starting the four services as the definition says, one or more replicas of each, and stopping
//! them.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use nix::sys::signal::Signal;

use crate::{
    definition::{AUTHOR, SERVICES, Service, Wiring},
    process::{self, Process, service_listening},
};

/// How long a service may take to say where it listens.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a service may take to be ready once it listens (`scripts/up.sh`'s patience).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How to run the services.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where their binaries are: a cargo profile's directory (see [`crate::paths::binary_dir`]).
    pub bin_dir: PathBuf,
    /// Their working directory, where they would read a `.env` file.
    pub work_dir: PathBuf,
    /// Where each one's output goes, as `<binary>.log`.
    pub log_dir: PathBuf,
    pub wiring: Wiring,
    /// Ports by service name, for the first replica; a service not named here, or given 0, and
    /// every further replica, listens where the system lets it, and says where in its log, so
    /// that nothing races for a free port.
    pub ports: HashMap<&'static str, u16>,
    /// How many processes of each service run (1, or 0 taken as 1: the platform as
    /// `scripts/up.sh` runs it). The first replica of `author` is named `author`, the second
    /// `author#2`, and so on: see [`replica_names`].
    pub replicas: usize,
    /// Start them from an empty environment (`PATH` alone) rather than this process's, so that
    /// what they do depends on the plan alone (tests, benchmarks).
    pub clean_environment: bool,
    /// Start each in a process group of its own, so that a Ctrl-C in the terminal reaches the
    /// launcher alone, which then stops them in order.
    pub own_process_group: bool,
    /// More variables for every service, after the wiring's.
    pub env: Vec<(String, String)>,
}

/// The names of `service`'s replicas when `count` run: `author`, `author#2`, ... The first is
/// the service's own name, so a platform of one replica each names its processes as before.
pub fn replica_names(service: Service, count: usize) -> Vec<String> {
    (1..=count.max(1))
        .map(|n| match n {
            1 => service.name.to_owned(),
            n => format!("{}#{n}", service.name),
        })
        .collect()
}

/// The running services.
pub struct Services {
    plan: Plan,
    /// Where each replica listens, once known.
    ports: HashMap<String, u16>,
    processes: HashMap<String, Process>,
    /// Variables for one replica only, after everything else.
    service_env: HashMap<String, Vec<(String, String)>>,
    http: reqwest::Client,
}

impl Services {
    /// Starts the four services and waits until each is ready. author-service goes first: the
    /// others are told where it listens.
    pub async fn start(plan: Plan) -> Result<Self, String> {
        let mut services = Self::launch(plan).await?;
        services.wait_all_ready().await?;
        Ok(services)
    }

    /// Starts every replica of the four services and returns once each has said where it
    /// listens, before they are ready: for a caller that puts something in front of them (a load
    /// balancer that `Wiring::author_url` names) before [`wait_all_ready`](Self::wait_all_ready).
    /// author-service goes first: without a balancer, the others are told where it listens.
    pub async fn launch(plan: Plan) -> Result<Self, String> {
        let mut services = Self {
            ports: HashMap::new(),
            processes: HashMap::new(),
            service_env: HashMap::new(),
            http: reqwest::Client::new(),
            plan,
        };
        for name in services.replicas(AUTHOR.name) {
            services.spawn(&name)?;
            services.find_port(&name).await?;
        }
        let others: Vec<String> = SERVICES[1..]
            .iter()
            .flat_map(|service| services.replicas(service.name))
            .collect();
        for name in &others {
            services.spawn(name)?;
        }
        for name in &others {
            services.find_port(name).await?;
        }
        Ok(services)
    }

    /// Waits until every replica is ready.
    pub async fn wait_all_ready(&mut self) -> Result<(), String> {
        for service in SERVICES {
            for name in self.replicas(service.name) {
                self.wait_ready(&name, READY_TIMEOUT).await?;
            }
        }
        Ok(())
    }

    /// The names of the service's replicas (see [`replica_names`]).
    pub fn replicas(&self, service: &str) -> Vec<String> {
        replica_names(service_named(service), self.plan.replicas)
    }

    /// Starts a replica (again), on its port. The port must be known: given in the plan, or
    /// read back when the platform started.
    pub fn restart(&mut self, name: &str) -> Result<(), String> {
        if self.port(name) == 0 {
            return Err(format!("{} has no known port yet", process_name(name)));
        }
        self.spawn(name)
    }

    fn spawn(&mut self, name: &str) -> Result<(), String> {
        let command = self.command(name);
        let process_name = process_name(name);
        let log = self.log_path(name);
        let process =
            Process::spawn(&process_name, command, &log).map_err(|error| error.to_string())?;
        self.processes.insert(name.to_owned(), process);
        Ok(())
    }

    /// Where the replica's output goes: `author-service.log`, `author-service#2.log`, ...
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.plan
            .log_dir
            .join(format!("{}.log", process_name(name)))
    }

    /// The command that runs replica `name` with its environment.
    fn command(&self, name: &str) -> Command {
        let service = service_named(name);
        let mut command = Command::new(self.plan.bin_dir.join(service.binary));
        command.current_dir(&self.plan.work_dir);
        if self.plan.clean_environment {
            command.env_clear();
            command.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        }
        if !service.bootstraps_admin {
            // Never hand the administrator's password to a service that has no use for it.
            for name in crate::definition::ADMIN_VARIABLES {
                command.env_remove(name);
            }
        }
        let wiring = &self.plan.wiring;
        let author_url = wiring
            .author_url
            .clone()
            .unwrap_or_else(|| self.url(AUTHOR.name));
        command.envs(service.environment(wiring, self.port(name), &author_url));
        let one_service = self.service_env.get(name).into_iter().flatten();
        command.envs(self.plan.env.iter().chain(one_service).map(|(k, v)| (k, v)));
        if self.plan.own_process_group {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        command
    }

    /// Reads the port a replica listens on back from its log.
    async fn find_port(&mut self, name: &str) -> Result<(), String> {
        let process = self.processes.get_mut(name).expect("a started service");
        let address = process.address(service_listening, LISTEN_TIMEOUT).await?;
        self.ports.insert(name.to_owned(), address.port());
        Ok(())
    }

    /// Waits until `/readyz` of the service answers 200; fails with its log if it exits first or
    /// `timeout` passes.
    pub async fn wait_ready(&mut self, name: &str, timeout: Duration) -> Result<(), String> {
        let url = format!("{}/readyz", self.url(name));
        let started = Instant::now();
        loop {
            if let Ok(response) = self.http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            let process = self.processes.get_mut(name).expect("a started service");
            if !process.is_running() || started.elapsed() > timeout {
                let why = if process.is_running() {
                    format!("did not answer 200 at {url} within {timeout:?}")
                } else {
                    "exited".to_owned()
                };
                return Err(format!("{} {why}\n{}", process.name(), process.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The port a replica listens on (0 while unknown).
    pub fn port(&self, name: &str) -> u16 {
        let planned = self.plan.ports.get(name).copied().unwrap_or(0);
        self.ports.get(name).copied().unwrap_or(planned)
    }

    /// The service's base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self, name: &str) -> String {
        let host = match self.plan.wiring.host() {
            "0.0.0.0" => "127.0.0.1",
            "::" => "[::1]",
            host => host,
        };
        format!("http://{host}:{}", self.port(name))
    }

    /// The service's process, while the launcher runs it.
    pub fn process(&self, name: &str) -> Option<&Process> {
        self.processes.get(name)
    }

    pub fn process_mut(&mut self, name: &str) -> Option<&mut Process> {
        self.processes.get_mut(name)
    }

    /// Hands the service's process over to the caller, who stops it.
    pub fn take(&mut self, name: &str) -> Option<Process> {
        self.processes.remove(name)
    }

    /// Variables for one replica's next start (after it was stopped). A name that is no
    /// replica of this platform (`blog#3` of two) panics rather than never taking effect.
    pub fn set_service_env(&mut self, name: &str, env: Vec<(String, String)>) {
        assert!(
            self.replicas(service_named(name).name)
                .iter()
                .any(|replica| replica == name),
            "no replica is named {name:?}"
        );
        self.service_env.insert(name.to_owned(), env);
    }

    /// Stops every replica at once with SIGTERM (SIGKILL for one still running after 10 s);
    /// returns each one's process name and how long it took (`None`: killed).
    pub fn stop(&mut self) -> Vec<(String, Option<Duration>)> {
        let names: Vec<String> = SERVICES
            .iter()
            .flat_map(|service| self.replicas(service.name))
            .collect();
        let mut processes: Vec<Process> = names
            .iter()
            .filter_map(|name| self.processes.remove(name))
            .collect();
        let took = process::stop_all(&mut processes, Signal::SIGTERM, Duration::from_secs(10));
        processes
            .iter()
            .map(|p| p.name().to_owned())
            .zip(took)
            .collect()
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The service a replica (`blog`, `blog#2`) runs.
pub fn service_named(name: &str) -> Service {
    let service = name.split_once('#').map_or(name, |(service, _)| service);
    crate::definition::service(service).unwrap_or_else(|| panic!("no service is named {name:?}"))
}

/// A replica's process name: its binary, and its number after the first (`blog-service#2`).
fn process_name(name: &str) -> String {
    let binary = service_named(name).binary;
    match name.split_once('#') {
        Some((_, n)) => format!("{binary}#{n}"),
        None => binary.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_after_the_first_are_numbered() {
        let blog = crate::definition::service("blog").unwrap();
        assert_eq!(replica_names(blog, 0), ["blog"]);
        assert_eq!(replica_names(blog, 1), ["blog"]);
        assert_eq!(replica_names(blog, 3), ["blog", "blog#2", "blog#3"]);
        assert_eq!(service_named("blog#2"), blog);
        assert_eq!(process_name("blog"), "blog-service");
        assert_eq!(process_name("blog#2"), "blog-service#2");
    }
}
