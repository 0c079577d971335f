//! `launcher`: the whole platform on this machine, as `scripts/up.sh` and `scripts/bench.sh` run
//! it. It starts the embedded MongoDB server (unless `MONGODB_URI` names a database), then the
//! four services in order, waits until each is ready, prints where each runs, and at Ctrl-C or
//! SIGTERM, or when one of them dies, stops the services and then the database. Run with `--help`.

use std::{
    collections::HashMap,
    net::TcpListener,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use clap::Parser;
use launcher::{
    EmbeddedMongo, Plan, SERVICES, Services, Wiring,
    definition::ADMIN_VARIABLES,
    paths,
    signal::stop_requested,
    viewer::{self, LocalEndpoint, TraceViewer},
};
use nix::sys::signal::Signal;
use platform::settings::{Variable, help_line, help_table};

/// Where the services listen: loopback only, whatever a shell's `HOST` says (tcsh exports the
/// machine's name there).
const HOST: &str = "127.0.0.1";

/// Starts the blog platform: the embedded MongoDB server (nx-27017) unless MONGODB_URI names a
/// database, then author-, authen-, user- and blog-service, each once the one before it says
/// where it listens. Prints where they run once every /readyz answers 200, and stops them all
/// (services first, then the database) at Ctrl-C or SIGTERM, or when one of them exits.
#[derive(Debug, Parser)]
#[command(name = "launcher", version, after_help = environment_help())]
struct Cli {
    /// Where the service binaries are [default: the directory of this program]
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,

    /// Where the logs (DIR/logs/<process>.log), the embedded server's databases (DIR/mongo) and
    /// the local trace viewer's traces (DIR/traces) go. The services run in the current
    /// directory, where they read a .env file if there is one.
    #[arg(long, value_name = "DIR", default_value = ".data")]
    data_dir: PathBuf,

    /// Once everything is ready, write what runs (name, pid, port, url and log of each process)
    /// to FILE as JSON, for scripts; removed when the platform stops.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// Every process listens on a port of its choosing, whatever the port variables say (see
    /// --state for where): for a platform beside others, such as a benchmark's.
    #[arg(long)]
    any_port: bool,

    /// Never start the local trace viewer. Without this, `traces serve` (built beside the
    /// services) starts first when the services export spans to this machine (the OTEL_*
    /// variables; localhost:4317 by default) and nothing listens there, so that no span is lost.
    #[arg(long)]
    no_trace_viewer: bool,

    /// The port of the local trace viewer's web pages and query API: Jaeger UI's, which the
    /// trace links the project prints point to.
    #[arg(long, value_name = "PORT", default_value_t = viewer::UI_PORT)]
    trace_viewer_ui_port: u16,
}

/// The variables the launcher reads, with their defaults: each service's port variable, then
/// [`Settings::VARIABLES`] and the embedded server's.
fn environment_help() -> String {
    let ports: String = SERVICES
        .iter()
        .map(|service| {
            let port = service.port.to_string();
            let help = format!("{}'s port", service.binary);
            help_line(service.port_variable, Some(&port), &help)
        })
        .collect();
    format!(
        "Environment (a port of 0 is any free port: the process says in its log which one it \
         got):\n{ports}{}\
         Every other variable (MONGODB_DB, JWT_*, OTEL_*, RUST_LOG, ...) reaches the services as \
         it is. They listen on {HOST} only.",
        help_table(Settings::VARIABLES.iter().chain(EmbeddedMongo::VARIABLES)),
    )
}

/// What the launcher takes from its environment.
struct Settings {
    ports: HashMap<&'static str, u16>,
    mongo_port: u16,
    /// A database to use instead of the embedded one.
    mongodb_uri: Option<String>,
    admin: Option<(String, String)>,
}

impl Settings {
    /// What [`Self::from_env`] reads besides the services' port variables, as `--help` lists it.
    const VARIABLES: &[Variable] = &[
        Variable {
            name: "MONGO_PORT",
            default: Some("27017"),
            help: "the embedded server's port",
        },
        Variable {
            name: "MONGODB_URI",
            default: None,
            help: "use this MongoDB instead of starting the embedded server",
        },
        Variable {
            name: ADMIN_VARIABLES[0],
            default: None,
            help: "given to user-service alone, which creates that administrator",
        },
        Variable {
            name: ADMIN_VARIABLES[1],
            default: None,
            help: "its password",
        },
    ];

    fn from_env(any_port: bool) -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let port = |name: &str, default: u16| match var(name) {
            _ if any_port => Ok(0),
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("{name}={text} is not a TCP port number (0 to 65535)")),
        };
        let mut ports = HashMap::new();
        for service in SERVICES {
            ports.insert(service.name, port(service.port_variable, service.port)?);
        }
        let [username, password] = ADMIN_VARIABLES.map(var);
        Ok(Self {
            ports,
            mongo_port: port("MONGO_PORT", 27017)?,
            mongodb_uri: var("MONGODB_URI"),
            admin: username.zip(password),
        })
    }

    /// Every fixed port is free, and no two processes are given the same one.
    fn check_ports(&self) -> Result<(), String> {
        let mongo = self
            .mongodb_uri
            .is_none()
            .then_some(("nx-27017", self.mongo_port));
        let services = SERVICES.iter().map(|s| (s.binary, self.ports[s.name]));
        let mut seen = HashMap::new();
        for (process, port) in services.chain(mongo).filter(|(_, port)| *port != 0) {
            if let Some(other) = seen.insert(port, process) {
                return Err(format!("{process} and {other} are both given port {port}"));
            }
            if TcpListener::bind((HOST, port)).is_err() {
                return Err(format!(
                    "port {port} (for {process}) is already in use: stop whatever listens there \
                     (ss -ltnp 'sport = :{port}' shows it) or choose another port"
                ));
            }
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("launcher: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let settings = Settings::from_env(cli.any_port)?;
    settings.check_ports()?;
    let log_dir = cli.data_dir.join("logs");
    std::fs::create_dir_all(&log_dir)
        .map_err(|error| format!("creating {}: {error}", log_dir.display()))?;
    // Each run's logs start empty (restarts within a run append).
    let logs = SERVICES.map(|service| format!("{}.log", service.binary));
    for log in logs
        .iter()
        .map(String::as_str)
        .chain(["nx-27017.log", "nx-27017.console.log"])
    {
        let _ = std::fs::remove_file(log_dir.join(log));
    }
    let stop = stop_requested();
    tokio::pin!(stop);
    // Processes the services need start first, so that the services find them ready: the local
    // trace viewer when nothing would receive their spans, and the embedded MongoDB server.
    let mut trace_viewer = match cli.no_trace_viewer {
        true => None,
        false => start_trace_viewer(&cli, &log_dir).await,
    };
    let mut mongo = match &settings.mongodb_uri {
        Some(_) => None,
        None => Some(EmbeddedMongo::new(
            EmbeddedMongo::binary()?,
            &cli.data_dir,
            &log_dir,
            HOST,
            settings.mongo_port,
        )),
    };
    let started = tokio::select! {
        started = start(&cli, &settings, &log_dir, mongo.as_mut()) => started,
        () = &mut stop => return Ok(()),
    };
    let mut services = started?;
    let helpers = Helpers {
        mongo: mongo.as_ref(),
        trace_viewer: trace_viewer.as_ref(),
    };
    print_table(&services, &helpers);
    if let Some(state) = &cli.state {
        write_state(state, &services, &helpers)?;
    }
    let outcome = watch(
        &mut services,
        mongo.as_mut(),
        trace_viewer.as_mut(),
        &mut stop,
    )
    .await;
    println!("\nstopping...");
    for (name, took) in services.stop() {
        if took.is_none() {
            eprintln!("launcher: {name} did not stop within 10 s after SIGTERM: killed it");
        }
    }
    // The services have sent their last spans as they stopped: the viewer may go now.
    if let Some(trace_viewer) = &mut trace_viewer {
        trace_viewer.stop();
    }
    if let Some(mongo) = &mut mongo {
        mongo.stop(Signal::SIGTERM);
    }
    if let Some(state) = &cli.state {
        let _ = std::fs::remove_file(state);
    }
    let helpers = Helpers {
        mongo: mongo.as_ref(),
        trace_viewer: trace_viewer.as_ref(),
    };
    report_ports(&services, &helpers);
    outcome
}

/// The local trace viewer, when the services would export to this machine and nothing listens
/// there. Without it the platform still runs (its spans are dropped), so a viewer that cannot
/// start is reported and done without.
async fn start_trace_viewer(cli: &Cli, log_dir: &Path) -> Option<TraceViewer> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let endpoint = LocalEndpoint::from_env(var).filter(|endpoint| !endpoint.is_served())?;
    let bin_dir = cli.bin_dir.clone().unwrap_or_else(paths::binary_dir);
    let binary = match paths::binary_in(&bin_dir, "traces") {
        Ok(binary) => binary,
        Err(missing) => {
            eprintln!(
                "launcher: nothing receives spans on port {}, and no trace viewer: {missing}; \
                 spans will be dropped",
                endpoint.port
            );
            return None;
        }
    };
    println!(
        "starting traces (the local trace viewer: nothing receives spans on port {})",
        endpoint.port
    );
    let data = cli.data_dir.join("traces");
    TraceViewer::start(&binary, endpoint, cli.trace_viewer_ui_port, &data, log_dir)
        .await
        .inspect_err(|error| eprintln!("launcher: no trace viewer: {error}"))
        .ok()
}

/// The database (when embedded), then the services.
async fn start(
    cli: &Cli,
    settings: &Settings,
    log_dir: &Path,
    mongo: Option<&mut EmbeddedMongo>,
) -> Result<Services, String> {
    let mongodb_uri = match mongo {
        Some(mongo) => {
            println!(
                "starting nx-27017 (data in {})",
                cli.data_dir.join("mongo").display()
            );
            mongo.start().await?;
            mongo.uri()
        }
        None => settings.mongodb_uri.clone().unwrap_or_default(),
    };
    let work_dir =
        std::env::current_dir().map_err(|error| format!("the current directory: {error}"))?;
    let plan = Plan {
        bin_dir: cli.bin_dir.clone().unwrap_or_else(paths::binary_dir),
        work_dir,
        log_dir: log_dir.to_owned(),
        wiring: Wiring {
            host: Some(HOST.to_owned()),
            mongodb_uri: Some(mongodb_uri),
            admin: settings.admin.clone(),
            ..Wiring::default()
        },
        ports: settings.ports.clone(),
        replicas: 1,
        clean_environment: false,
        own_process_group: true,
        env: Vec::new(),
    };
    for service in SERVICES {
        paths::binary_in(&plan.bin_dir, service.binary)?;
    }
    println!("starting {}", SERVICES.map(|s| s.binary).join(", "));
    Services::start(plan).await
}

/// Until a stop is requested (`Ok`) or a process exits by itself (`Err`, with its log).
async fn watch(
    services: &mut Services,
    mut mongo: Option<&mut EmbeddedMongo>,
    mut trace_viewer: Option<&mut TraceViewer>,
    stop: &mut (impl Future<Output = ()> + Unpin),
) -> Result<(), String> {
    let mut every = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            () = &mut *stop => return Ok(()),
            _ = every.tick() => {}
        }
        for service in SERVICES {
            let Some(process) = services.process_mut(service.name) else {
                continue;
            };
            if let Some(status) = process.exit_status() {
                return Err(format!(
                    "{} exited ({status})\n{}",
                    service.binary,
                    process.log_tail()
                ));
            }
        }
        if let Some(mongo) = mongo.as_deref_mut()
            && let Some(status) = mongo.exit_status()
        {
            return Err(format!("nx-27017 exited ({status})"));
        }
        if let Some(trace_viewer) = trace_viewer.as_deref_mut()
            && let Some(status) = trace_viewer.exit_status()
        {
            return Err(format!(
                "traces exited ({status})\n{}",
                trace_viewer.process().log_tail()
            ));
        }
    }
}

