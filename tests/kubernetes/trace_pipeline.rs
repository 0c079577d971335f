//! The trace pipeline: the services through both collector tiers to Jaeger and Prometheus.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::Command,
};

use e2e_tests::SERVICES;
use serde_json::Value;

use crate::manifests::*;
use crate::secrets::{mode, secrets_in_scratch, secrets_script, secrets_script_with};

/// The component types each image has, as its configuration names them.
const COLLECTOR_COMPONENTS: [(&str, &[&str]); 5] = [
    ("receivers", &["otlp"]),
    ("processors", &["memory_limiter", "batch", "tail_sampling"]),
    ("exporters", &["otlp", "loadbalancing", "prometheus"]),
    ("connectors", &["spanmetrics"]),
    ("extensions", &["health_check"]),
];
const JAEGER_COMPONENTS: [(&str, &[&str]); 5] = [
    ("receivers", &["otlp"]),
    ("processors", &["batch"]),
    ("exporters", &["jaeger_storage_exporter"]),
    ("connectors", &[]),
    (
        "extensions",
        &["jaeger_storage", "jaeger_query", "healthcheckv2"],
    ),
];

/// A collector configuration's pipelines name only components it defines, of types its image
/// has; every component it defines is used; a connector leaves one pipeline and enters another.
fn assert_pipelines_are_whole(file: &str, config: &Value, known: &[(&str, &[&str])]) {
    let defined = |section: &str| keys(config, &format!("/{section}"));
    for (section, types) in known {
        for id in defined(section) {
            let component_type = id.split('/').next().unwrap();
            assert!(
                types.contains(&component_type),
                "{file}: {section}.{id} is not a component this image has ({types:?})"
            );
        }
    }
    let service_extensions: BTreeSet<String> =
        texts(config, "/service/extensions").into_iter().collect();
    assert_eq!(
        service_extensions,
        defined("extensions"),
        "{file}: the extensions defined and the extensions enabled"
    );

    let pipelines = config["service"]["pipelines"]
        .as_object()
        .unwrap_or_else(|| panic!("{file}: no pipelines"));
    let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut connector_ends: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for (pipeline, spec) in pipelines {
        let signal = pipeline.split('/').next().unwrap();
        assert!(
            ["traces", "metrics", "logs"].contains(&signal),
            "{file}: pipeline {pipeline}"
        );
        for (role, sections) in [
            ("receivers", ["receivers", "connectors"]),
            ("processors", ["processors", "processors"]),
            ("exporters", ["exporters", "connectors"]),
        ] {
            let names = texts(spec, &format!("/{role}"));
            assert!(
                role == "processors" || !names.is_empty(),
                "{file}: pipeline {pipeline} has no {role}"
            );
            for name in names {
                let section = sections
                    .iter()
                    .find(|section| defined(section).contains(&name))
                    .unwrap_or_else(|| {
                        panic!(
                            "{file}: pipeline {pipeline} uses {role} {name}, which is not defined"
                        )
                    });
                if *section == "connectors" {
                    let ends = connector_ends.entry(name.clone()).or_default();
                    if role == "exporters" {
                        ends.0 = true;
                    } else {
                        ends.1 = true;
                    }
                }
                used.entry(section).or_default().insert(name);
            }
        }
    }
    for section in ["receivers", "processors", "exporters", "connectors"] {
        assert_eq!(
            used.get(section).cloned().unwrap_or_default(),
            defined(section),
            "{file}: every {section} defined is used, and only those"
        );
    }
    for (connector, (exported_to, received_from)) in connector_ends {
        assert!(
            exported_to && received_from,
            "{file}: connector {connector} must end one pipeline and start another"
        );
    }
}

#[test]
fn every_collector_pipeline_uses_only_components_it_defines() {
    let manifests = Manifests::load();
    for (config_map, known) in [
        ("otel-gateway-config", &COLLECTOR_COMPONENTS),
        ("otel-sampler-config", &COLLECTOR_COMPONENTS),
        ("jaeger-config", &JAEGER_COMPONENTS),
    ] {
        let config = manifests.generated_config(config_map, "config.yaml");
        assert_pipelines_are_whole(config_map, &config, known);
    }
}

/// The listening port of an OTLP receiver's gRPC protocol.
fn otlp_grpc_port(config: &Value) -> f64 {
    endpoint_port(text(config, "/receivers/otlp/protocols/grpc/endpoint"))
}

