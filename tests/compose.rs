//! The docker compose setup (Dockerfile, docker-compose.yml, docker-compose.production.yml,
//! .env.example, .dockerignore), checked statically.
//!
//! No Docker engine runs where this suite runs, so nothing here builds an image or starts a
//! container. Instead `docker-compose config` (Debian's docker-compose package, which
//! scripts/test.sh installs) validates docker-compose.yml against the compose schema, resolves its
//! anchors and variables, and prints it normalized; the tests read that, the Dockerfile and
//! .dockerignore, and check what the platform needs from them, and that docker-compose.yml runs
//! the services the platform's one definition (the launcher's) names, with its ports and variables.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use e2e_tests::{SERVICES, assert_image_pinned, project_root, read_repository_file};
use launcher::definition::{AUTHOR, Service};
use serde_norway::Value;

/// The services that use MongoDB: all of them (author-service reads the revoked tokens there).
const USE_MONGO: [&str; 4] = ["authen", "user", "blog", "author"];

/// The compose files of `docker compose up`: the platform as it runs by default.
const DEFAULT_FILES: &[&str] = &["docker-compose.yml"];

/// With docker-compose.production.yml: the collector, Prometheus and Jaeger on a volume.
const PRODUCTION_FILES: &[&str] = &["docker-compose.yml", "docker-compose.production.yml"];

/// `docker-compose config` of `files` with .env.example as the env file (what `cp .env.example
/// .env` gives a user) plus `env`, and nothing from this process's environment that compose would
/// interpolate.
fn compose_config(files: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("docker-compose");
    command.current_dir(project_root());
    for file in files {
        command.args(["--file", file]);
    }
    command.args(["--env-file", ".env.example", "config"]);
    for variable in [
        "ADMIN_USERNAME",
        "ADMIN_PASSWORD",
        "BLOG_UID",
        "BLOG_GID",
        "RUST_LOG",
        "MONGODB_DB",
        "COMPOSE_FILE",
        "COMPOSE_PROJECT_NAME",
        "COMPOSE_PROFILES",
    ] {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied());
    match command.output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "docker-compose is not installed, so docker-compose.yml cannot be checked: run \
             scripts/test.sh, which installs it (Debian's docker-compose package), or \
             `apt-get install -y docker-compose`"
        ),
        Err(error) => panic!("cannot run docker-compose: {error}"),
    }
}

/// The normalized compose file, with the administrator's password set as a user would.
fn config() -> Value {
    config_of(DEFAULT_FILES)
}

/// The normalized merge of `files`, with the administrator's password set as a user would.
fn config_of(files: &[&str]) -> Value {
    let output = compose_config(files, &[("ADMIN_PASSWORD", "a-password-for-the-test")]);
    assert!(
        output.status.success(),
        "docker-compose config of {files:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_norway::from_slice(&output.stdout).expect("docker-compose config prints YAML")
}

fn service<'a>(config: &'a Value, name: &str) -> &'a Value {
    config
        .get("services")
        .and_then(|services| services.get(name))
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name:?}"))
}

fn string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

fn field(service: &Value, key: &str) -> String {
    string(
        service
            .get(key)
            .unwrap_or_else(|| panic!("no {key:?} in {service:?}")),
    )
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("expected a list, found {value:?}"))
        .iter()
        .map(string)
        .collect()
}

/// The service's environment as (name, value), from either of compose's two forms.
fn environment(service: &Value) -> Vec<(String, String)> {
    match service.get("environment") {
        None => Vec::new(),
        Some(Value::Mapping(map)) => map.iter().map(|(k, v)| (string(k), string(v))).collect(),
        Some(Value::Sequence(list)) => list
            .iter()
            .map(|entry| {
                let entry = string(entry);
                let (name, value) = entry.split_once('=').unwrap_or((&entry, ""));
                (name.to_owned(), value.to_owned())
            })
            .collect(),
        Some(other) => panic!("unexpected environment {other:?}"),
    }
}

fn env_var(service: &Value, name: &str) -> String {
    environment(service)
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
        .unwrap_or_else(|| panic!("{name} is not set in {service:?}"))
}

