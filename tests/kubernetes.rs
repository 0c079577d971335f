//! The Kubernetes deployment (deploy/kubernetes) and the collector, Jaeger and Prometheus
//! configuration it shares with docker-compose.production.yml, checked offline.
//!
//! No cluster runs where this suite runs, so nothing here applies a manifest. Instead:
//! - kubernetes-validate (PyPI, pinned in scripts/lib/common.sh, installed by scripts/test.sh)
//!   validates every manifest against the Kubernetes 1.33 API schemas it bundles, strictly: an
//!   unknown or misplaced field is an error, as with `kubectl apply --validate=strict`;
//! - the kustomization is read here rather than rendered: it may only set the namespace, list the
//!   manifests and generate ConfigMaps and Secrets (anything else fails a test), so each manifest
//!   as written is what the cluster gets, and the tests read the manifests directly. Where
//!   `kubectl` is on PATH, its built-in kustomize also renders the whole kustomization, and that
//!   output, the generated objects included, is validated too;
//! - the tests then check what the platform needs: probes, hardening, graceful stops, resources
//!   from the measured figures, the replica set, the secrets, and the trace pipeline from the
//!   services through both collector tiers to Jaeger and Prometheus.

use std::{
    collections::{BTreeMap, BTreeSet},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use e2e_tests::{SERVICES, assert_image_pinned, generate_keys, project_root, read_repository_file};
use serde::Deserialize;
use serde_json::Value;

/// The Kubernetes version the manifests are written for.
const KUBERNETES_VERSION: &str = "1.33.0";

/// Where the kustomization lives, from the repository's root.
const KUSTOMIZATION_DIR: &str = "deploy/kubernetes";

/// The services' request deadline and stop budget (services/platform/src/server.rs), in ms.
const REQUEST_DEADLINE_MS: f64 = 4500.0;
const STOP_BUDGET_MS: f64 = 4500.0;

/// How long the OpenTelemetry SDK's batch exporter holds spans before sending them
/// (OTEL_BSP_SCHEDULE_DELAY's default, which the services keep), in ms.
const BATCH_EXPORT_DELAY_MS: f64 = 5000.0;

/// The memory one argon2id hash takes (services/platform/src/password.rs), in MiB.
const HASH_MIB: f64 = 19.0;

/// The services that hash passwords, one hash per CPU they may use.
const HASHING_SERVICES: [&str; 2] = ["authen", "user"];

/// The services that must scale with load.
const AUTOSCALED_SERVICES: [&str; 2] = ["blog", "author"];

fn kustomization_dir() -> PathBuf {
    project_root().join(KUSTOMIZATION_DIR)
}

// --- reading the files --------------------------------------------------------------------------

/// Every document of a YAML stream, as JSON values (empty documents left out).
fn yaml_documents(text: &str, origin: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|error| panic!("{origin}: {error}"))
        })
        .filter(|document| !document.is_null())
        .collect()
}

/// A YAML file of one document, by its path from the repository's root.
fn yaml_file(file: &str) -> Value {
    let mut documents = yaml_documents(&read_repository_file(file), file);
    assert_eq!(documents.len(), 1, "{file} should hold one YAML document");
    documents.remove(0)
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value}"))
}

fn number(value: &Value, pointer: &str) -> f64 {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {value}"))
}

fn list<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn texts(value: &Value, pointer: &str) -> Vec<String> {
    list(value, pointer)
        .iter()
        .map(|item| {
            item.as_str()
                .unwrap_or_else(|| panic!("not a string: {item}"))
                .to_owned()
        })
        .collect()
}

fn keys(value: &Value, pointer: &str) -> BTreeSet<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