/// The processes the launcher runs beside the services, when it runs them.
struct Helpers<'a> {
    mongo: Option<&'a EmbeddedMongo>,
    trace_viewer: Option<&'a TraceViewer>,
}

/// One line per process: name, URL, pid, log.
fn print_table(services: &Services, helpers: &Helpers) {
    println!("\n{:<16} {:<34} {:<8} LOG", "PROCESS", "URL", "PID");
    for row in rows(services, helpers) {
        println!(
            "{:<16} {:<34} {:<8} {}",
            row.name, row.url, row.pid, row.log
        );
    }
    if helpers.mongo.is_none() {
        println!(
            "{:<16} {:<34} {:<8} -",
            "mongodb", "(MONGODB_URI from the environment)", "-"
        );
    }
    if let Some(viewer) = helpers.trace_viewer {
        println!(
            "\nThe trace viewer keeps its traces in {} across restarts (docs/viewer.md).",
            viewer.data().display()
        );
    }
    println!();
}

/// [`print_table`]'s rows, for [`write_state`] too.
struct Row {
    name: String,
    url: String,
    port: u16,
    pid: u32,
    log: String,
}

fn rows(services: &Services, helpers: &Helpers) -> Vec<Row> {
    let trace_viewer = helpers
        .trace_viewer
        .map(|viewer| (viewer.process(), viewer.url(), viewer.ui_port()));
    let mongo = helpers
        .mongo
        .and_then(|mongo| Some((mongo.process()?, mongo.uri(), mongo.port())));
    let services = SERVICES.iter().filter_map(|service| {
        let process = services.process(service.name)?;
        Some((
            process,
            services.url(service.name),
            services.port(service.name),
        ))
    });
    trace_viewer
        .into_iter()
        .chain(mongo)
        .chain(services)
        .map(|(process, url, port)| Row {
            name: process.name().to_owned(),
            url,
            port,
            pid: process.pid().unwrap_or(0),
            log: process.log().display().to_string(),
        })
        .collect()
}