/// Published ports as (host address, host port, container port), from the short or long form.
fn published(service: &Value) -> Vec<(String, u16, u16)> {
    let Some(ports) = service.get("ports") else {
        return Vec::new();
    };
    let port = |text: &str| -> u16 {
        text.parse()
            .unwrap_or_else(|_| panic!("not a single port: {text:?}"))
    };
    strings_or_maps(ports)
        .map(|entry| match entry {
            Ok(short) => {
                let short = short.trim_end_matches("/tcp");
                let parts: Vec<&str> = short.split(':').collect();
                match parts.as_slice() {
                    [address, host, container] => {
                        ((*address).to_owned(), port(host), port(container))
                    }
                    [host, container] => (String::new(), port(host), port(container)),
                    _ => panic!("a port that is not published: {short:?}"),
                }
            }
            Err(long) => (
                long.get("host_ip").map(string).unwrap_or_default(),
                port(&field(long, "published")),
                port(&field(long, "target")),
            ),
        })
        .collect()
}

/// Mounts as (source, target, read-only), from the short or long form.
fn mounts(service: &Value) -> Vec<(String, String, bool)> {
    let Some(volumes) = service.get("volumes") else {
        return Vec::new();
    };
    strings_or_maps(volumes)
        .map(|entry| match entry {
            Ok(short) => {
                let parts: Vec<&str> = short.split(':').collect();
                match parts.as_slice() {
                    [source, target] => ((*source).to_owned(), (*target).to_owned(), false),
                    [source, target, mode] => (
                        (*source).to_owned(),
                        (*target).to_owned(),
                        mode.split(',').any(|flag| flag == "ro"),
                    ),
                    _ => panic!("unexpected volume {short:?}"),
                }
            }
            Err(long) => (
                field(long, "source"),
                field(long, "target"),
                long.get("read_only") == Some(&Value::Bool(true)),
            ),
        })
        .collect()
}

/// Each entry of a list as Ok(short string form) or Err(long mapping form).
fn strings_or_maps(list: &Value) -> impl Iterator<Item = Result<String, &Value>> {
    list.as_sequence()
        .unwrap_or_else(|| panic!("expected a list, found {list:?}"))
        .iter()
        .map(|entry| match entry {
            Value::Mapping(_) => Err(entry),
            scalar => Ok(string(scalar)),
        })
}

/// The condition the service waits for on `dependency`, if it depends on it at all.
fn depends_on(service: &Value, dependency: &str) -> Option<String> {
    match service.get("depends_on")? {
        Value::Sequence(list) => list
            .iter()
            .any(|name| string(name) == dependency)
            .then(|| "service_started".to_owned()),
        Value::Mapping(map) => {
            map.iter()
                .find(|(name, _)| string(name) == dependency)
                .map(|(_, options)| {
                    options
                        .get("condition")
                        .map(string)
                        .unwrap_or_else(|| "service_started".to_owned())
                })
        }
        other => panic!("unexpected depends_on {other:?}"),
    }
}

#[test]
fn compose_refuses_to_start_until_env_sets_the_admin_password() {
    // .env.example ships no password: `cp .env.example .env` alone must not start a platform
    // whose administrator has a password everybody can read in the repository.
    let output = compose_config(DEFAULT_FILES, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "compose accepted an empty ADMIN_PASSWORD"
    );
    assert!(
        stderr.contains("set ADMIN_PASSWORD in .env"),
        "the refusal should say what to do:\n{stderr}"
    );

    let without_username = compose_config(
        DEFAULT_FILES,
        &[("ADMIN_PASSWORD", "a-password"), ("ADMIN_USERNAME", "")],
    );
    assert!(
        !without_username.status.success(),
        "compose accepted an empty ADMIN_USERNAME"
    );
}