/// `KEY=VALUE` lines of an env file, as kustomize reads them (`#` starts a comment line).
fn env_file(file: &str) -> BTreeMap<String, String> {
    read_repository_file(file)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{file}: not KEY=VALUE: {line:?}"));
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// A duration as the collector writes them (`15s`, `500ms`, `2m`), in ms.
fn duration_ms(duration: &str) -> f64 {
    let split = duration
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or_else(|| panic!("no unit in the duration {duration:?}"));
    let (amount, unit) = duration.split_at(split);
    let amount: f64 = amount.parse().expect("a number");
    amount
        * match unit {
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            other => panic!("unknown unit {other:?} in {duration:?}"),
        }
}

/// A memory quantity (`48Mi`, `1Gi`), in MiB.
fn mebibytes(quantity: &str) -> f64 {
    let (amount, factor) = if let Some(amount) = quantity.strip_suffix("Mi") {
        (amount, 1.0)
    } else if let Some(amount) = quantity.strip_suffix("Gi") {
        (amount, 1024.0)
    } else {
        panic!("write memory in Mi or Gi, not {quantity:?}")
    };
    amount.parse::<f64>().expect("a number") * factor
}

/// A CPU quantity (`250m`, `2`), in cores.
fn cores(quantity: &str) -> f64 {
    match quantity.strip_suffix('m') {
        Some(millicores) => millicores.parse::<f64>().expect("a number") / 1000.0,
        None => quantity.parse().expect("a number of cores"),
    }
}

// --- the kustomization --------------------------------------------------------------------------

/// The kustomization, as far as this project uses kustomize.
struct Kustomization {
    namespace: String,
    resources: Vec<String>,
    config_maps: Vec<Generator>,
    secrets: Vec<Generator>,
}

/// A ConfigMap or Secret generator: its name, its `key=file` sources and its env files.
struct Generator {
    name: String,
    files: Vec<(String, String)>,
    envs: Vec<String>,
}

impl Generator {
    fn all_files(&self) -> impl Iterator<Item = &str> {
        self.files
            .iter()
            .map(|(_, file)| file.as_str())
            .chain(self.envs.iter().map(String::as_str))
    }
}

fn kustomization() -> Kustomization {
    let value = yaml_file(&format!("{KUSTOMIZATION_DIR}/kustomization.yaml"));
    for field in keys(&value, "") {
        assert!(
            [
                "apiVersion",
                "kind",
                "namespace",
                "resources",
                "configMapGenerator",
                "secretGenerator"
            ]
            .contains(&field.as_str()),
            "kustomization.yaml uses `{field}`, which tests/kubernetes.rs does not apply: the \
             manifests would no longer be what the cluster gets. Write the change into the \
             manifests themselves, or teach these tests the feature"
        );
    }
    assert_eq!(text(&value, "/kind"), "Kustomization");
    let generators = |pointer: &str| -> Vec<Generator> {
        list(&value, pointer)
            .iter()
            .map(|generator| {
                for field in keys(generator, "") {
                    assert!(
                        ["name", "files", "envs"].contains(&field.as_str()),
                        "a generator uses `{field}`, which tests/kubernetes.rs does not read"
                    );
                }
                Generator {
                    name: text(generator, "/name").to_owned(),
                    files: texts(generator, "/files")
                        .into_iter()
                        .map(|source| match source.split_once('=') {
                            Some((key, file)) => (key.to_owned(), file.to_owned()),
                            None => (
                                Path::new(&source)
                                    .file_name()
                                    .expect("a file")
                                    .to_string_lossy()
                                    .into_owned(),
                                source,
                            ),
                        })
                        .collect(),
                    envs: texts(generator, "/envs"),
                }
            })
            .collect()
    };
    Kustomization {
        namespace: text(&value, "/namespace").to_owned(),
        resources: texts(&value, "/resources"),
        config_maps: generators("/configMapGenerator"),
        secrets: generators("/secretGenerator"),
    }
}

/// One object of a manifest.
struct Object {
    file: String,
    value: Value,
}

impl Object {
    fn kind(&self) -> &str {
        text(&self.value, "/kind")
    }

    fn name(&self) -> &str {
        text(&self.value, "/metadata/name")
    }
}

/// Every object the kustomization lists, as written.
struct Manifests {
    kustomization: Kustomization,
    objects: Vec<Object>,
}

impl Manifests {
    fn load() -> Self {
        let kustomization = kustomization();
        let objects = kustomization
            .resources
            .iter()
            .flat_map(|file| {
                let path = format!("{KUSTOMIZATION_DIR}/{file}");
                yaml_documents(&read_repository_file(&path), &path)
                    .into_iter()
                    .map(move |value| Object {
                        file: file.clone(),
                        value,
                    })
            })
            .collect();
        Self {
            kustomization,
            objects,
        }
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Object> {
        self.objects
            .iter()
            .filter(move |object| object.kind() == kind)
    }

    fn find<'a>(&'a self, kind: &'a str, name: &str) -> Option<&'a Value> {
        self.of_kind(kind)
            .find(|object| object.name() == name)
            .map(|object| &object.value)
    }

    fn get<'a>(&'a self, kind: &'a str, name: &str) -> &'a Value {
        self.find(kind, name)
            .unwrap_or_else(|| panic!("deploy/kubernetes has no {kind} {name:?}"))
    }

    /// Every object that runs pods: (kind, name, the pod template).
    fn workloads(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.objects
            .iter()
            .filter(|object| ["Deployment", "StatefulSet", "Job"].contains(&object.kind()))
            .map(|object| {
                let template = object
                    .value
                    .pointer("/spec/template")
                    .expect("a pod template");
                (object.kind(), object.name(), template)
            })
    }

    /// The Service of that name, which must select the pods of `template`.
    fn service_for(&self, name: &str, template: &Value) -> &Value {
        let service = self.get("Service", name);
        assert!(
            selects(&service["spec"]["selector"], template),
            "Service {name} does not select its pods"
        );
        service
    }

    /// [`service_for`](Self::service_for) that must be headless: its DNS name resolves to every
    /// pod's own address rather than to one virtual IP, for clients that pick a pod themselves.
    fn headless_service_for(&self, name: &str, template: &Value) -> &Value {
        let service = self.service_for(name, template);
        assert_eq!(service["spec"]["clusterIP"], "None", "{name} is headless");
        service
    }

    fn config_map_generator(&self, name: &str) -> &Generator {
        self.kustomization
            .config_maps
            .iter()
            .find(|generator| generator.name == name)
            .unwrap_or_else(|| panic!("the kustomization generates no ConfigMap {name:?}"))
    }

    fn secret_generator(&self, name: &str) -> &Generator {
        self.kustomization
            .secrets
            .iter()
            .find(|generator| generator.name == name)
            .unwrap_or_else(|| panic!("the kustomization generates no Secret {name:?}"))
    }

    /// The names of the generated ConfigMaps or Secrets.
    fn generated(&self, kind: &str) -> BTreeSet<&str> {
        let generators = match kind {
            "ConfigMap" => &self.kustomization.config_maps,
            "Secret" => &self.kustomization.secrets,
            other => panic!("nothing generates a {other}"),
        };
        generators
            .iter()
            .map(|generator| generator.name.as_str())
            .collect()
    }

    /// The four services' shared environment (the ConfigMap platform-env's env file).
    fn platform_env(&self) -> BTreeMap<String, String> {
        let generator = self.config_map_generator("platform-env");
        generator
            .envs
            .iter()
            .flat_map(|file| env_file(&format!("{KUSTOMIZATION_DIR}/{file}")))
            .collect()
    }

    /// The file a generated ConfigMap's key is made from, as YAML.
    fn generated_config(&self, config_map: &str, key: &str) -> Value {
        let generator = self.config_map_generator(config_map);
        let (_, file) = generator
            .files
            .iter()
            .find(|(name, _)| name == key)
            .unwrap_or_else(|| panic!("ConfigMap {config_map} has no key {key}"));
        yaml_file(&format!("{KUSTOMIZATION_DIR}/{file}"))
    }

    /// The HorizontalPodAutoscaler that scales this Deployment, if one does.
    fn autoscaler_of(&self, deployment: &str) -> Option<&Value> {
        let mut autoscalers = self
            .of_kind("HorizontalPodAutoscaler")
            .filter(|autoscaler| {
                autoscaler.value["spec"]["scaleTargetRef"]["kind"] == "Deployment"
                    && autoscaler.value["spec"]["scaleTargetRef"]["name"] == deployment
            });
        let autoscaler = autoscalers.next().map(|autoscaler| &autoscaler.value);
        assert!(
            autoscalers.next().is_none(),
            "two autoscalers scale {deployment}"
        );
        autoscaler
    }

    /// A Deployment's pod template and its only container.
    fn deployment(&self, name: &str) -> (&Value, &Value, &Value) {
        let deployment = self.get("Deployment", name);
        let template = &deployment["spec"]["template"];
        let containers = list(template, "/spec/containers");
        assert_eq!(containers.len(), 1, "{name}: one container per pod");
        (deployment, template, &containers[0])
    }
}

/// Whether a label selector (`matchLabels` or a Service's plain map) selects the template's pods.
fn selects(selector: &Value, template: &Value) -> bool {
    let labels = selector
        .get("matchLabels")
        .unwrap_or(selector)
        .as_object()
        .expect("a selector");
    !labels.is_empty()
        && labels
            .iter()
            .all(|(key, value)| template["metadata"]["labels"].get(key) == Some(value))
}

/// A container's port number, by the name or number a probe or Service gives.
fn container_port(container: &Value, port: &Value) -> f64 {
    match port {
        Value::Number(number) => number.as_f64().unwrap(),
        Value::String(name) => list(container, "/ports")
            .iter()
            .find(|candidate| candidate["name"] == name.as_str())
            .map(|candidate| number(candidate, "/containerPort"))
            .unwrap_or_else(|| panic!("no container port named {name}")),
        other => panic!("not a port: {other}"),
    }
}

/// The port a Service exposes as `port` reaches this container port (its targetPort).
fn service_target(service: &Value, port: f64, container: &Value) -> f64 {
    let entry = list(service, "/spec/ports")
        .iter()
        .find(|entry| number(entry, "/port") == port)
        .unwrap_or_else(|| panic!("the Service exposes no port {port}: {service}"));
    container_port(container, entry.get("targetPort").unwrap_or(&entry["port"]))
}

/// The port of an `host:port` endpoint.
fn endpoint_port(endpoint: &str) -> f64 {
    endpoint
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {endpoint:?}"))
}

/// The environment a service's container gets: platform-env, then its own `env`.
fn service_env(manifests: &Manifests, container: &Value) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for source in list(container, "/envFrom") {
        assert_eq!(
            text(source, "/configMapRef/name"),
            "platform-env",
            "the services take their shared settings from platform-env"
        );
        env.extend(manifests.platform_env());
    }
    for variable in list(container, "/env") {
        let value = match variable.get("value") {
            Some(value) => value.as_str().expect("a string").to_owned(),
            None => format!("<from {}>", variable["valueFrom"]),
        };
        env.insert(text(variable, "/name").to_owned(), value);
    }
    env
}

/// The ConfigMaps and Secrets a pod template refers to: (kind, name).
fn pod_references(template: &Value) -> Vec<(&'static str, &str)> {
    let pod = &template["spec"];
    let mut references = Vec::new();
    for volume in list(pod, "/volumes") {
        if let Some(name) = volume.pointer("/configMap/name").and_then(Value::as_str) {
            references.push(("ConfigMap", name));
        }
        if let Some(name) = volume.pointer("/secret/secretName").and_then(Value::as_str) {
            references.push(("Secret", name));
        }
    }
    for container in list(pod, "/containers") {
        for source in list(container, "/envFrom") {
            if let Some(name) = source.pointer("/configMapRef/name").and_then(Value::as_str) {
                references.push(("ConfigMap", name));
            }
        }
        for variable in list(container, "/env") {
            if let Some(name) = variable
                .pointer("/valueFrom/secretKeyRef/name")
                .and_then(Value::as_str)
            {
                references.push(("Secret", name));
            }
        }
    }
    references
}

// --- kubernetes-validate ------------------------------------------------------------------------

/// `KUBERNETES_VALIDATE_BIN`, or the copy scripts/test.sh installs into .tools/venv.
fn kubernetes_validate() -> PathBuf {
    let path = std::env::var_os("KUBERNETES_VALIDATE_BIN")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join(".tools/venv/bin/kubernetes-validate"));
    assert!(
        path.is_file(),
        "{} is missing: run the tests with scripts/test.sh, which installs kubernetes-validate \
         into .tools/venv and sets KUBERNETES_VALIDATE_BIN",
        path.display()
    );
    path
}

