//! Starting the four services as the definition says, and stopping them.

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
    /// Ports by service name; a service not named here, or given 0, listens where the system
    /// lets it, and says where in its log, so that nothing races for a free port.
    pub ports: HashMap<&'static str, u16>,
    /// Start them from an empty environment (`PATH` alone) rather than this process's, so that
    /// what they do depends on the plan alone (tests, benchmarks).
    pub clean_environment: bool,
    /// Start each in a process group of its own, so that a Ctrl-C in the terminal reaches the
    /// launcher alone, which then stops them in order.
    pub own_process_group: bool,
    /// More variables for every service, after the wiring's.
    pub env: Vec<(String, String)>,
}

/// The running services.
pub struct Services {
    plan: Plan,
    /// Where each one listens, once known.
    ports: HashMap<&'static str, u16>,
    processes: HashMap<&'static str, Process>,
    /// Variables for one service only, after everything else.
    service_env: HashMap<&'static str, Vec<(String, String)>>,
    http: reqwest::Client,
}

impl Services {
    /// Starts the four services and waits until each is ready. author-service goes first: the
    /// others are told where it listens.
    pub async fn start(plan: Plan) -> Result<Self, String> {
        let mut services = Self {
            ports: HashMap::new(),
            processes: HashMap::new(),
            service_env: HashMap::new(),
            http: reqwest::Client::new(),
            plan,
        };
        services.spawn(AUTHOR)?;
        services.find_port(AUTHOR).await?;
        for service in &SERVICES[1..] {
            services.spawn(*service)?;
        }
        for service in &SERVICES[1..] {
            services.find_port(*service).await?;
        }
        for service in SERVICES {
            services.wait_ready(service.name, READY_TIMEOUT).await?;
        }
        Ok(services)
    }

    /// Starts `service` (again), on its port. The port must be known: given in the plan, or
    /// read back when the platform started.
    pub fn restart(&mut self, name: &str) -> Result<(), String> {
        let service = service_named(name);
        if self.port(name) == 0 {
            return Err(format!("{} has no known port yet", service.binary));
        }
        self.spawn(service)
    }

    fn spawn(&mut self, service: Service) -> Result<(), String> {
        let command = self.command(service);
        let log = self.plan.log_dir.join(format!("{}.log", service.binary));
        let process =
            Process::spawn(service.binary, command, &log).map_err(|error| error.to_string())?;
        self.processes.insert(service.name, process);
        Ok(())
    }

    /// The command that runs `service` with its environment.
    fn command(&self, service: Service) -> Command {
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
        command.envs(service.environment(wiring, self.port(service.name), self.port("author")));
        let one_service = self.service_env.get(service.name).into_iter().flatten();
        command.envs(self.plan.env.iter().chain(one_service).map(|(k, v)| (k, v)));
        if self.plan.own_process_group {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        command
    }

    /// Reads the port `service` listens on back from its log.
    async fn find_port(&mut self, service: Service) -> Result<(), String> {
        let process = self
            .processes
            .get_mut(service.name)
            .expect("a started service");
        let address = process.address(service_listening, LISTEN_TIMEOUT).await?;
        self.ports.insert(service.name, address.port());
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

    /// The port a service listens on (0 while unknown).
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

    /// Variables for one service's next start (after it was stopped).
    pub fn set_service_env(&mut self, name: &str, env: Vec<(String, String)>) {
        self.service_env.insert(service_named(name).name, env);
    }

    /// Stops every service at once with SIGTERM (SIGKILL for one still running after 10 s);
    /// returns each one's binary and how long it took (`None`: killed).
    pub fn stop(&mut self) -> Vec<(String, Option<Duration>)> {
        let mut processes: Vec<Process> = SERVICES
            .iter()
            .filter_map(|service| self.processes.remove(service.name))
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

fn service_named(name: &str) -> Service {
    crate::definition::service(name).unwrap_or_else(|| panic!("no service is named {name:?}"))
}
