//! Reading the manifests, the kustomization and the collector configurations, and validating
//! them with kubernetes-validate: what every story of this suite uses.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use e2e_tests::{project_root, read_repository_file};
use serde::Deserialize;
use serde_json::Value;

/// The Kubernetes version the manifests are written for.
pub(crate) const KUBERNETES_VERSION: &str = "1.33.0";

/// Where the kustomization lives, from the repository's root.
pub(crate) const KUSTOMIZATION_DIR: &str = "deploy/kubernetes";

/// The services' request deadline and stop budget (services/platform/src/server.rs), in ms.
pub(crate) const REQUEST_DEADLINE_MS: f64 = 4500.0;
pub(crate) const STOP_BUDGET_MS: f64 = 4500.0;

/// How long the OpenTelemetry SDK's batch exporter holds spans before sending them
/// (OTEL_BSP_SCHEDULE_DELAY's default, which the services keep), in ms.
pub(crate) const BATCH_EXPORT_DELAY_MS: f64 = 5000.0;

/// The memory one argon2id hash takes (services/platform/src/password.rs), in MiB.
pub(crate) const HASH_MIB: f64 = 19.0;

/// The services that hash passwords, one hash per CPU they may use.
pub(crate) const HASHING_SERVICES: [&str; 2] = ["authen", "user"];

/// The services that must scale with load.
pub(crate) const AUTOSCALED_SERVICES: [&str; 2] = ["blog", "author"];

pub(crate) fn kustomization_dir() -> PathBuf {
    project_root().join(KUSTOMIZATION_DIR)
}

// --- reading the files --------------------------------------------------------------------------

/// Every document of a YAML stream, as JSON values (empty documents left out).
pub(crate) fn yaml_documents(text: &str, origin: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|error| panic!("{origin}: {error}"))
        })
        .filter(|document| !document.is_null())
        .collect()
}

/// A YAML file of one document, by its path from the repository's root.
pub(crate) fn yaml_file(file: &str) -> Value {
    let mut documents = yaml_documents(&read_repository_file(file), file);
    assert_eq!(documents.len(), 1, "{file} should hold one YAML document");
    documents.remove(0)
}

pub(crate) fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value}"))
}

pub(crate) fn number(value: &Value, pointer: &str) -> f64 {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {value}"))
}

pub(crate) fn list<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

pub(crate) fn texts(value: &Value, pointer: &str) -> Vec<String> {
    list(value, pointer)
        .iter()
        .map(|item| {
            item.as_str()
                .unwrap_or_else(|| panic!("not a string: {item}"))
                .to_owned()
        })
        .collect()
}

pub(crate) fn keys(value: &Value, pointer: &str) -> BTreeSet<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