#[test]
fn mongo_is_pinned_keeps_its_data_in_a_named_volume_and_has_a_healthcheck() {
    let config = config();
    let mongo = service(&config, "mongo");
    let image = field(mongo, "image");
    assert_image_pinned(&image);
    let tag = image
        .strip_prefix("mongo:")
        .expect("the official mongo image");
    assert!(
        tag.split('.').next().unwrap().parse::<u32>().is_ok(),
        "{image}: pin at least the major version"
    );

    let volumes = config
        .get("volumes")
        .and_then(Value::as_mapping)
        .expect("top-level named volumes");
    let data = mounts(mongo)
        .into_iter()
        .find(|(_, target, _)| target == "/data/db")
        .expect("MongoDB's /data/db is mounted");
    assert!(
        volumes.contains_key(data.0.as_str()),
        "/data/db should be a named volume, not {:?}",
        data.0
    );

    let test = strings(&mongo["healthcheck"]["test"]);
    assert_eq!(test[0], "CMD");
    assert!(test.contains(&"mongosh".to_owned()), "{test:?}");
    assert!(test.iter().any(|arg| arg.contains("ping")), "{test:?}");

    // MongoDB runs without authentication: the host's services (pm2) may reach it, the network
    // may not.
    assert_eq!(
        published(mongo),
        vec![("127.0.0.1".to_owned(), 27017, 27017)],
        "MongoDB should be published on loopback only"
    );
}

#[test]
fn jaeger_is_v2_pinned_and_publishes_otlp_and_its_ui() {
    let config = config();
    let jaeger = service(&config, "jaeger");
    let image = field(jaeger, "image");
    assert_image_pinned(&image);
    assert!(
        image.starts_with("jaegertracing/jaeger:2."),
        "{image}: Jaeger v2 (jaegertracing/jaeger:2.x.y)"
    );
    let ports = published(jaeger);
    for port in [4317, 4318, 16686] {
        assert!(
            ports
                .iter()
                .any(|(_, host, container)| (*host, *container) == (port, port)),
            "jaeger should publish {port}: {ports:?}"
        );
    }
}

/// Each service of the platform's definition, with its entry in the compose file.
fn compose_services(config: &Value) -> impl Iterator<Item = (Service, &Value)> {
    SERVICES
        .iter()
        .map(move |definition| (*definition, service(config, definition.name)))
}

#[test]
fn the_four_services_run_from_one_image_as_non_root_with_health_checks() {
    let config = config();
    for (definition, service) in compose_services(&config) {
        let (name, binary) = (definition.name, definition.binary);
        let context = |what: &str| format!("service {name}: {what}");
        assert_eq!(
            field(service, "image"),
            "blog-platform:local",
            "{}",
            context("image")
        );
        let build = &service["build"];
        let build_context = match build {
            Value::Mapping(_) => field(build, "context"),
            other => string(other),
        };
        assert_eq!(
            Path::new(&build_context),
            project_root(),
            "{}",
            context("built from the repository's Dockerfile")
        );
        assert_eq!(
            strings(&service["command"]),
            [binary],
            "{}",
            context("command")
        );
        assert_eq!(
            strings(&service["healthcheck"]["test"]),
            [
                "CMD",
                format!("/usr/local/bin/{binary}").as_str(),
                "healthcheck"
            ],
            "{}",
            context("healthcheck")
        );
        assert_eq!(
            field(service, "restart"),
            "unless-stopped",
            "{}",
            context("restart")
        );
        assert_eq!(
            field(service, "stop_grace_period"),
            "10s",
            "{}",
            context("stop grace")
        );
        let user = field(service, "user");
        let uid = user.split(':').next().unwrap();
        assert!(
            uid != "0" && uid != "root" && !uid.is_empty(),
            "{}",
            context("runs as a non-root user by default")
        );
    }
}

#[test]
fn each_service_publishes_its_port_on_loopback_and_reads_keys_database_and_jaeger() {
    let config = config();
    for (definition, service) in compose_services(&config) {
        let (name, port) = (definition.name, definition.port);
        let context = |what: &str| format!("service {name}: {what}");
        assert_eq!(
            published(service),
            [("127.0.0.1".to_owned(), port, port)],
            "{}",
            context("published port")
        );
        for (variable, expected) in [
            ("HOST", "0.0.0.0".to_owned()),
            ("PORT", port.to_string()),
            ("MONGODB_URI", "mongodb://mongo:27017".to_owned()),
            ("AUTHOR_URL", "http://author:3004".to_owned()),
            ("JWT_PRIVATE_KEY", "/keys/private.pem".to_owned()),
            ("JWT_PUBLIC_KEY", "/keys/public.pem".to_owned()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://jaeger:4317".to_owned(),
            ),
        ] {
            assert_eq!(
                env_var(service, variable),
                expected,
                "{}",
                context(variable)
            );
        }
        let keys = project_root().join("keys");
        assert!(
            mounts(service)
                .iter()
                .any(|(source, target, read_only)| Path::new(source) == keys
                    && target == "/keys"
                    && *read_only),
            "{}: {:?}",
            context("keys/ mounted read-only at /keys"),
            mounts(service)
        );
    }
    let user = service(&config, "user");
    assert_eq!(env_var(user, "ADMIN_USERNAME"), "admin");
    assert_eq!(env_var(user, "ADMIN_PASSWORD"), "a-password-for-the-test");
}

