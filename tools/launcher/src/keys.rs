//! Signing keys for a platform that runs only for a while (a test, a benchmark).

use std::{path::Path, process::Command};

use crate::paths::project_root;

/// A fresh 2048-bit RSA pair in `dir` as `private.pem` and `public.pem`, made by the project's
/// own `scripts/gen-keys.sh`, so that every test run also checks that script. 2048 bits is the
/// least the services accept, and the quickest to make.
pub fn generate(dir: &Path) -> Result<(), String> {
    let output = Command::new("bash")
        .arg(project_root().join("scripts/gen-keys.sh"))
        .args(["--bits", "2048", "--force", "--out-dir"])
        .arg(dir)
        .output()
        .map_err(|error| format!("cannot run scripts/gen-keys.sh: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "scripts/gen-keys.sh failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