/// Validates `files` strictly against Kubernetes 1.33, and checks that each object in them
/// (`expected`: kind/name, in kubernetes-validate's lower case) was validated and passed. A kind
/// it has no schema for is only a warning to kubernetes-validate; here it is a failure too.
fn assert_valid(files: &[PathBuf], expected: &[String]) {
    let output = Command::new(kubernetes_validate())
        .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
        .args(files)
        .output()
        .expect("running kubernetes-validate");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let problems: Vec<&str> = stdout
        .lines()
        .filter(|line| !line.starts_with("INFO "))
        .collect();
    assert!(
        output.status.success() && problems.is_empty(),
        "kubernetes-validate found problems ({}):\n{}\n{}",
        output.status,
        problems.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
    let minor = KUBERNETES_VERSION.rsplit_once('.').unwrap().0;
    let passed: Vec<String> = stdout
        .lines()
        .filter_map(|line| {
            line.split_once(" passed for resource ")
                .and_then(|(_, rest)| rest.strip_suffix(&format!(" against version {minor}")))
                .map(str::to_owned)
        })
        .collect();
    let mut expected = expected.to_vec();
    expected.sort();
    let mut passed_sorted = passed.clone();
    passed_sorted.sort();
    assert_eq!(
        passed_sorted, expected,
        "every object should be validated against Kubernetes {minor}:\n{stdout}"
    );
}

fn lower_kind_name(value: &Value) -> String {
    format!(
        "{}/{}",
        text(value, "/kind").to_lowercase(),
        text(value, "/metadata/name")
    )
}

#[test]
fn every_manifest_is_valid_kubernetes_1_33() {
    let manifests = Manifests::load();
    assert!(manifests.objects.len() >= 30, "{}", manifests.objects.len());
    let files: Vec<PathBuf> = manifests
        .kustomization
        .resources
        .iter()
        .map(|file| kustomization_dir().join(file))
        .collect();
    let expected: Vec<String> = manifests
        .objects
        .iter()
        .map(|object| lower_kind_name(&object.value))
        .collect();
    assert_valid(&files, &expected);
}

#[test]
fn the_kustomization_lists_every_manifest_and_generates_from_files_that_exist() {
    let manifests = Manifests::load();
    let listed: BTreeSet<&str> = manifests
        .kustomization
        .resources
        .iter()
        .map(String::as_str)
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(kustomization_dir())
        .expect("deploy/kubernetes")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed,
        on_disk.iter().map(String::as_str).collect(),
        "kustomization.yaml's resources should be exactly the manifests in deploy/kubernetes"
    );

    // kustomize refuses two objects of one kind and name.
    let mut seen = BTreeSet::new();
    for object in &manifests.objects {
        assert!(
            seen.insert((object.kind(), object.name())),
            "two {} named {}",
            object.kind(),
            object.name()
        );
    }

    // One namespace, set by the kustomization alone, with no object naming another.
    let namespace = manifests.get("Namespace", &manifests.kustomization.namespace);
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted",
        "the namespace enforces the restricted Pod Security Standard"
    );
    for object in &manifests.objects {
        assert!(
            object.value["metadata"].get("namespace").is_none(),
            "{} {} in {} sets its own namespace",
            object.kind(),
            object.name(),
            object.file
        );
        assert_eq!(
            object.value["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "blog-platform",
            "{} {} is labelled as part of the platform",
            object.kind(),
            object.name()
        );
    }

    for generator in &manifests.kustomization.config_maps {
        for file in generator.all_files() {
            assert!(
                kustomization_dir().join(file).is_file(),
                "ConfigMap {} is generated from {file}, which does not exist",
                generator.name
            );
        }
    }
    // Secrets come from generators only, from files scripts/k8s-secrets.sh writes into secrets/.
    assert_eq!(
        manifests.of_kind("Secret").count(),
        0,
        "no Secret is written in a manifest"
    );
    for generator in &manifests.kustomization.secrets {
        for file in generator.all_files() {
            assert!(
                file.starts_with("secrets/"),
                "Secret {} is generated from {file}, outside secrets/",
                generator.name
            );
        }
    }
}