#[test]
fn the_services_send_no_log_records_to_a_pipeline_that_ends_in_jaeger() {
    let manifests = Manifests::load();
    for config_map in ["otel-gateway-config", "otel-sampler-config"] {
        let config = manifests.generated_config(config_map, "config.yaml");
        assert!(
            config["service"]["pipelines"].get("logs").is_none(),
            "{config_map} has a logs pipeline: then let the services send their records"
        );
    }
    for name in SERVICES.map(|service| service.name) {
        let (_, _, container) = manifests.deployment(name);
        let env = service_env(&manifests, container);
        assert_eq!(env["OTEL_LOGS_EXPORTER"], "none", "{name}");
    }
}

#[test]
fn the_services_export_to_the_gateway_which_counts_every_span_and_routes_traces_by_id() {
    let manifests = Manifests::load();
    let gateway = manifests.generated_config("otel-gateway-config", "config.yaml");
    let (_, gateway_pod, gateway_container) = manifests.deployment("otel-gateway");
    assert!(
        number(
            manifests.get("Deployment", "otel-gateway"),
            "/spec/replicas"
        ) >= 2.0
    );
    assert_eq!(
        text(gateway_container, "/image"),
        text(manifests.deployment("otel-sampler").2, "/image"),
        "both tiers run the same collector"
    );
    assert!(text(gateway_container, "/image").starts_with("otel/opentelemetry-collector-contrib:"));

    // The services send to the gateway's Service, which reaches its OTLP receiver; nothing sends
    // straight to Jaeger.
    let endpoint = &manifests.platform_env()["OTEL_EXPORTER_OTLP_ENDPOINT"];
    let (host, port) = endpoint
        .strip_prefix("https://")
        .and_then(|rest| rest.split_once(':'))
        .expect("https://host:port");
    let service = manifests.service_for(host, gateway_pod);
    assert_eq!(
        service_target(service, port.parse().unwrap(), gateway_container),
        otlp_grpc_port(&gateway)
    );
    for name in SERVICES.map(|service| service.name) {
        let (_, _, container) = manifests.deployment(name);
        let env = service_env(&manifests, container);
        assert_eq!(&env["OTEL_EXPORTER_OTLP_ENDPOINT"], endpoint, "{name}");
        assert!(
            env.values().all(|value| !value.contains("jaeger")),
            "{name} is told about Jaeger"
        );
    }

    // Every span is counted, then routed by trace id.
    let traces = &gateway["service"]["pipelines"]["traces"];
    let exporters = texts(traces, "/exporters");
    assert!(
        exporters.contains(&"spanmetrics".to_owned()),
        "{exporters:?}"
    );
    assert!(
        exporters.contains(&"loadbalancing".to_owned()),
        "{exporters:?}"
    );
    assert_eq!(text(traces, "/processors/0"), "memory_limiter");
    assert!(
        texts(traces, "/processors")
            .iter()
            .all(|name| name != "tail_sampling")
    );
    let balancer = &gateway["exporters"]["loadbalancing"];
    assert_eq!(text(balancer, "/routing_key"), "traceID");

    // ... to every sampler pod: the resolver's name is a headless Service selecting them.
    let sampler = manifests.generated_config("otel-sampler-config", "config.yaml");
    let (_, sampler_pod, sampler_container) = manifests.deployment("otel-sampler");
    let hostname = text(balancer, "/resolver/dns/hostname");
    let sampler_service = manifests.headless_service_for(hostname, sampler_pod);
    let resolver_port = number(balancer, "/resolver/dns/port");
    assert_eq!(
        service_target(sampler_service, resolver_port, sampler_container),
        otlp_grpc_port(&sampler)
    );

    // The span metrics leave through a Prometheus exporter that Prometheus scrapes on every
    // gateway pod.
    let metrics = &gateway["service"]["pipelines"]["metrics/spanmetrics"];
    assert_eq!(texts(metrics, "/receivers"), ["spanmetrics"]);
    assert_eq!(texts(metrics, "/exporters"), ["prometheus"]);
    let exporter_port = endpoint_port(text(&gateway, "/exporters/prometheus/endpoint"));
    let prometheus = manifests.generated_config("prometheus-config", "prometheus.yml");
    let scrape = list(&prometheus, "/scrape_configs")
        .iter()
        .find_map(|job| list(job, "/dns_sd_configs").first())
        .expect("Prometheus finds the gateways by DNS");
    let names = texts(scrape, "/names");
    assert_eq!(names.len(), 1);
    // Headless, so that every gateway pod is scraped, not whichever one a virtual IP picks.
    let metrics_service = manifests.headless_service_for(&names[0], gateway_pod);
    let scraped_port = number(scrape, "/port");
    assert_eq!(
        service_target(metrics_service, scraped_port, gateway_container),
        exporter_port
    );
}

