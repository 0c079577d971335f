//! Where things are: the project, and the binaries built beside the running one.

use std::path::{Path, PathBuf};

/// The project's root directory (`Cargo.toml`, `scripts/`, `keys/`), two levels above this crate.
pub fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// The directory of the binaries built with the running program: `target/release/` for
/// `target/release/launcher`, and for a test (`target/release/deps/story-…`) the one above
/// `deps/`. Asking the running program rather than assuming `target/` follows cargo wherever it
/// builds (`CARGO_TARGET_DIR`, `build.target-dir`) and whatever the profile.
pub fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running program");
    let dir = exe.parent().expect("a program lives in a directory");
    match dir.file_name() {
        Some(name) if name == "deps" => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

/// `binary` in [`binary_dir`], or an error saying how to build it.
pub fn binary(binary: &str) -> Result<PathBuf, String> {
    binary_in(&binary_dir(), binary)
}

/// `binary` in `dir`, or an error saying how to build it.
pub fn binary_in(dir: &Path, binary: &str) -> Result<PathBuf, String> {
    let path = dir.join(binary);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build the binaries with the same profile first (`cargo build \
             --release --workspace --bins`, which scripts/test.sh does)",
            path.display()
        ))
    }
}
