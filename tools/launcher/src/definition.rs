//! The platform's four services: their names, ports, start order and environment.
//!
//! This is the one place that knows them. The launcher starts the services from it (for
//! `scripts/up.sh`, `scripts/bench.sh` and the tests), `traffic` takes its default addresses from
//! it, and `tests/pm2.rs`, `tests/compose.rs` and `tests/kubernetes/` check that
//! `ecosystem.config.js` (pm2), `docker-compose.yml` and deploy/kubernetes, which stay declarative
//! files of their tools, say the same.

use std::path::PathBuf;

/// One service of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Its short name: `author`, also the service's name in `docker-compose.yml`.
    pub name: &'static str,
    /// Its binary (cargo package), which is also its `service.name` in traces: `author-service`.
    pub binary: &'static str,
    /// The port it listens on by default.
    pub port: u16,
    /// The variable `scripts/up.sh`, pm2's file and `traffic` take its port from: `AUTHOR_PORT`.
    pub port_variable: &'static str,
    /// Whether it is given the administrator's credentials: only user-service creates the
    /// administrator, so only it ever sees the password.
    pub bootstraps_admin: bool,
}

/// The services in the order they start: author-service first, because the others need its
/// address (`AUTHOR_URL`) and their `/readyz` asks it.
pub const SERVICES: [Service; 4] = [
    Service {
        name: "author",
        binary: "author-service",
        port: 3004,
        port_variable: "AUTHOR_PORT",
        bootstraps_admin: false,
    },
    Service {
        name: "authen",
        binary: "authen-service",
        port: 3001,
        port_variable: "AUTHEN_PORT",
        bootstraps_admin: false,
    },
    Service {
        name: "user",
        binary: "user-service",
        port: 3002,
        port_variable: "USER_PORT",
        bootstraps_admin: true,
    },
    Service {
        name: "blog",
        binary: "blog-service",
        port: 3003,
        port_variable: "BLOG_PORT",
        bootstraps_admin: false,
    },
];

/// The service every other one asks whether a token carries a permission.
pub const AUTHOR: Service = SERVICES[0];

/// The variables the platform gives every service, in the order [`Service::environment`] sets
/// them. The services read more (`JWT_ISSUER`, `OTEL_*`, ...: see each binary's `--help`); those
/// are the user's to set and pass through unchanged.
pub const VARIABLES: [&str; 10] = [
    "HOST",
    "PORT",
    "AUTHOR_URL",
    "MONGODB_URI",
    "MONGODB_DB",
    "JWT_PRIVATE_KEY",
    "JWT_PUBLIC_KEY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "RUST_LOG",
    "FLAGS_FILE",
];

/// The administrator's credentials, given to the services that [`Service::bootstraps_admin`] only.
pub const ADMIN_VARIABLES: [&str; 2] = ["ADMIN_USERNAME", "ADMIN_PASSWORD"];

/// The service named `name` (`"blog"`), if there is one.
pub fn service(name: &str) -> Option<Service> {
    SERVICES.into_iter().find(|service| service.name == name)
}

/// What the services are wired to. A value left `None` is not set by the platform: the service
/// then reads it from its own environment or `.env` file, or takes its default.
#[derive(Debug, Clone, Default)]
pub struct Wiring {
    /// `HOST`: where every service listens (127.0.0.1 when `None`).
    pub host: Option<String>,
    /// `AUTHOR_URL`, when the others reach author-service elsewhere than at its first replica:
    /// through a load balancer in front of its replicas.
    pub author_url: Option<String>,
    pub mongodb_uri: Option<String>,
    pub mongodb_db: Option<String>,
    pub private_key: Option<PathBuf>,
    pub public_key: Option<PathBuf>,
    pub otlp_endpoint: Option<String>,
    pub rust_log: Option<String>,
    /// The scenario flags (docs/scenarios.md).
    pub flags_file: Option<PathBuf>,
    /// `ADMIN_USERNAME` and `ADMIN_PASSWORD`, for user-service.
    pub admin: Option<(String, String)>,
}

