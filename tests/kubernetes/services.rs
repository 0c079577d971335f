//! The four services: ready-checked pods that stop gracefully, scaling, resources from the measured
//! figures, hardening, and references between the manifests.

use std::collections::{BTreeMap, BTreeSet};

use e2e_tests::{SERVICES, assert_image_pinned, read_repository_file};
use serde_json::Value;

use crate::manifests::*;

#[test]
fn each_service_runs_two_or_more_ready_checked_pods_that_stop_gracefully() {
    let manifests = Manifests::load();
    for service in SERVICES {
        let (name, binary, port) = (service.name, service.binary, service.port);
        let context = |what: &str| format!("{name}: {what}");
        let (deployment, template, container) = manifests.deployment(name);

        // At least two pods, always: written here, or kept by an autoscaler that owns the count.
        match manifests.autoscaler_of(name) {
            Some(autoscaler) => {
                assert!(
                    deployment["spec"].get("replicas").is_none(),
                    "{}",
                    context("an autoscaled Deployment leaves `replicas` to its autoscaler")
                );
                assert!(number(autoscaler, "/spec/minReplicas") >= 2.0);
            }
            None => assert!(number(deployment, "/spec/replicas") >= 2.0),
        }
        assert_eq!(
            deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            0,
            "{}",
            context("a rollout never lowers capacity")
        );

        assert_eq!(
            text(container, "/image"),
            format!("blog-platform:{}", env!("CARGO_PKG_VERSION")),
            "{}",
            context("the image of this version")
        );
        assert_eq!(texts(container, "/command"), [binary]);
        let env = service_env(&manifests, container);
        assert_eq!(env["PORT"], port.to_string());
        assert_eq!(env["HOST"], "0.0.0.0");

        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let probe_spec = &container[probe];
            assert_eq!(
                text(probe_spec, "/httpGet/path"),
                path,
                "{}",
                context(probe)
            );
            assert_eq!(
                container_port(container, &probe_spec["httpGet"]["port"]),
                f64::from(port),
                "{}",
                context(probe)
            );
        }
        // /readyz may wait 2 s for MongoDB or author-service before it answers 503.
        assert!(
            number(container, "/readinessProbe/timeoutSeconds") > 2.0,
            "{}",
            context("the readiness probe outwaits /readyz's own timeouts")
        );

        // Leaving: out of the endpoints during the preStop sleep, then SIGTERM and the service's
        // own stop, all before the grace period ends in SIGKILL.
        let sleep = number(container, "/lifecycle/preStop/sleep/seconds");
        assert!(sleep >= 3.0, "{}", context("preStop gives endpoints time"));
        let grace = number(template, "/spec/terminationGracePeriodSeconds");
        assert!(
            grace * 1000.0 >= sleep * 1000.0 + STOP_BUDGET_MS + 1000.0 && grace <= 60.0,
            "{}",
            context("the grace period covers preStop and the 4.5 s stop, with a margin")
        );

        let service = manifests.service_for(name, template);
        assert_eq!(
            service_target(service, f64::from(port), container),
            f64::from(port),
            "{}",
            context("the Service's port reaches the container")
        );

        let budget = manifests.get("PodDisruptionBudget", name);
        assert!(selects(&budget["spec"]["selector"], template));
        assert_eq!(
            budget["spec"]["maxUnavailable"],
            1,
            "{}",
            context("one pod at a time in a drain")
        );
    }
}

#[test]
fn blog_and_author_scale_with_cpu_between_two_pods_and_a_ceiling() {
    let manifests = Manifests::load();
    for name in AUTOSCALED_SERVICES {
        assert!(
            manifests.autoscaler_of(name).is_some(),
            "a HorizontalPodAutoscaler scales {name}"
        );
    }
    for autoscaler in manifests.of_kind("HorizontalPodAutoscaler") {
        let value = &autoscaler.value;
        let name = autoscaler.name();
        assert_eq!(text(value, "/apiVersion"), "autoscaling/v2");
        assert_eq!(text(value, "/spec/scaleTargetRef/kind"), "Deployment");
        let target = text(value, "/spec/scaleTargetRef/name");
        let (_, _, container) = manifests.deployment(target);
        let minimum = number(value, "/spec/minReplicas");
        assert!(minimum >= 2.0 && number(value, "/spec/maxReplicas") > minimum);
        let metrics = list(value, "/spec/metrics");
        assert!(!metrics.is_empty(), "{name} scales on something");
        for metric in metrics {
            assert_eq!(text(metric, "/resource/name"), "cpu");
            let utilization = number(metric, "/resource/target/averageUtilization");
            assert!(utilization > 0.0 && utilization <= 100.0);
            assert!(
                container["resources"]["requests"].get("cpu").is_some(),
                "{name}: CPU utilization is a share of the CPU request"
            );
        }
    }
    // The samplers are never autoscaled: each change of their set re-routes traces in flight.
    assert!(manifests.autoscaler_of("otel-sampler").is_none());
}

