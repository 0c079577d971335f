//! nginx in front of the services' replicas, as docs/deploy.md ("Replicas behind a load balancer")
//! tells an operator to run it: one listening port and one `upstream` per service. The part of the
//! configuration an operator copies is [`site_config`]; the test run wraps it in a configuration of
//! its own ([`Balancer::start`]) that keeps every file nginx writes in the test's directory and
//! runs it in the foreground as the current user.

use std::{
    collections::HashMap,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use launcher::{Process, SERVICES, Service};

/// How long nginx leaves a replica out of rotation after a failed attempt (`fail_timeout`): a
/// stopped replica then costs one refused connection, retried at once on the other replica, per
/// this time, and a restarted one is sent requests again this long after it last failed.
pub const FAIL_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a rolling restart waits after a replica is ready before stopping the next one: nginx
/// counts [`FAIL_TIMEOUT`] in whole seconds, so it may keep a restarted replica out of rotation
/// up to a second longer, and stopping its sibling meanwhile leaves no replica in rotation
/// (`no live upstreams`, 502 for every request).
pub const BACK_IN_ROTATION: Duration = Duration::from_secs(2);

/// nginx from `NGINX_BIN` (scripts/test.sh installs Debian's package), else `nginx` on `PATH`,
/// else where Debian puts it.
fn nginx_binary() -> String {
    std::env::var("NGINX_BIN")
        .ok()
        .filter(|path| !path.is_empty())
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .chain([Path::new("/usr/sbin").to_owned()])
                .map(|dir| dir.join("nginx"))
                .find(|path| path.is_file())
                .map(|path| path.display().to_string())
        })
        .expect("no nginx: run the tests with scripts/test.sh, which installs it")
}

/// One service behind the balancer: where the balancer listens for it and its replicas'
/// addresses (`host:port`).
pub struct Route {
    pub service: Service,
    pub listen: String,
    pub replicas: Vec<String>,
}

/// The `http`-level configuration that balances the services' replicas (what
/// `/etc/nginx/conf.d/blog-platform.conf` holds on Debian). docs/deploy.md shows it for a
/// deployment, and `tests/replicas.rs` checks that it is this text.
pub fn site_config(routes: &[Route]) -> String {
    let mut config = String::from(
        "\
# Keep connections to the replicas open (HTTP/1.1 without `Connection: close`).
proxy_http_version 1.1;
proxy_set_header Connection \"\";
proxy_set_header Host $host;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
# A replica that does not accept a connection within 1 s is down; a service answers within 5 s.
proxy_connect_timeout 1s;
proxy_read_timeout 10s;
# A request is tried on one other replica at most, so an outage of every replica answers at once.
proxy_next_upstream_tries 2;
",
    );
    for route in routes {
        let name = route.service.name;
        config.push_str(&format!("\nupstream {name} {{\n"));
        for replica in &route.replicas {
            config.push_str(&format!(
                "    server {replica} max_fails=1 fail_timeout={}s;\n",
                FAIL_TIMEOUT.as_secs()
            ));
        }
        config.push_str(&format!(
            "    keepalive 16;\n}}\n\nserver {{\n    listen {listen};\n    location / {{\n        proxy_pass http://{name};\n{retry}    }}\n}}\n",
            listen = route.listen,
            retry = next_upstream(name),
        ));
    }
    config
}

/// When nginx tries a request to `service` on the other replica, and why that is safe. A request
/// that never reached a replica (`error`: the connection was refused) is always safe to send
/// again; nginx sends a POST again after it was sent only with `non_idempotent`.
fn next_upstream(service: &str) -> &'static str {
    match service {
        "author" => {
            "        # POST /authorize only reads and POST /revocations records a jti once, so any
        # request may be sent again; a replica answers 503 until it has read the revocations.
        proxy_next_upstream error timeout http_503 non_idempotent;
"
        }
        "authen" => {
            "        # POST /login issues another token and POST /logout records a jti once, so any
        # request may be sent again.
        proxy_next_upstream error timeout non_idempotent;
"
        }
        _ => {
            "        # A POST that reached a replica may have been stored: never sent twice. A 503 means
        # a dependency is down, for the other replica too: not tried there, and the replica is
        # not taken out of rotation for it.
        proxy_next_upstream error timeout;
"
        }
    }
}