impl Wiring {
    /// Where the services listen.
    pub fn host(&self) -> &str {
        self.host.as_deref().unwrap_or("127.0.0.1")
    }
}

impl Service {
    /// The variables the platform gives this service (see [`VARIABLES`]).
    pub fn variables(&self) -> Vec<&'static str> {
        let admin = self.bootstraps_admin.then_some(ADMIN_VARIABLES);
        VARIABLES
            .into_iter()
            .chain(admin.into_iter().flatten())
            .collect()
    }

    /// The service's environment when it listens on `port` (0: a port the system picks) and
    /// author-service answers at `author_url`.
    pub fn environment(
        &self,
        wiring: &Wiring,
        port: u16,
        author_url: &str,
    ) -> Vec<(&'static str, String)> {
        let path = |path: &Option<PathBuf>| path.as_ref().map(|p| p.display().to_string());
        let admin = wiring.admin.clone().filter(|_| self.bootstraps_admin);
        let values = [
            Some(wiring.host().to_owned()),
            Some(port.to_string()),
            Some(author_url.to_owned()),
            wiring.mongodb_uri.clone(),
            wiring.mongodb_db.clone(),
            path(&wiring.private_key),
            path(&wiring.public_key),
            wiring.otlp_endpoint.clone(),
            wiring.rust_log.clone(),
            path(&wiring.flags_file),
            admin.as_ref().map(|(username, _)| username.clone()),
            admin.map(|(_, password)| password),
        ];
        VARIABLES
            .into_iter()
            .chain(ADMIN_VARIABLES)
            .zip(values)
            .filter_map(|(name, value)| Some((name, value?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_wiring() -> Wiring {
        Wiring {
            host: Some("127.0.0.1".into()),
            author_url: None,
            mongodb_uri: Some("mongodb://127.0.0.1:27017".into()),
            mongodb_db: Some("blog".into()),
            private_key: Some("/keys/private.pem".into()),
            public_key: Some("/keys/public.pem".into()),
            otlp_endpoint: Some("http://127.0.0.1:4317".into()),
            rust_log: Some("info".into()),
            flags_file: Some("/flags.json".into()),
            admin: Some(("admin".into(), "a-password".into())),
        }
    }

    #[test]
    fn every_service_gets_every_variable_and_only_user_service_the_admin() {
        for service in SERVICES {
            let names: Vec<&str> = service
                .environment(&full_wiring(), service.port, "http://127.0.0.1:3004")
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            assert_eq!(names, service.variables(), "{}", service.binary);
            assert_eq!(
                names.contains(&"ADMIN_PASSWORD"),
                service.name == "user",
                "{}",
                service.binary
            );
        }
    }

    #[test]
    fn the_environment_names_the_port_and_author_service() {
        let blog = service("blog").unwrap();
        let environment = blog.environment(&full_wiring(), 0, "http://127.0.0.1:41234");
        let value = |name| {
            environment
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(value("PORT"), Some("0"));
        assert_eq!(value("AUTHOR_URL"), Some("http://127.0.0.1:41234"));
        assert_eq!(value("JWT_PUBLIC_KEY"), Some("/keys/public.pem"));
    }

    #[test]
    fn what_the_wiring_leaves_out_is_not_set() {
        let user = service("user").unwrap();
        let names: Vec<&str> = user
            .environment(&Wiring::default(), 3002, "http://127.0.0.1:3004")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["HOST", "PORT", "AUTHOR_URL"]);
    }

    #[test]
    fn names_and_ports_are_unique_and_author_starts_first() {
        assert_eq!(SERVICES[0], AUTHOR);
        for (i, a) in SERVICES.iter().enumerate() {
            assert_eq!(a.binary, format!("{}-service", a.name));
            for b in &SERVICES[i + 1..] {
                assert!(a.name != b.name && a.port != b.port && a.port_variable != b.port_variable);
            }
        }
    }
}
