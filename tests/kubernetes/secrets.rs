//! The secrets: made by scripts/k8s-secrets.sh, never committed, mounted only where needed.

use std::{
    collections::{BTreeMap, BTreeSet},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use e2e_tests::{SERVICES, generate_keys, project_root, read_repository_file};
use serde_json::Value;

use crate::manifests::*;

/// scripts/k8s-secrets.sh with this administrator environment and nothing inherited.
pub(crate) fn secrets_script(
    keys: &Path,
    out: &Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    secrets_script_with(&[], keys, out, env)
}

/// A key pair and what scripts/k8s-secrets.sh makes of it, in a scratch directory (kept while
/// the first value lives): its keys directory and its output directory.
pub(crate) fn secrets_in_scratch() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
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
pub(crate) fn secrets_script_with(
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

pub(crate) fn mode(path: &Path) -> u32 {
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
