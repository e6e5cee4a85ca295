//! The end-to-end test harness: runs the workspace's binaries as real processes.
//!
//! Tests in `tests/tests/` call [`bin`] to get the path of `ects-gateway` or `ects-tools`.
//! The first call builds them with the same cargo and profile that built the test, so an
//! end-to-end test never runs a stale binary. (Cargo releases its build lock before running
//! tests, so the nested build is safe; it is a no-op when nothing changed.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory the test executable's profile builds into (`target/debug`, …).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// The path of workspace binary `name`, built on first use.
///
/// # Panics
/// If the build fails (its output is shown) or the binary is not where cargo puts it.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = profile_dir();
    BUILT.get_or_init(|| {
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(other) => other.to_string(),
            None => "dev".to_string(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--bins",
                "-p",
                "ects-gateway",
                "-p",
                "ects-tools",
                "--profile",
            ])
            .arg(&profile)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build");
        assert!(
            status.success(),
            "cargo build of the workspace binaries failed"
        );
    });
    let path = dir.join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The repository root (for bundled data such as `docs/` and `tests/data/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}
