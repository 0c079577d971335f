//! MongoDB: a three-member replica set that the services write to by majority.

use std::collections::BTreeMap;

use crate::manifests::*;

/// The value of a `--flag=value` or `--flag value` argument.
fn flag(arguments: &[String], name: &str) -> Option<String> {
    arguments.iter().enumerate().find_map(|(index, argument)| {
        if let Some(value) = argument.strip_prefix(&format!("{name}=")) {
            Some(value.to_owned())
        } else if argument == name {
            arguments.get(index + 1).cloned()
        } else {
            None
        }
    })
}

#[test]
fn mongodb_is_a_three_member_replica_set_that_the_services_write_to_by_majority() {
    let manifests = Manifests::load();
    let set = manifests.get("StatefulSet", "mongo");
    let members = number(set, "/spec/replicas") as usize;
    assert_eq!(members, 3);
    let template = &set["spec"]["template"];
    let container = &template["spec"]["containers"][0];
    let command = texts(container, "/command");
    assert_eq!(command[0], "mongod");
    let replica_set = flag(&command, "--replSet").expect("mongod runs a replica set");
    assert!(command.iter().any(|argument| argument == "--bind_ip_all"));

    // Each member keeps its data on its own volume claim, mounted where mongod writes.
    let db_path = flag(&command, "--dbpath").unwrap_or_else(|| "/data/db".to_owned());
    let claims = list(set, "/spec/volumeClaimTemplates");
    assert_eq!(claims.len(), 1);
    let claim = text(&claims[0], "/metadata/name");
    assert!(
        list(container, "/volumeMounts")
            .iter()
            .any(|mount| mount["name"] == claim && mount["mountPath"] == db_path.as_str()),
        "the volume claim is mounted at {db_path}"
    );

    // The members' names come from a headless Service that publishes them before they are ready.
    let governing = text(set, "/spec/serviceName");
    let service = manifests.headless_service_for(governing, template);
    assert_eq!(service["spec"]["publishNotReadyAddresses"], true);
    let hosts: Vec<String> = (0..members)
        .map(|ordinal| format!("mongo-{ordinal}.{governing}:27017"))
        .collect();

    // The services name every member and the replica set, and wait for a majority.
    let uri = &manifests.platform_env()["MONGODB_URI"];
    let rest = uri.strip_prefix("mongodb://").expect("a mongodb:// URI");
    let (seed, options) = rest.split_once("/?").expect("options after the hosts");
    assert_eq!(seed.split(',').collect::<Vec<_>>(), hosts, "{uri}");
    let options: BTreeMap<&str, &str> = options
        .split('&')
        .map(|pair| pair.split_once('=').expect("key=value"))
        .collect();
    assert_eq!(
        options.get("replicaSet"),
        Some(&replica_set.as_str()),
        "{uri}"
    );
    assert_eq!(options.get("w"), Some(&"majority"), "{uri}");
    let write_timeout: f64 = options
        .get("wtimeoutMS")
        .expect("a bound on the majority wait")
        .parse()
        .unwrap();
    assert!(write_timeout < REQUEST_DEADLINE_MS, "{uri}");

    // The initiation names the same replica set and members, and runs once they all answer.
    let job = manifests.get("Job", "mongo-init");
    let script = texts(
        &job["spec"]["template"]["spec"]["containers"][0],
        "/command",
    )
    .join(" ");
    assert!(
        script.contains(&format!("_id: \"{replica_set}\"")),
        "{script}"
    );
    for host in &hosts {
        assert!(
            script.contains(&format!("host: \"{host}\"")),
            "{host} in {script}"
        );
        assert!(script.contains(host.as_str()));
    }
    assert_eq!(script.matches("host: \"").count(), members);
    assert!(script.contains("NotYetInitialized"), "initiates only once");

    // A drain never takes the majority away.
    let budget = manifests.get("PodDisruptionBudget", "mongo");
    let unavailable = number(budget, "/spec/maxUnavailable") as usize;
    assert!(members - unavailable > members / 2);

    // Unauthenticated, so reachable only from the platform's own pods.
    let policy = manifests.get("NetworkPolicy", "mongo");
    assert!(selects(&policy["spec"]["podSelector"], template));
    let allowed = &policy["spec"]["ingress"][0]["from"][0]["podSelector"];
    assert_eq!(list(policy, "/spec/ingress").len(), 1);
    for (kind, name, pod) in manifests.workloads() {
        let uses_mongo = list(&pod["spec"]["containers"][0], "/envFrom")
            .iter()
            .any(|source| source["configMapRef"]["name"] == "platform-env")
            || ["mongo", "mongo-init"].contains(&name);
        assert_eq!(
            selects(allowed, pod),
            uses_mongo,
            "{kind} {name}: may reach MongoDB if and only if it uses it"
        );
    }
}