/// Copies the kustomization into a temporary directory with its secrets made by
/// scripts/k8s-secrets.sh, as a user would before `kubectl apply -k`.
fn kustomization_with_secrets() -> tempfile::TempDir {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let copy = scratch.path().join("kubernetes");
    let status = Command::new("cp")
        .arg("-r")
        .arg(kustomization_dir())
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    let _ = std::fs::remove_dir_all(copy.join("secrets"));
    let keys = scratch.path().join("keys");
    generate_keys(&keys).expect("a key pair");
    let output = secrets_script(&keys, &copy.join("secrets"), &[]);
    assert!(
        output.status.success(),
        "scripts/k8s-secrets.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    scratch
}

#[test]
fn kubectl_renders_the_kustomization_into_valid_objects_with_generated_names_resolved() {
    // kubectl's built-in kustomize is what `kubectl apply -k` runs. scripts/test.sh cannot install
    // kubectl (no registry it uses has a current one), so this runs where kubectl is present.
    if Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_err()
    {
        eprintln!("kubectl is not on PATH: the kustomization was not rendered here");
        return;
    }
    let manifests = Manifests::load();
    let scratch = kustomization_with_secrets();
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(scratch.path().join("kubernetes"))
        .output()
        .expect("kubectl kustomize");
    assert!(
        output.status.success(),
        "kubectl kustomize failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered_text = String::from_utf8(output.stdout).expect("UTF-8");
    let rendered = yaml_documents(&rendered_text, "kubectl kustomize");

    // Exactly the listed objects, plus one object per generator whose name carries a hash.
    let written: BTreeSet<String> = manifests
        .objects
        .iter()
        .map(|object| lower_kind_name(&object.value))
        .collect();
    let mut generated = BTreeMap::new();
    for object in &rendered {
        let kind_name = lower_kind_name(object);
        if written.contains(&kind_name) {
            continue;
        }
        let name = text(object, "/metadata/name");
        let (base, hash) = name
            .rsplit_once('-')
            .unwrap_or_else(|| panic!("an object that is in no manifest: {kind_name}"));
        assert_eq!(hash.len(), 10, "{kind_name} is not a generated name");
        generated.insert(
            (text(object, "/kind").to_owned(), base.to_owned()),
            name.to_owned(),
        );
    }
    let generators: BTreeSet<(String, String)> = ["ConfigMap", "Secret"]
        .into_iter()
        .flat_map(|kind| {
            manifests
                .generated(kind)
                .into_iter()
                .map(move |name| (kind.to_owned(), name.to_owned()))
        })
        .collect();
    assert_eq!(
        generated.keys().cloned().collect::<BTreeSet<_>>(),
        generators
    );
    assert_eq!(rendered.len(), manifests.objects.len() + generators.len());

    for object in &rendered {
        if text(object, "/kind") != "Namespace" {
            assert_eq!(
                text(object, "/metadata/namespace"),
                manifests.kustomization.namespace,
                "{}",
                lower_kind_name(object)
            );
        }
    }
    // Every reference to a generated object now names it with its hash.
    let rendered_names: BTreeSet<(String, String)> = rendered
        .iter()
        .map(|object| {
            (
                text(object, "/kind").to_owned(),
                text(object, "/metadata/name").to_owned(),
            )
        })
        .collect();
    let mut references = 0;
    for object in &rendered {
        if let Some(template) = object.pointer("/spec/template") {
            for (kind, name) in pod_references(template) {
                references += 1;
                assert!(
                    rendered_names.contains(&(kind.to_owned(), name.to_owned())),
                    "{} refers to {kind} {name}, which the rendering does not hold",
                    lower_kind_name(object)
                );
            }
        }
    }
    assert!(references >= 10, "{references} references");

    let file = scratch.path().join("rendered.yaml");
    std::fs::write(&file, &rendered_text).expect("writing the rendered objects");
    let expected: Vec<String> = rendered.iter().map(lower_kind_name).collect();
    assert_valid(&[file], &expected);
}

// --- the secrets --------------------------------------------------------------------------------

/// scripts/k8s-secrets.sh with this administrator environment and nothing inherited.
fn secrets_script(keys: &Path, out: &Path, env: &[(&str, &str)]) -> std::process::Output {
    secrets_script_with(&[], keys, out, env)
}

/// A key pair and what scripts/k8s-secrets.sh makes of it, in a scratch directory (kept while
/// the first value lives): its keys directory and its output directory.
fn secrets_in_scratch() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let keys = scratch.path().join("keys");
    generate_keys(&keys).expect("a key pair");
    let out = scratch.path().join("secrets");
    let output = secrets_script(&keys, &out, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (scratch, keys, out)
}

/// The same, with `options` (`--force`) first.
fn secrets_script_with(
    options: &[&str],
    keys: &Path,
    out: &Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    Command::new("bash")
        .arg(project_root().join("scripts/k8s-secrets.sh"))
        .args(options)
        .arg("--keys-dir")
        .arg(keys)
        .arg("--out-dir")
        .arg(out)
        .env_remove("ADMIN_USERNAME")
        .env_remove("ADMIN_PASSWORD")
        .envs(env.iter().copied())
        .output()
        .expect("running scripts/k8s-secrets.sh")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_secrets_script_writes_what_the_secret_generators_read_and_keeps_the_admin() {
    let manifests = Manifests::load();
    let (scratch, keys, out) = secrets_in_scratch();

    for generator in &manifests.kustomization.secrets {
        for file in generator.all_files() {
            let name = file.strip_prefix("secrets/").unwrap();
            assert!(
                out.join(name).is_file(),
                "Secret {} needs {file}, which the script did not write",
                generator.name
            );
        }
    }
    for key in ["private.pem", "public.pem"] {
        assert_eq!(
            std::fs::read(out.join(key)).unwrap(),
            std::fs::read(keys.join(key)).unwrap(),
            "{key} is the pair from the keys directory"
        );
    }
    assert_eq!(mode(&out.join("private.pem")), 0o600);
    assert_eq!(mode(&out.join("admin.env")), 0o600);

    let admin = env_file_at(&out.join("admin.env"));
    assert_eq!(admin["ADMIN_USERNAME"], "admin");
    let password = admin["ADMIN_PASSWORD"].clone();
    assert!(password.len() >= 16, "a random password, not {password:?}");

    // Again: the keys are refreshed, the administrator is kept.
    let again = secrets_script(&keys, &out, &[]);
    assert!(again.status.success());
    assert_eq!(
        env_file_at(&out.join("admin.env"))["ADMIN_PASSWORD"],
        password
    );
    // A password user-service would refuse, or one that would silently not replace the kept one.
    let elsewhere = scratch.path().join("elsewhere");
    for (directory, env, expected) in [
        (&elsewhere, &[("ADMIN_PASSWORD", "short")][..], "8 to 128"),
        (
            &elsewhere,
            &[("ADMIN_USERNAME", "a b")][..],
            "ADMIN_USERNAME",
        ),
        (
            &out,
            &[("ADMIN_PASSWORD", "a-long-enough-password")][..],
            "--force",
        ),
    ] {
        let refused = secrets_script(&keys, directory, env);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success() && stderr.contains(expected),
            "{env:?} should be refused: {stderr}"
        );
    }
    let fresh = scratch.path().join("fresh");
    let chosen = secrets_script(
        &keys,
        &fresh,
        &[
            ("ADMIN_USERNAME", "root_admin"),
            ("ADMIN_PASSWORD", "chosen password 1"),
        ],
    );
    assert!(chosen.status.success());
    let admin = env_file_at(&fresh.join("admin.env"));
    assert_eq!(admin["ADMIN_USERNAME"], "root_admin");
    assert_eq!(admin["ADMIN_PASSWORD"], "chosen password 1");
}

fn env_file_at(path: &Path) -> BTreeMap<String, String> {
    let relative = path.to_string_lossy().into_owned();
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("{relative}: {error}"))
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

#[test]
fn no_key_or_password_is_committed() {
    let manifests = Manifests::load();
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .args(args)
            .current_dir(project_root())
            .output()
            .expect("git");
        assert!(output.status.success(), "git {args:?} failed");
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    for generator in &manifests.kustomization.secrets {
        for file in generator.all_files() {
            let path = format!("{KUSTOMIZATION_DIR}/{file}");
            let ignored = Command::new("git")
                .args(["check-ignore", "--quiet", "--no-index", &path])
                .current_dir(project_root())
                .status()
                .expect("git check-ignore");
            assert!(ignored.success(), "{path} is not git-ignored");
        }
    }
    let tracked = git(&["ls-files", "--", "deploy", "docker-compose*.yml"]);
    for file in tracked.lines() {
        assert!(
            !file.starts_with(&format!("{KUSTOMIZATION_DIR}/secrets/")),
            "{file} is committed"
        );
        let content = read_repository_file(file);
        assert!(
            !content.contains("PRIVATE KEY-----"),
            "{file} holds a private key"
        );
        assert!(
            !content
                .lines()
                .any(|line| line.trim().starts_with("ADMIN_PASSWORD=")),
            "{file} sets an administrator password"
        );
    }
}

#[test]
fn only_the_services_that_need_a_key_mount_it_and_the_admin_comes_from_a_secret() {
    let manifests = Manifests::load();
    let keys = manifests.secret_generator("jwt-keys");
    let key_names: BTreeSet<&str> = keys.files.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(key_names, BTreeSet::from(["private.pem", "public.pem"]));
    let platform_env = manifests.platform_env();
    let key_path = |variable: &str| PathBuf::from(&platform_env[variable]);

    for name in SERVICES.map(|service| service.name) {
        let (_, template, container) = manifests.deployment(name);
        // The collector's authority (otel-ca) is a certificate, not a key: see the TLS test.
        let secret_volumes: Vec<&Value> = list(template, "/spec/volumes")
            .iter()
            .filter(|volume| volume.get("secret").is_some())
            .filter(|volume| volume["secret"]["secretName"] != "otel-ca")
            .collect();
        // What each service reads: authen signs (private) and publishes the JWKS (public),
        // author verifies (public), user and blog never touch a key.
        let needs: &[&str] = match name {
            "authen" => &["JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY"],
            "author" => &["JWT_PUBLIC_KEY"],
            _ => &[],
        };
        if needs.is_empty() {
            assert!(secret_volumes.is_empty(), "{name} mounts a secret");
            continue;
        }
        assert_eq!(secret_volumes.len(), 1, "{name}: one secret volume");
        let volume = secret_volumes[0];
        assert_eq!(text(volume, "/secret/secretName"), "jwt-keys");
        let mounted: BTreeSet<String> = match volume["secret"].get("items") {
            Some(items) => items
                .as_array()
                .unwrap()
                .iter()
                .map(|item| text(item, "/path").to_owned())
                .collect(),
            None => key_names.iter().map(|key| (*key).to_owned()).collect(),
        };
        let wanted: BTreeSet<String> = needs
            .iter()
            .map(|variable| {
                key_path(variable)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(mounted, wanted, "{name} mounts exactly the keys it reads");
        let mount = list(container, "/volumeMounts")
            .iter()
            .find(|mount| mount["name"] == volume["name"])
            .unwrap_or_else(|| panic!("{name} does not mount its keys"));
        assert_eq!(mount["readOnly"], true);
        for variable in needs {
            assert_eq!(
                key_path(variable).parent().unwrap(),
                Path::new(text(mount, "/mountPath")),
                "{name}: {variable} is in the mounted directory"
            );
        }
        // Readable by the pod's group (fsGroup), not by everyone.
        let mode = number(volume, "/secret/defaultMode") as u32;
        assert_eq!(mode & 0o047, 0o040, "{name}: key file mode {mode:o}");
        assert!(template["spec"]["securityContext"].get("fsGroup").is_some());
    }

    let admin = manifests.secret_generator("admin");
    assert_eq!(admin.envs, ["secrets/admin.env"]);
    for name in SERVICES.map(|service| service.name) {
        let (_, _, container) = manifests.deployment(name);
        let admin_variables: Vec<&Value> = list(container, "/env")
            .iter()
            .filter(|variable| text(variable, "/name").starts_with("ADMIN_"))
            .collect();
        if name != "user" {
            assert!(admin_variables.is_empty(), "{name} gets the administrator");
            continue;
        }
        for variable in ["ADMIN_USERNAME", "ADMIN_PASSWORD"] {
            let entry = admin_variables
                .iter()
                .find(|entry| entry["name"] == variable)
                .unwrap_or_else(|| panic!("user-service gets no {variable}"));
            assert_eq!(text(entry, "/valueFrom/secretKeyRef/name"), "admin");
            assert_eq!(text(entry, "/valueFrom/secretKeyRef/key"), variable);
        }
    }
}

// --- the services -------------------------------------------------------------------------------

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

// --- MongoDB ------------------------------------------------------------------------------------

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

// --- the trace pipeline -------------------------------------------------------------------------

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