/// nginx running in the foreground for one test.
pub struct Balancer {
    /// nginx itself, stopped when the balancer is dropped.
    _process: Process,
    ports: HashMap<&'static str, u16>,
    access_log: std::path::PathBuf,
}

impl Balancer {
    /// A free loopback port for each service, to give the services (`AUTHOR_URL`) before nginx
    /// starts, since nginx cannot say which port it got. They are taken below the kernel's
    /// ephemeral range, where no process listening on port 0 (the replicas, the other tests'
    /// services) can be given one of them before nginx binds it.
    pub fn choose_ports() -> HashMap<&'static str, u16> {
        let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|range| range.split_whitespace().next()?.parse().ok())
            .unwrap_or(32768u16);
        // Tests run in parallel, in several processes: start each search somewhere else.
        let seed =
            std::process::id() as u64 ^ std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64;
        let span = u64::from(ephemeral - 10_000);
        let mut candidates = (0..span).map(|i| 10_000 + ((seed + i * 7919) % span) as u16);
        SERVICES
            .iter()
            .map(|service| {
                let port = candidates
                    .by_ref()
                    .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
                    .expect("a free port below the ephemeral range");
                (service.name, port)
            })
            .collect()
    }

    /// Starts nginx in `dir` listening on `ports`, in front of each service's `replicas` (ports
    /// on 127.0.0.1), and waits until it accepts connections on every port.
    pub async fn start(
        dir: &Path,
        ports: HashMap<&'static str, u16>,
        replicas: &HashMap<&'static str, Vec<u16>>,
    ) -> Self {
        let routes: Vec<Route> = SERVICES
            .iter()
            .map(|service| Route {
                service: *service,
                listen: format!("127.0.0.1:{}", ports[service.name]),
                replicas: replicas[service.name]
                    .iter()
                    .map(|port| format!("127.0.0.1:{port}"))
                    .collect(),
            })
            .collect();
        std::fs::create_dir_all(dir).expect("a directory for nginx");
        let access_log = dir.join("access.log");
        // Running as root (a CI container), nginx would switch its worker to `nobody`, which
        // cannot write in the test's directory; as anyone else the directive is ignored.
        let user = if nix::unistd::geteuid().is_root() {
            "user root;\n"
        } else {
            ""
        };
        let d = dir.display();
        let config = format!(
            "\
daemon off;
{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 1024; }}
http {{
client_body_temp_path {d}/client_body;
proxy_temp_path {d}/proxy;
fastcgi_temp_path {d}/fastcgi;
uwsgi_temp_path {d}/uwsgi;
scgi_temp_path {d}/scgi;
log_format upstreams '$request_method $request_uri $status upstream=$upstream_addr statuses=$upstream_status';
access_log {log} upstreams;
{site}}}
",
            log = access_log.display(),
            site = site_config(&routes),
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).expect("writing nginx.conf");
        let mut command = Command::new(nginx_binary());
        // -e: the error log before the configuration is read, else nginx tries /var/log/nginx.
        command
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"));
        let mut process = Process::spawn("nginx", command, &dir.join("nginx.log"))
            .unwrap_or_else(|error| panic!("{error}"));
        let started = Instant::now();
        for port in ports.values() {
            while tokio::net::TcpStream::connect(("127.0.0.1", *port))
                .await
                .is_err()
            {
                let error_log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                assert!(
                    process.is_running() && started.elapsed() < Duration::from_secs(10),
                    "nginx does not listen on {port}:\n{}\n{error_log}",
                    process.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Self {
            _process: process,
            ports,
            access_log,
        }
    }

    /// Where the balancer listens for each service.
    pub fn ports(&self) -> &HashMap<&'static str, u16> {
        &self.ports
    }

    /// The access log so far: one line per request, with the replicas nginx tried and what each
    /// answered (`upstream=127.0.0.1:41001, 127.0.0.1:41002 statuses=502, 201`).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(&self.access_log).unwrap_or_default()
    }

    /// How many requests (of every service) nginx sent to a second replica after the first
    /// failed: the access log names two replicas for each.
    pub fn retried(&self) -> usize {
        self.access_log()
            .lines()
            .filter(|line| line.contains("upstream=") && line.contains(", "))
            .count()
    }

    /// What nginx logged about failed attempts (`connect() failed ... while connecting to
    /// upstream`, `no live upstreams`, ...), with the request and the replica each concerned.
    pub fn error_log(&self) -> String {
        let dir = self.access_log.parent().expect("the balancer's directory");
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    }
}
