//! Every binary the workspace builds answers `--help` and `--version` and exits, whatever it is:
//! asked for help, a service explains itself instead of starting a server, and its help lists the
//! settings it reads. An argument it does not know is refused.

use std::{
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use e2e_tests::{SERVICES, project_root};
use launcher::paths;

/// Long enough for any binary to print a page; a server that started instead would still run.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The workspace's binaries, as cargo sees them: a new one is covered without being named here.
fn binaries() -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(project_root())
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "cargo metadata failed");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("its JSON");
    let targets = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .flat_map(|package| package["targets"].as_array().cloned().unwrap_or_default());
    let mut names: Vec<String> = targets
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
        })
        .filter_map(|target| target["name"].as_str().map(str::to_owned))
        .collect();
    names.sort_unstable();
    names
}

/// `binary args`, with PORT=0 so that a server started by mistake binds nowhere in the way;
/// killed after [`ANSWER_WITHIN`] (then `None`).
fn run(binary: &str, args: &[&str]) -> Option<Output> {
    let path = paths::binary(binary).unwrap_or_else(|error| panic!("{error}"));
    let dir = tempfile::tempdir().expect("a directory to run in");
    let mut child = Command::new(path)
        .args(args)
        .current_dir(dir.path())
        .env("PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the binary");
    let started = Instant::now();
    while started.elapsed() < ANSWER_WITHIN {
        if child.try_wait().expect("its status").is_some() {
            return Some(child.wait_with_output().expect("its output"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn answer(binary: &str, args: &[&str]) -> (i32, String) {
    let output = run(binary, args).unwrap_or_else(|| {
        panic!(
            "`{binary} {}` was still running after {ANSWER_WITHIN:?}",
            args.join(" ")
        )
    });
    let code = output.status.code().expect("an exit code");
    (code, String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn every_binary_answers_help_and_version_and_exits() {
    let binaries = binaries();
    for service in SERVICES {
        assert!(binaries.iter().any(|b| b == service.binary), "{binaries:?}");
    }
    for binary in &binaries {
        let (code, help) = answer(binary, &["--help"]);
        assert_eq!(code, 0, "{binary} --help");
        assert!(
            help.to_lowercase().contains("usage"),
            "{binary} --help:\n{help}"
        );
        let (code, version) = answer(binary, &["--version"]);
        assert_eq!(code, 0, "{binary} --version");
        assert_eq!(
            version.trim(),
            format!("{binary} {}", env!("CARGO_PKG_VERSION")),
            "{binary} --version"
        );
        let (code, _) = answer(binary, &["--no-such-option"]);
        assert_eq!(code, 2, "{binary} refuses an unknown option");
    }
}

#[test]
fn a_services_help_lists_the_settings_it_reads() {
    let reads = |service: &str| -> &[&str] {
        match service {
            "author" => &["JWT_PUBLIC_KEY", "JWT_ISSUER", "MONGODB_URI"],
            "authen" => &[
                "JWT_PRIVATE_KEY",
                "JWT_TTL_SECONDS",
                "LOGIN_FAILURE_WINDOW_SECONDS",
                "TRUSTED_PROXIES",
                "AUTHOR_URL",
            ],
            "user" => &[
                "ADMIN_USERNAME",
                "ADMIN_PASSWORD",
                "AUTHOR_URL",
                "MONGODB_DB",
            ],
            "blog" => &["AUTHOR_URL", "MONGODB_URI"],
            other => panic!("a service the test does not know: {other}"),
        }
    };
    for service in SERVICES {
        let (_, help) = answer(service.binary, &["--help"]);
        let listed = |name: &str| help.lines().any(|line| line.trim_start().starts_with(name));
        let common = [
            "HOST",
            "PORT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_SDK_DISABLED",
            "RUST_LOG",
        ];
        for name in common.iter().chain(reads(service.name)) {
            assert!(
                listed(name),
                "{} --help does not list {name}:\n{help}",
                service.binary
            );
        }
        assert!(
            help.contains(&format!("[default: {}]", service.port)),
            "{} --help gives its default port:\n{help}",
            service.binary
        );
        let (code, _) = answer(service.binary, &["healthcheck"]);
        assert_eq!(
            code, 1,
            "{} healthcheck: nothing answers on port 0",
            service.binary
        );
    }
}
