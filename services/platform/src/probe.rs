//! `<binary> healthcheck`: asks the service running beside it whether it is alive.
//!
//! Why this exists: the container images carry no curl or wget (a smaller image with less in it to
//! patch), yet Docker's `HEALTHCHECK` and compose's `healthcheck:` need a command that exits 0
//! when the service is up. Every binary therefore answers to `healthcheck` as its first argument
//! ([`crate::server::run`] dispatches here before anything else): it sends one plain HTTP/1.1
//! `GET /healthz` to the port the service listens on (`HOST`/`PORT`, read exactly as the server
//! reads them) and exits 0 on a `200` status line, 1 on anything else, within [`TIMEOUT`].
//!
//! It deliberately uses only `std::net`: no runtime, no telemetry, no TLS, nothing that could fail
//! for a reason other than the service not answering.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream},
    process::ExitCode,
    time::{Duration, Instant},
};

use crate::{ServiceInfo, settings::HttpSettings};

/// The most the probe waits, connecting and reading together (Docker's own timeout is larger).
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The longest status line accepted; a real one is about 20 bytes.
const MAX_STATUS_LINE: u64 = 1024;

/// Runs the `healthcheck` subcommand for `service`: exit 0 when it answers `GET /healthz` with
/// 200, else 1 with one line on stderr saying why (Docker keeps it in `docker inspect`).
pub fn run(service: &ServiceInfo) -> ExitCode {
    // The server reads `.env` too; reading it here makes the probe look where the server listens.
    let _ = dotenvy::dotenv();
    let outcome = HttpSettings::from_env(service.default_port)
        .map_err(|error| error.to_string())
        .and_then(|http| check(target(http.host, http.port), TIMEOUT));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("{}: healthcheck: {reason}", service.name);
            ExitCode::FAILURE
        }
    }
}

/// Where to reach a server listening on `host:port` from the same machine: a wildcard address
/// (`0.0.0.0`, `::`, as in a container) is reached through the loopback address of its family.
pub fn target(host: IpAddr, port: u16) -> SocketAddr {
    let host = match host {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(host, port)
}

/// Sends `GET /healthz` to `address` and succeeds only on a `200` status line, all within
/// `timeout`. The error says what went wrong, for the one line the probe prints.
pub fn check(address: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|error| format!("cannot connect to {address}: {error}"))?;
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let io_error = |error: std::io::Error| format!("{address}: {error}");
    stream
        .set_write_timeout(Some(remaining))
        .and_then(|()| stream.set_read_timeout(Some(remaining)))
        .map_err(io_error)?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {address}\r\nUser-Agent: healthcheck\r\n\
         Connection: close\r\n\r\n"
    )
    .map_err(io_error)?;

    let mut status_line = String::new();
    BufReader::new(stream.take(MAX_STATUS_LINE))
        .read_line(&mut status_line)
        .map_err(io_error)?;
    let status_line = status_line.trim_end();
    let mut parts = status_line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/") => Ok(()),
        (Some(version), Some(code)) if version.starts_with("HTTP/") => {
            Err(format!("GET http://{address}/healthz answered {code}"))
        }
        _ if status_line.is_empty() => Err(format!("{address} closed without answering")),
        _ => Err(format!("{address} did not answer HTTP: {status_line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{BufRead, BufReader, Write},
        net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener},
        thread::{self, JoinHandle},
        time::{Duration, Instant},
    };

    use super::{check, target};

    /// A one-connection server that checks the request line and answers `response`; it hands back
    /// the request line it received.
    fn answer_once(response: &'static str) -> (SocketAddr, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("request line");
            // Read the headers up to the blank line, as a real server does, then answer.
            let mut line = String::new();
            while reader.read_line(&mut line).expect("header") > 2 {
                line.clear();
            }
            reader
                .get_mut()
                .write_all(response.as_bytes())
                .expect("answer");
            request_line
        });
        (address, server)
    }

    #[test]
    fn a_200_is_healthy() {
        let (address, server) = answer_once(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n\
             {\"status\":\"ok\"}",
        );
        assert_eq!(check(address, Duration::from_secs(2)), Ok(()));
        assert_eq!(server.join().unwrap(), "GET /healthz HTTP/1.1\r\n");
    }

    #[test]
    fn a_503_is_not_healthy() {
        let (address, server) =
            answer_once("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
        let error = check(address, Duration::from_secs(2)).unwrap_err();
        assert!(error.contains("503"), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn something_that_is_not_http_is_not_healthy() {
        let (address, server) = answer_once("SSH-2.0-OpenSSH_9.2\r\n");
        let error = check(address, Duration::from_secs(2)).unwrap_err();
        assert!(error.contains("did not answer HTTP"), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn nothing_listening_is_not_healthy() {
        let address = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address")
        };
        let error = check(address, Duration::from_secs(2)).unwrap_err();
        assert!(error.contains("cannot connect"), "{error}");
    }

    #[test]
    fn a_silent_server_is_not_healthy_and_the_probe_gives_up_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        // The kernel completes the handshake from the backlog; nobody ever answers.
        let started = Instant::now();
        let result = check(address, Duration::from_millis(300));
        assert!(result.is_err(), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        drop(listener);
    }

    #[test]
    fn a_wildcard_host_is_probed_on_loopback() {
        let v4_any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let v6_any = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let specific = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(target(v4_any, 3003), "127.0.0.1:3003".parse().unwrap());
        assert_eq!(target(v6_any, 3003), "[::1]:3003".parse().unwrap());
        assert_eq!(target(specific, 3001), "10.1.2.3:3001".parse().unwrap());
    }
}