/// `KEY=VALUE` lines of an env file, as kustomize reads them (`#` starts a comment line).
pub(crate) fn env_file(file: &str) -> BTreeMap<String, String> {
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
pub(crate) fn duration_ms(duration: &str) -> f64 {
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
pub(crate) fn mebibytes(quantity: &str) -> f64 {
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
pub(crate) fn cores(quantity: &str) -> f64 {
    match quantity.strip_suffix('m') {
        Some(millicores) => millicores.parse::<f64>().expect("a number") / 1000.0,
        None => quantity.parse().expect("a number of cores"),
    }
}

// --- the kustomization --------------------------------------------------------------------------

/// The kustomization, as far as this project uses kustomize.
pub(crate) struct Kustomization {
    pub(crate) namespace: String,
    pub(crate) resources: Vec<String>,
    pub(crate) config_maps: Vec<Generator>,
    pub(crate) secrets: Vec<Generator>,
}

/// A ConfigMap or Secret generator: its name, its `key=file` sources and its env files.
pub(crate) struct Generator {
    pub(crate) name: String,
    pub(crate) files: Vec<(String, String)>,
    pub(crate) envs: Vec<String>,
}

impl Generator {
    pub(crate) fn all_files(&self) -> impl Iterator<Item = &str> {
        self.files
            .iter()
            .map(|(_, file)| file.as_str())
            .chain(self.envs.iter().map(String::as_str))
    }
}

pub(crate) fn kustomization() -> Kustomization {
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
            "kustomization.yaml uses `{field}`, which tests/kubernetes/ does not apply: the \
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
                        "a generator uses `{field}`, which tests/kubernetes/ does not read"
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
pub(crate) struct Object {
    pub(crate) file: String,
    pub(crate) value: Value,
}

impl Object {
    pub(crate) fn kind(&self) -> &str {
        text(&self.value, "/kind")
    }

    pub(crate) fn name(&self) -> &str {
        text(&self.value, "/metadata/name")
    }
}

/// Every object the kustomization lists, as written.
pub(crate) struct Manifests {
    pub(crate) kustomization: Kustomization,
    pub(crate) objects: Vec<Object>,
}

impl Manifests {
    pub(crate) fn load() -> Self {
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

    pub(crate) fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Object> {
        self.objects
            .iter()
            .filter(move |object| object.kind() == kind)
    }

    pub(crate) fn find<'a>(&'a self, kind: &'a str, name: &str) -> Option<&'a Value> {
        self.of_kind(kind)
            .find(|object| object.name() == name)
            .map(|object| &object.value)
    }

    pub(crate) fn get<'a>(&'a self, kind: &'a str, name: &str) -> &'a Value {
        self.find(kind, name)
            .unwrap_or_else(|| panic!("deploy/kubernetes has no {kind} {name:?}"))
    }

    /// Every object that runs pods: (kind, name, the pod template).
    pub(crate) fn workloads(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
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
    pub(crate) fn service_for(&self, name: &str, template: &Value) -> &Value {
        let service = self.get("Service", name);
        assert!(
            selects(&service["spec"]["selector"], template),
            "Service {name} does not select its pods"
        );
        service
    }

    /// [`service_for`](Self::service_for) that must be headless: its DNS name resolves to every
    /// pod's own address rather than to one virtual IP, for clients that pick a pod themselves.
    pub(crate) fn headless_service_for(&self, name: &str, template: &Value) -> &Value {
        let service = self.service_for(name, template);
        assert_eq!(service["spec"]["clusterIP"], "None", "{name} is headless");
        service
    }

    pub(crate) fn config_map_generator(&self, name: &str) -> &Generator {
        self.kustomization
            .config_maps
            .iter()
            .find(|generator| generator.name == name)
            .unwrap_or_else(|| panic!("the kustomization generates no ConfigMap {name:?}"))
    }

    pub(crate) fn secret_generator(&self, name: &str) -> &Generator {
        self.kustomization
            .secrets
            .iter()
            .find(|generator| generator.name == name)
            .unwrap_or_else(|| panic!("the kustomization generates no Secret {name:?}"))
    }

    /// The names of the generated ConfigMaps or Secrets.
    pub(crate) fn generated(&self, kind: &str) -> BTreeSet<&str> {
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
    pub(crate) fn platform_env(&self) -> BTreeMap<String, String> {
        let generator = self.config_map_generator("platform-env");
        generator
            .envs
            .iter()
            .flat_map(|file| env_file(&format!("{KUSTOMIZATION_DIR}/{file}")))
            .collect()
    }

    /// The file a generated ConfigMap's key is made from, as YAML.
    pub(crate) fn generated_config(&self, config_map: &str, key: &str) -> Value {
        let generator = self.config_map_generator(config_map);
        let (_, file) = generator
            .files
            .iter()
            .find(|(name, _)| name == key)
            .unwrap_or_else(|| panic!("ConfigMap {config_map} has no key {key}"));
        yaml_file(&format!("{KUSTOMIZATION_DIR}/{file}"))
    }

    /// The HorizontalPodAutoscaler that scales this Deployment, if one does.
    pub(crate) fn autoscaler_of(&self, deployment: &str) -> Option<&Value> {
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
    pub(crate) fn deployment(&self, name: &str) -> (&Value, &Value, &Value) {
        let deployment = self.get("Deployment", name);
        let template = &deployment["spec"]["template"];
        let containers = list(template, "/spec/containers");
        assert_eq!(containers.len(), 1, "{name}: one container per pod");
        (deployment, template, &containers[0])
    }
}

/// Whether a label selector (`matchLabels` or a Service's plain map) selects the template's pods.
pub(crate) fn selects(selector: &Value, template: &Value) -> bool {
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
pub(crate) fn container_port(container: &Value, port: &Value) -> f64 {
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
pub(crate) fn service_target(service: &Value, port: f64, container: &Value) -> f64 {
    let entry = list(service, "/spec/ports")
        .iter()
        .find(|entry| number(entry, "/port") == port)
        .unwrap_or_else(|| panic!("the Service exposes no port {port}: {service}"));
    container_port(container, entry.get("targetPort").unwrap_or(&entry["port"]))
}

/// The port of an `host:port` endpoint.
pub(crate) fn endpoint_port(endpoint: &str) -> f64 {
    endpoint
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {endpoint:?}"))
}

/// The environment a service's container gets: platform-env, then its own `env`.
pub(crate) fn service_env(manifests: &Manifests, container: &Value) -> BTreeMap<String, String> {
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
pub(crate) fn pod_references(template: &Value) -> Vec<(&'static str, &str)> {
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
pub(crate) fn kubernetes_validate() -> PathBuf {
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
pub(crate) fn assert_valid(files: &[PathBuf], expected: &[String]) {
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

pub(crate) fn lower_kind_name(value: &Value) -> String {
    format!(
        "{}/{}",
        text(value, "/kind").to_lowercase(),
        text(value, "/metadata/name")
    )
}