/// The generated Secret and its key that `path` is read from in this pod: a read-only mount of a
/// Secret volume holding the whole Secret (no `items`) at `path`'s directory.
fn secret_file<'a>(template: &'a Value, container: &Value, path: &str) -> (&'a str, String) {
    let path = Path::new(path);
    let directory = path.parent().unwrap();
    let mount = list(container, "/volumeMounts")
        .iter()
        .find(|mount| Path::new(text(mount, "/mountPath")) == directory)
        .unwrap_or_else(|| panic!("nothing is mounted at {}", directory.display()));
    assert_eq!(
        mount["readOnly"],
        true,
        "{} is read-only",
        directory.display()
    );
    let volume = list(template, "/spec/volumes")
        .iter()
        .find(|volume| volume["name"] == mount["name"])
        .expect("the mounted volume");
    assert!(volume["secret"].get("items").is_none(), "{volume}");
    let key = path.file_name().unwrap().to_string_lossy().into_owned();
    (text(volume, "/secret/secretName"), key)
}

#[test]
fn the_services_reach_the_gateway_over_tls_with_the_generated_authority_and_gzip() {
    let manifests = Manifests::load();
    let generated = |secret: &str, key: &str| -> String {
        let generator = manifests.secret_generator(secret);
        generator
            .files
            .iter()
            .find(|(name, _)| name == key)
            .unwrap_or_else(|| panic!("Secret {secret} has no {key}"))
            .1
            .clone()
    };

    for name in SERVICES.map(|service| service.name) {
        let (_, template, container) = manifests.deployment(name);
        let env = service_env(&manifests, container);
        let endpoint = &env["OTEL_EXPORTER_OTLP_ENDPOINT"];
        assert!(endpoint.starts_with("https://"), "{name}: {endpoint}");
        assert_eq!(env["OTEL_EXPORTER_OTLP_COMPRESSION"], "gzip", "{name}");
        let (secret, key) =
            secret_file(template, container, &env["OTEL_EXPORTER_OTLP_CERTIFICATE"]);
        assert_eq!(secret, "otel-ca", "{name} trusts the generated authority");
        assert_eq!(generated(secret, &key), "secrets/otel-ca.pem");
    }

    // Both receivers present the certificate scripts/k8s-secrets.sh signs, from the Secret only
    // the gateway mounts, readable by its user through fsGroup and by no one else.
    let gateway = manifests.generated_config("otel-gateway-config", "config.yaml");
    let (_, pod, container) = manifests.deployment("otel-gateway");
    for protocol in ["grpc", "http"] {
        let tls = format!("/receivers/otlp/protocols/{protocol}/tls");
        for (field, file) in [
            ("cert_file", "secrets/otel-gateway.pem"),
            ("key_file", "secrets/otel-gateway-key.pem"),
        ] {
            let (secret, key) =
                secret_file(pod, container, text(&gateway, &format!("{tls}/{field}")));
            assert_eq!(secret, "otel-gateway-tls", "{protocol} {field}");
            assert_eq!(generated(secret, &key), file, "{protocol} {field}");
        }
    }
    let volume = list(pod, "/spec/volumes")
        .iter()
        .find(|volume| volume["secret"]["secretName"] == "otel-gateway-tls")
        .unwrap();
    let mode = number(volume, "/secret/defaultMode") as u32;
    assert_eq!(mode & 0o047, 0o040, "gateway key file mode {mode:o}");
    assert!(pod["spec"]["securityContext"].get("fsGroup").is_some());
    for (_, name, template) in manifests.workloads() {
        let mounts_key = list(template, "/spec/volumes")
            .iter()
            .any(|volume| volume["secret"]["secretName"] == "otel-gateway-tls");
        assert_eq!(
            mounts_key,
            name == "otel-gateway",
            "{name} and the gateway's key"
        );
    }
}