#[test]
fn the_services_start_after_jaeger_a_healthy_mongodb_and_a_healthy_author_service() {
    let config = config();
    for (definition, service) in compose_services(&config) {
        let name = definition.name;
        let context = |what: &str| format!("service {name}: {what}");
        assert_eq!(
            depends_on(service, "mongo").as_deref(),
            USE_MONGO.contains(&name).then_some("service_healthy"),
            "{}",
            context("waits for a healthy MongoDB")
        );
        assert_eq!(
            depends_on(service, "author").as_deref(),
            (definition != AUTHOR).then_some("service_healthy"),
            "{}",
            context("waits for a healthy author-service, which starts first")
        );
        assert!(
            depends_on(service, "jaeger").is_some(),
            "{}",
            context("starts after jaeger")
        );
    }
}

#[test]
fn the_services_and_their_variables_are_the_platform_definitions() {
    let config = config();
    let mut names: Vec<String> = config["services"]
        .as_mapping()
        .expect("services")
        .keys()
        .map(string)
        .filter(|name| !["mongo", "jaeger"].contains(&name.as_str()))
        .collect();
    let mut expected: Vec<&str> = SERVICES.iter().map(|service| service.name).collect();
    names.sort_unstable();
    expected.sort_unstable();
    assert_eq!(names, expected, "the platform's services, and no other");
    for definition in SERVICES {
        let mut variables: Vec<String> = environment(service(&config, definition.name))
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        // And the one compose adds: Jaeger takes no log records.
        let mut expected = definition.variables();
        expected.push("OTEL_LOGS_EXPORTER");
        variables.sort_unstable();
        expected.sort_unstable();
        assert_eq!(variables, expected, "{}'s variables", definition.binary);
    }
}

#[test]
fn where_jaeger_receives_the_services_send_no_log_records() {
    // Straight to Jaeger, or through the collector to it: neither keeps log records, and a
    // service sending them would log an export error every minute for ever.
    for files in [&["docker-compose.yml"][..], PRODUCTION_FILES] {
        let config = config_of(files);
        for name in SERVICES.map(|service| service.name) {
            assert_eq!(
                env_var(service(&config, name), "OTEL_LOGS_EXPORTER"),
                "none",
                "{name} in {files:?}"
            );
        }
    }
}

#[test]
fn no_image_is_unpinned() {
    let config = config();
    let services = config["services"].as_mapping().expect("services");
    for (name, service) in services {
        let image = service
            .get("image")
            .map(string)
            .unwrap_or_else(|| panic!("service {name:?} names no image"));
        if service.get("build").is_none() {
            assert_image_pinned(&image);
        }
    }
    for image in dockerfile_stages().iter().map(|stage| stage.image.clone()) {
        assert_image_pinned(&image);
    }
}

/// One `FROM` stage of the Dockerfile: its image, its name and its instructions (continuation
/// lines joined, comments dropped).
struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<String>,
}