/// docs/benchmarks.md's memory table, tracing on: service → (idle MB, peak MB under load).
fn measured_memory() -> BTreeMap<String, (f64, f64)> {
    let report = read_repository_file("docs/benchmarks.md");
    let section = report
        .split("\n## Memory")
        .nth(1)
        .expect("docs/benchmarks.md has a Memory section");
    // The first table of the section (the next one is per run).
    let mut rows = section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'));
    let header: Vec<&str> = rows
        .next()
        .expect("a table")
        .split('|')
        .map(str::trim)
        .collect();
    let column = |title: &str| {
        header
            .iter()
            .position(|cell| *cell == title)
            .unwrap_or_else(|| panic!("no column {title:?} in {header:?}"))
    };
    let (idle, peak) = (
        column("traced: idle"),
        column("traced: peak under load (run)"),
    );
    let megabytes = |cell: &str| -> f64 {
        cell.split_whitespace()
            .next()
            .and_then(|figure| figure.parse().ok())
            .unwrap_or_else(|| panic!("not a figure: {cell:?}"))
    };
    rows.skip(1)
        .map(|row| row.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|cells| cells.len() > peak)
        .map(|cells| {
            (
                cells[1].to_owned(),
                (megabytes(cells[idle]), megabytes(cells[peak])),
            )
        })
        .collect()
}

#[test]
fn each_service_reserves_what_it_was_measured_to_use_and_is_capped_above_its_peak() {
    let manifests = Manifests::load();
    let measured = measured_memory();
    for name in SERVICES.map(|service| service.name) {
        let (_, _, container) = manifests.deployment(name);
        let resources = &container["resources"];
        let (idle, peak) = *measured
            .get(name)
            .unwrap_or_else(|| panic!("docs/benchmarks.md measured no {name}"));
        let request = mebibytes(text(resources, "/requests/memory"));
        let limit = mebibytes(text(resources, "/limits/memory"));
        assert!(
            cores(text(resources, "/requests/cpu")) > 0.0,
            "{name}: a CPU request"
        );
        assert!(
            request >= idle,
            "{name}: the memory request ({request} MiB) covers its idle {idle} MB"
        );
        assert!(
            limit >= 1.5 * peak,
            "{name}: the memory limit ({limit} MiB) leaves room above its measured peak ({peak} MB)"
        );
        // A service that hashes runs one hash per CPU it may use: without a CPU limit that is the
        // whole node, and its memory would follow the node's size, not this limit.
        if HASHING_SERVICES.contains(&name) {
            let cpus = cores(
                resources["limits"]
                    .get("cpu")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{name} hashes passwords: it needs a CPU limit")),
            );
            assert!(
                limit >= idle + 1.5 * cpus.ceil() * HASH_MIB,
                "{name}: {limit} MiB cannot hold {cpus} hashes of {HASH_MIB} MiB at once"
            );
        } else {
            assert!(
                resources["limits"].get("cpu").is_none(),
                "{name}: no CPU limit (throttling only adds latency)"
            );
        }
    }
}