/// `openssl` with these arguments; its standard output.
fn openssl(args: &[&std::ffi::OsStr]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("running openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[test]
fn the_secrets_script_makes_an_authority_and_a_gateway_certificate_it_verifies() {
    let manifests = Manifests::load();
    let (_scratch, keys, out) = secrets_in_scratch();
    let ca = out.join("otel-ca.pem");
    let cert = out.join("otel-gateway.pem");
    for key in ["otel-ca-key.pem", "otel-gateway-key.pem"] {
        assert_eq!(mode(&out.join(key)), 0o600, "{key}");
    }

    let verified = openssl(&[
        "verify".as_ref(),
        "-CAfile".as_ref(),
        ca.as_os_str(),
        cert.as_os_str(),
    ]);
    assert!(verified.trim_end().ends_with("OK"), "{verified}");
    let authority = openssl(&[
        "x509".as_ref(),
        "-noout".as_ref(),
        "-text".as_ref(),
        "-in".as_ref(),
        ca.as_os_str(),
    ]);
    assert!(authority.contains("CA:TRUE"), "{authority}");
    let server = openssl(&[
        "x509".as_ref(),
        "-noout".as_ref(),
        "-text".as_ref(),
        "-in".as_ref(),
        cert.as_os_str(),
    ]);
    assert!(server.contains("TLS Web Server Authentication"), "{server}");
    let namespace = &manifests.kustomization.namespace;
    for name in [
        "otel-gateway".to_owned(),
        format!("otel-gateway.{namespace}.svc"),
        format!("otel-gateway.{namespace}.svc.cluster.local"),
        "localhost".to_owned(),
    ] {
        assert!(
            server.contains(&format!("DNS:{name},")) || server.contains(&format!("DNS:{name}\n")),
            "the gateway's certificate does not name {name}: {server}"
        );
    }

    // Kept when run again, replaced with --force.
    let before = std::fs::read(&ca).unwrap();
    assert!(secrets_script(&keys, &out, &[]).status.success());
    assert_eq!(std::fs::read(&ca).unwrap(), before, "the authority is kept");
    let forced = secrets_script_with(&["--force"], &keys, &out, &[]);
    assert!(forced.status.success());
    assert_ne!(
        std::fs::read(&ca).unwrap(),
        before,
        "--force makes a new authority"
    );
    let verified = openssl(&[
        "verify".as_ref(),
        "-CAfile".as_ref(),
        ca.as_os_str(),
        cert.as_os_str(),
    ]);
    assert!(verified.trim_end().ends_with("OK"), "{verified}");
}

#[test]
fn the_samplers_keep_errors_slow_traces_and_a_share_of_the_rest_for_jaeger() {
    let manifests = Manifests::load();
    let sampler = manifests.generated_config("otel-sampler-config", "config.yaml");
    assert!(
        number(
            manifests.get("Deployment", "otel-sampler"),
            "/spec/replicas"
        ) >= 2.0
    );
    let traces = &sampler["service"]["pipelines"]["traces"];
    assert_eq!(
        texts(traces, "/processors"),
        ["memory_limiter", "tail_sampling", "batch"]
    );

    let tail_sampling = &sampler["processors"]["tail_sampling"];
    let policies: BTreeMap<&str, &Value> = list(tail_sampling, "/policies")
        .iter()
        .map(|policy| (text(policy, "/type"), policy))
        .collect();
    assert_eq!(
        policies.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from(["status_code", "latency", "probabilistic"]),
        "errors, slow traces and a share of the rest, nothing that drops or overrides them"
    );
    assert_eq!(
        texts(policies["status_code"], "/status_code/status_codes"),
        ["ERROR"]
    );
    let threshold = number(policies["latency"], "/latency/threshold_ms");
    assert!(
        threshold > 0.0 && threshold < REQUEST_DEADLINE_MS,
        "a slow request that still answered in time is kept: {threshold} ms"
    );
    let share = number(
        policies["probabilistic"],
        "/probabilistic/sampling_percentage",
    );
    assert!(share > 0.0 && share < 100.0, "{share}%");

    // A trace's last spans may come a request deadline plus a batch delay after its first.
    let wait = duration_ms(text(tail_sampling, "/decision_wait"));
    assert!(
        wait >= REQUEST_DEADLINE_MS + BATCH_EXPORT_DELAY_MS,
        "decision_wait {wait} ms"
    );

    // The kept traces go to Jaeger's OTLP receiver, through its Service.
    let exporters = texts(traces, "/exporters");
    assert_eq!(exporters.len(), 1);
    let endpoint = text(&sampler["exporters"][&exporters[0]], "/endpoint");
    let (host, port) = endpoint.split_once(':').expect("host:port");
    let jaeger = manifests.generated_config("jaeger-config", "config.yaml");
    let (_, jaeger_pod, jaeger_container) = manifests.deployment("jaeger");
    let service = manifests.service_for(host, jaeger_pod);
    assert_eq!(
        service_target(service, port.parse().unwrap(), jaeger_container),
        otlp_grpc_port(&jaeger)
    );
}

#[test]
fn jaeger_keeps_traces_on_a_volume_and_draws_span_metrics_from_prometheus() {
    let manifests = Manifests::load();
    let jaeger = manifests.generated_config("jaeger-config", "config.yaml");
    let (deployment, jaeger_pod, container) = manifests.deployment("jaeger");

    // The Jaeger that docker-compose.yml runs, at the same version.
    let compose = yaml_file("docker-compose.yml");
    let image = text(container, "/image");
    assert_eq!(image, text(&compose, "/services/jaeger/image"));
    assert!(image.starts_with("jaegertracing/jaeger:2."), "{image}");

    // Badger is opened by one process at a time: one pod, replaced by stopping the old one first.
    assert_eq!(number(deployment, "/spec/replicas"), 1.0);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert!(manifests.find("PodDisruptionBudget", "jaeger").is_none());

    let storage = &jaeger["extensions"]["jaeger_storage"];
    let query = &jaeger["extensions"]["jaeger_query"];
    let traces = text(query, "/storage/traces");
    let badger = &storage["backends"][traces]["badger"];
    assert_eq!(badger["ephemeral"], false, "Badger on disk, not in memory");
    let persistent: Vec<&str> = list(jaeger_pod, "/spec/volumes")
        .iter()
        .filter(|volume| volume.get("persistentVolumeClaim").is_some())
        .map(|volume| text(volume, "/name"))
        .collect();
    let mount_paths: Vec<&str> = list(container, "/volumeMounts")
        .iter()
        .filter(|mount| persistent.contains(&text(mount, "/name")))
        .map(|mount| text(mount, "/mountPath"))
        .collect();
    for directory in ["keys", "values"] {
        let path = text(badger, &format!("/directories/{directory}"));
        assert!(
            mount_paths
                .iter()
                .any(|mount| Path::new(path).starts_with(mount)),
            "Badger's {directory} ({path}) are on the persistent volume ({mount_paths:?})"
        );
    }
    assert_eq!(
        texts(&jaeger, "/service/pipelines/traces/exporters"),
        ["jaeger_storage_exporter"]
    );
    assert_eq!(
        text(&jaeger, "/exporters/jaeger_storage_exporter/trace_storage"),
        traces
    );

    // The Monitor tab: Prometheus through its Service, with the names the gateway's span metrics
    // get there.
    let metrics = &storage["metric_backends"][text(query, "/storage/metrics")]["prometheus"];
    let endpoint = text(metrics, "/endpoint");
    let (host, port) = endpoint
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once(':'))
        .expect("http://host:port");
    let (prometheus, prometheus_pod, prometheus_container) = manifests.deployment("prometheus");
    let service = manifests.service_for(host, prometheus_pod);
    assert_eq!(
        service_target(service, port.parse().unwrap(), prometheus_container),
        9090.0
    );
    assert_eq!(number(prometheus, "/spec/replicas"), 1.0);
    let gateway = manifests.generated_config("otel-gateway-config", "config.yaml");
    let span_metrics = &gateway["connectors"]["spanmetrics"];
    assert_eq!(
        text(metrics, "/metric_namespace"),
        text(span_metrics, "/namespace").replace('.', "_")
    );
    assert_eq!(
        text(metrics, "/latency_unit"),
        text(span_metrics, "/histogram/unit")
    );
    // The Prometheus exporter adds _total and the unit to the names.
    assert_eq!(metrics["normalize_calls"], true);
    assert_eq!(metrics["normalize_duration"], true);
    assert!(
        list(prometheus_pod, "/spec/volumes")
            .iter()
            .any(|volume| volume.get("persistentVolumeClaim").is_some()),
        "Prometheus keeps its data on a volume"
    );
}