fn dockerfile_stages() -> Vec<Stage> {
    let text = read_repository_file("Dockerfile");
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(continued) => {
                current.push_str(continued);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in logical {
        let words: Vec<&str> = instruction.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            let image = words
                .iter()
                .skip(1)
                .find(|word| !word.starts_with("--"))
                .expect("FROM names an image");
            let name = match words.as_slice() {
                [.., as_, name] if as_.eq_ignore_ascii_case("AS") => Some((*name).to_owned()),
                _ => None,
            };
            stages.push(Stage {
                image: (*image).to_owned(),
                name,
                instructions: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("the Dockerfile starts with FROM")
                .instructions
                .push(instruction);
        }
    }
    stages
}

#[test]
fn the_dockerfile_builds_in_a_builder_stage_and_runs_as_non_root() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "a multi-stage build");
    let builder = stages
        .iter()
        .find(|stage| stage.name.as_deref() == Some("builder"))
        .expect("a stage `FROM ... AS builder`");
    assert!(builder.image.starts_with("rust:"), "{}", builder.image);
    assert!(
        builder
            .instructions
            .iter()
            .any(|i| i.contains("cargo build --profile production --locked")),
        "the builder builds the production binaries from Cargo.lock (--locked)"
    );
    let workspace_manifest = std::fs::read_to_string(project_root().join("Cargo.toml"))
        .expect("the workspace's Cargo.toml");
    assert!(
        workspace_manifest
            .lines()
            .any(|line| line.trim() == "[profile.production]"),
        "the profile the image is built with is defined in Cargo.toml"
    );

    // cargo loads the whole workspace: every member's manifest must reach the builder.
    // The members as cargo sees them, so a new member (tools/*, ...) cannot be forgotten.
    let metadata = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(project_root())
        .output()
        .expect("cargo metadata");
    assert!(metadata.status.success(), "cargo metadata failed");
    let metadata: serde_json::Value =
        serde_json::from_slice(&metadata.stdout).expect("cargo metadata's JSON");
    let workspace_root = std::path::PathBuf::from(metadata["workspace_root"].as_str().unwrap());
    let members: Vec<String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let manifest = std::path::Path::new(package["manifest_path"].as_str().unwrap());
            let relative = manifest
                .strip_prefix(&workspace_root)
                .expect("a member inside the workspace");
            relative.to_string_lossy().into_owned()
        })
        .collect();
    assert!(members.len() >= 6, "{members:?}");
    for manifest in &members {
        assert!(
            builder
                .instructions
                .iter()
                .any(|i| i.starts_with("COPY") && i.contains(manifest.as_str())),
            "the builder copies {manifest} before building the dependencies"
        );
    }

    let runtime = stages.last().unwrap();
    assert!(
        runtime.image.starts_with("debian:") || runtime.image.contains("distroless"),
        "{}",
        runtime.image
    );
    let user = runtime
        .instructions
        .iter()
        .rev()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("the final stage sets USER");
    let uid = user.trim().split(':').next().unwrap();
    assert!(uid != "0" && uid != "root", "USER {user} is root");

    for binary in SERVICES.map(|service| service.binary) {
        assert!(
            runtime
                .instructions
                .iter()
                .any(|i| i.starts_with("COPY --from=builder")
                    && i.contains(binary)
                    && i.trim_end().ends_with("/usr/local/bin/")),
            "{binary} is copied into /usr/local/bin"
        );
    }
    assert!(
        runtime.instructions.iter().any(|i| i == "ENV HOST=0.0.0.0"),
        "the image listens on every interface"
    );
    assert!(
        !runtime.instructions.iter().any(|i| i.contains("curl")),
        "no curl in the image: the binaries' `healthcheck` subcommand is the probe"
    );
}

#[test]
fn the_build_context_leaves_out_build_output_and_secrets() {
    let ignored = read_repository_file(".dockerignore");
    let patterns: Vec<&str> = ignored
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    for pattern in ["target", ".git", ".env", "keys/*.pem", ".tools", ".data"] {
        assert!(
            patterns.contains(&pattern),
            ".dockerignore should list {pattern}"
        );
    }
}

/// Compose's network aliases of a service on its default network.
fn aliases(service: &Value) -> Vec<String> {
    service
        .get("networks")
        .and_then(|networks| networks.get("default"))
        .and_then(|default| default.get("aliases"))
        .map(strings)
        .unwrap_or_default()
}

#[test]
fn plain_compose_up_keeps_the_services_exporting_straight_to_jaeger_in_memory() {
    let config = config();
    for extra in ["otel-gateway", "otel-sampler", "prometheus"] {
        assert!(
            config["services"].get(extra).is_none(),
            "`docker compose up` alone should not run {extra}"
        );
    }
    let jaeger = service(&config, "jaeger");
    assert!(
        jaeger.get("command").is_none() && mounts(jaeger).is_empty(),
        "Jaeger runs its built-in in-memory configuration"
    );
}