/// `{"processes": [{"name", "url", "port", "pid", "log"}, ...]}` (absolute log paths), written
/// whole or not at all.
fn write_state(path: &Path, services: &Services, helpers: &Helpers) -> Result<(), String> {
    let processes: Vec<serde_json::Value> = rows(services, helpers)
        .into_iter()
        .map(|row| {
            let log = std::path::absolute(&row.log).unwrap_or_else(|_| row.log.clone().into());
            serde_json::json!({
                "name": row.name, "url": row.url, "port": row.port, "pid": row.pid, "log": log,
            })
        })
        .collect();
    let text = serde_json::json!({ "processes": processes }).to_string();
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|error| format!("writing {}: {error}", path.display()))
}

/// Says whether any port of the stopped platform still accepts connections.
fn report_ports(services: &Services, helpers: &Helpers) {
    let mut ports: Vec<u16> = SERVICES.iter().map(|s| services.port(s.name)).collect();
    ports.extend(helpers.mongo.map(EmbeddedMongo::port));
    ports.extend(helpers.trace_viewer.map(TraceViewer::ui_port));
    let busy: Vec<String> = ports
        .iter()
        .filter(|port| std::net::TcpStream::connect((HOST, **port)).is_ok())
        .map(u16::to_string)
        .collect();
    let all: Vec<String> = ports.iter().map(u16::to_string).collect();
    if busy.is_empty() {
        println!(
            "stopped; nothing is listening on ports {} any more",
            all.join(" ")
        );
    } else {
        eprintln!(
            "launcher: something still listens on port(s) {}: see ss -ltnp",
            busy.join(" ")
        );
    }
}
