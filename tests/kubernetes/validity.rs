//! Every manifest valid against Kubernetes 1.33, and the kustomization whole.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::Command,
};

use e2e_tests::generate_keys;

use crate::manifests::*;
use crate::secrets::secrets_script;

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