#[test]
fn the_production_override_puts_both_collector_tiers_between_the_services_and_jaeger() {
    let config = config_of(PRODUCTION_FILES);
    let shared_config = |file: &str| project_root().join("deploy/kubernetes/config").join(file);
    let volumes = config
        .get("volumes")
        .and_then(Value::as_mapping)
        .expect("top-level named volumes");
    let named_volume_at = |service: &Value, target: &str| {
        let (source, _, _) = mounts(service)
            .into_iter()
            .find(|(_, mounted_at, _)| mounted_at == target)
            .unwrap_or_else(|| panic!("{target} is not a volume: {service:?}"));
        assert!(
            volumes.contains_key(source.as_str()),
            "{source} at {target} is a named volume"
        );
    };
    let mounted = |service: &Value, source: &Path, target: &str| {
        mounts(service)
            .iter()
            .any(|(from, to, read_only)| Path::new(from) == source && to == target && *read_only)
    };

    for name in SERVICES.map(|service| service.name) {
        let service = service(&config, name);
        assert_eq!(
            env_var(service, "OTEL_EXPORTER_OTLP_ENDPOINT"),
            "https://otel-gateway:4317",
            "service {name} exports to the collector's first tier"
        );
        assert!(
            depends_on(service, "otel-gateway").is_some(),
            "service {name} starts after the collector"
        );
        // Everything else is the default setup's, which the tests above check.
        assert_eq!(env_var(service, "MONGODB_URI"), "mongodb://mongo:27017");
    }

    // The two tiers: the same pinned collector, each with the configuration Kubernetes runs, and
    // reachable only from the other containers.
    for (tier, file, next) in [
        ("otel-gateway", "otel-gateway.yaml", "otel-sampler"),
        ("otel-sampler", "otel-sampler.yaml", "jaeger"),
    ] {
        let collector = service(&config, tier);
        let image = field(collector, "image");
        assert_image_pinned(&image);
        assert!(
            image.starts_with("otel/opentelemetry-collector-contrib:"),
            "{tier}: the contrib distribution, {image}"
        );
        assert_eq!(
            strings(&collector["command"]),
            ["--config=/etc/otelcol-contrib/config.yaml"]
        );
        assert!(
            mounted(
                collector,
                &shared_config(file),
                "/etc/otelcol-contrib/config.yaml"
            ),
            "{tier} runs deploy/kubernetes/config/{file}: {:?}",
            mounts(collector)
        );
        assert!(
            depends_on(collector, next).is_some(),
            "{tier} starts after {next}"
        );
        assert!(published(collector).is_empty(), "{tier} publishes nothing");
    }
    // Prometheus finds the gateway by the name its configuration scrapes.
    let prometheus_config: Value = serde_norway::from_str(&read_repository_file(
        "deploy/kubernetes/config/prometheus.yml",
    ))
    .expect("prometheus.yml");
    let scraped = strings(&prometheus_config["scrape_configs"][0]["dns_sd_configs"][0]["names"]);
    assert_eq!(aliases(service(&config, "otel-gateway")), scraped);

    // Jaeger: the configuration Kubernetes runs, Badger on a named volume under /tmp.
    let jaeger = service(&config, "jaeger");
    assert_eq!(
        strings(&jaeger["command"]),
        ["--config=/etc/jaeger/config.yaml"]
    );
    assert!(mounted(
        jaeger,
        &shared_config("jaeger.yaml"),
        "/etc/jaeger/config.yaml"
    ));
    // Badger writes under /tmp.
    named_volume_at(jaeger, "/tmp");
    assert!(depends_on(jaeger, "prometheus").is_some());

    // Prometheus: pinned, the shared configuration, its data kept, its UI on loopback only.
    let prometheus = service(&config, "prometheus");
    let image = field(prometheus, "image");
    assert_image_pinned(&image);
    assert!(image.starts_with("prom/prometheus:v"), "{image}");
    assert!(mounted(
        prometheus,
        &shared_config("prometheus.yml"),
        "/etc/prometheus/prometheus.yml"
    ));
    named_volume_at(prometheus, "/prometheus");
    assert_eq!(
        published(prometheus),
        [("127.0.0.1".to_owned(), 9090, 9090)]
    );
}