#[test]
fn every_pod_runs_hardened_and_every_image_is_pinned() {
    let manifests = Manifests::load();
    let mut seen = 0;
    for (kind, name, template) in manifests.workloads() {
        seen += 1;
        let context = |what: &str| format!("{kind} {name}: {what}");
        let pod = &template["spec"];
        assert_eq!(
            pod["automountServiceAccountToken"],
            false,
            "{}",
            context("no API token")
        );
        let security = &pod["securityContext"];
        assert_eq!(security["runAsNonRoot"], true, "{}", context("non-root"));
        assert!(
            number(security, "/runAsUser") > 0.0,
            "{}",
            context("a non-root user id")
        );
        assert_eq!(
            security["seccompProfile"]["type"],
            "RuntimeDefault",
            "{}",
            context("the runtime's seccomp profile")
        );
        let containers = list(pod, "/containers")
            .iter()
            .chain(list(pod, "/initContainers"));
        for container in containers {
            let security = &container["securityContext"];
            assert_eq!(
                security["allowPrivilegeEscalation"],
                false,
                "{}",
                context("no escalation")
            );
            assert_eq!(
                security["readOnlyRootFilesystem"],
                true,
                "{}",
                context("read-only root filesystem")
            );
            assert_eq!(
                security["capabilities"]["drop"],
                serde_json::json!(["ALL"]),
                "{}",
                context("all capabilities dropped")
            );
            assert!(
                security.get("privileged").is_none_or(|flag| flag == false),
                "{}",
                context("not privileged")
            );
            let image = text(container, "/image");
            assert_image_pinned(image);
            let resources = &container["resources"];
            for (section, resource) in [
                ("requests", "cpu"),
                ("requests", "memory"),
                ("limits", "memory"),
            ] {
                assert!(
                    resources[section].get(resource).is_some(),
                    "{}",
                    context(&format!("{section}.{resource}"))
                );
            }
            assert_eq!(
                container["readinessProbe"].is_null(),
                kind == "Job",
                "{}",
                context("a readiness probe (except for a Job)")
            );
        }
        // hostPath, host namespaces and the like would break the restricted profile.
        for field in ["hostNetwork", "hostPID", "hostIPC"] {
            assert!(pod.get(field).is_none(), "{}", context(field));
        }
        for volume in list(pod, "/volumes") {
            let source: Vec<String> = keys(volume, "")
                .into_iter()
                .filter(|key| key != "name")
                .collect();
            assert!(
                ["configMap", "secret", "emptyDir", "persistentVolumeClaim"]
                    .contains(&source[0].as_str()),
                "{}",
                context(&format!("volume type {source:?}"))
            );
        }
    }
    assert!(seen >= 9, "{seen} workloads");
}

#[test]
fn every_reference_between_the_manifests_resolves() {
    let manifests = Manifests::load();
    let templates: Vec<&Value> = manifests
        .workloads()
        .map(|(_, _, template)| template)
        .collect();
    for (kind, name, template) in manifests.workloads() {
        for (referenced_kind, referenced) in pod_references(template) {
            assert!(
                manifests.generated(referenced_kind).contains(referenced),
                "{kind} {name} refers to {referenced_kind} {referenced}, which is not generated"
            );
        }
        let pod = &template["spec"];
        for volume in list(pod, "/volumes") {
            if let Some(claim) = volume
                .pointer("/persistentVolumeClaim/claimName")
                .and_then(Value::as_str)
            {
                manifests.get("PersistentVolumeClaim", claim);
            }
        }
        let claim_templates: Vec<&str> = manifests
            .find("StatefulSet", name)
            .map(|set| {
                list(set, "/spec/volumeClaimTemplates")
                    .iter()
                    .map(|claim| text(claim, "/metadata/name"))
                    .collect()
            })
            .unwrap_or_default();
        let volumes: BTreeSet<&str> = list(pod, "/volumes")
            .iter()
            .map(|volume| text(volume, "/name"))
            .chain(claim_templates)
            .collect();
        for container in list(pod, "/containers") {
            for mount in list(container, "/volumeMounts") {
                let mount = text(mount, "/name");
                assert!(
                    volumes.contains(mount),
                    "{kind} {name} mounts {mount}, which it does not define"
                );
            }
            for probe in ["readinessProbe", "livenessProbe"] {
                if let Some(port) = container[probe].pointer("/httpGet/port") {
                    container_port(container, port);
                }
            }
        }
    }
    for object in manifests.of_kind("Service") {
        let selector = &object.value["spec"]["selector"];
        let template = templates
            .iter()
            .find(|template| selects(selector, template))
            .unwrap_or_else(|| panic!("Service {} selects no pods", object.name()));
        let container = &template["spec"]["containers"][0];
        for port in list(&object.value, "/spec/ports") {
            container_port(container, port.get("targetPort").unwrap_or(&port["port"]));
        }
    }
    for object in manifests.of_kind("PodDisruptionBudget") {
        assert!(
            templates
                .iter()
                .any(|template| selects(&object.value["spec"]["selector"], template)),
            "PodDisruptionBudget {} selects no pods",
            object.name()
        );
    }
}