/// Where scripts/k8s-secrets.sh writes the collector's authority and certificate.
const SECRETS_DIR: &str = "deploy/kubernetes/secrets";

#[test]
fn in_production_the_services_reach_the_gateway_over_tls_with_the_generated_authority_and_gzip() {
    let config = config_of(PRODUCTION_FILES);
    let secret = |file: &str| project_root().join(SECRETS_DIR).join(file);
    let read_only_at = |service: &Value, target: &str| -> PathBuf {
        let (source, _, read_only) = mounts(service)
            .into_iter()
            .find(|(_, mounted_at, _)| mounted_at == target)
            .unwrap_or_else(|| panic!("nothing is mounted at {target}: {service:?}"));
        assert!(read_only, "{target} is mounted read-only");
        PathBuf::from(source)
    };

    for name in SERVICES.map(|service| service.name) {
        let service = service(&config, name);
        let endpoint = env_var(service, "OTEL_EXPORTER_OTLP_ENDPOINT");
        assert!(
            endpoint.starts_with("https://otel-gateway:"),
            "{name}: {endpoint}"
        );
        assert_eq!(env_var(service, "OTEL_EXPORTER_OTLP_COMPRESSION"), "gzip");
        let ca = env_var(service, "OTEL_EXPORTER_OTLP_CERTIFICATE");
        assert_eq!(
            read_only_at(service, &ca),
            secret("otel-ca.pem"),
            "{name} trusts the authority scripts/k8s-secrets.sh makes"
        );
    }

    // The gateway's receivers, both protocols, present the certificate the script signs, mounted
    // where its configuration reads them; the gateway runs as the owner of the 0600 key.
    let gateway_config: Value = serde_norway::from_str(&read_repository_file(
        "deploy/kubernetes/config/otel-gateway.yaml",
    ))
    .expect("otel-gateway.yaml");
    let gateway = service(&config, "otel-gateway");
    for protocol in ["grpc", "http"] {
        let tls = &gateway_config["receivers"]["otlp"]["protocols"][protocol]["tls"];
        for (field, file) in [
            ("cert_file", "otel-gateway.pem"),
            ("key_file", "otel-gateway-key.pem"),
        ] {
            let path = tls[field]
                .as_str()
                .unwrap_or_else(|| panic!("the {protocol} receiver has no tls.{field}"));
            assert_eq!(
                read_only_at(gateway, path),
                secret(file),
                "{protocol} {field}"
            );
        }
    }
    assert_eq!(
        field(gateway, "user"),
        field(service(&config, "authen"), "user"),
        "the gateway runs as the services' user, who owns the key"
    );
}

#[test]
fn every_service_reads_the_scenario_flags_from_a_read_only_mount_of_flags_json() {
    let shipped = project_root().join("flags.json");
    assert!(shipped.is_file(), "flags.json ships with the repository");
    for files in [DEFAULT_FILES, PRODUCTION_FILES] {
        let config = config_of(files);
        for name in SERVICES.map(|service| service.name) {
            let service = service(&config, name);
            let path = env_var(service, "FLAGS_FILE");
            let volumes = service["volumes"].as_sequence().expect("volumes");
            let mount = volumes
                .iter()
                .find(|volume| volume.get("target").map(string).as_deref() == Some(path.as_str()))
                .unwrap_or_else(|| {
                    panic!("{files:?} {name}: nothing is mounted at FLAGS_FILE={path}: {volumes:?}")
                });
            // The long syntax: a short `./flags.json:/flags.json:ro` would make a directory of a
            // missing host file, and the services would read that as no flags at all.
            assert_eq!(field(mount, "type"), "bind", "{name}: {mount:?}");
            assert_eq!(Path::new(&field(mount, "source")), shipped, "{name}");
            assert_eq!(mount.get("read_only"), Some(&Value::Bool(true)), "{name}");
            assert_ne!(
                mount
                    .get("bind")
                    .and_then(|bind| bind.get("create_host_path")),
                Some(&Value::Bool(true)),
                "{name}"
            );
        }
    }
}
