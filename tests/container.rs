//! The container image of examples/Dockerfile, built without a Docker
//! engine by scripts/container-image.sh (buildah, chroot isolation, vfs
//! storage) and run as the Dockerfile documents: the service takes a first
//! backup at start, reading its password from a `*_FILE` secret, and stops
//! cleanly on SIGTERM. The image holds dist/'s static binary.

mod common;

use common::pg::{PASSWORD, cluster};
use common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn the_image_builds_and_its_service_backs_up_at_start_and_stops_on_sigterm() {
    let c = cluster();
    c.fixture("image_src", "legacy/legacy.sql", &[]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tag = format!("localhost/lifeboat-test:{}", std::process::id());
    // No password in the URL: it reaches the container as a secret file.
    let database = format!(
        "app=postgresql://postgres@127.0.0.1:{}/image_src?sslmode=disable",
        c.port
    );
    // buildah's vfs storage and chroot isolation need root: as another
    // user (a GitHub runner), through sudo, as the full-disk test mounts.
    let out = as_root(&root.join("scripts/container-image.sh"), &["PGPASSWORD"])
        .current_dir(root)
        .args(["--tag", &tag, "--smoke", &database])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .expect("scripts/container-image.sh runs (apt-get install buildah debootstrap; .ci/run installs them)");
    let log = text(&out);
    let _ = as_root(Path::new("buildah"), &[])
        .args(["--storage-driver", "vfs", "rmi", &tag])
        .output();
    assert!(out.status.success(), "{log}");
    assert!(log.contains(&format!("built {tag}")), "{log}");
    assert!(log.contains("backup ok /backups/app-"), "{log}");
    assert!(log.contains(".tar: OK"), "the set matches its sidecar: {log}");
    assert!(
        log.contains("schedule stopped by SIGTERM; nothing half-written was left"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD), "the password reached the output: {log}");
}

/// `program` as root: directly when the tests run as root, else through
/// `sudo -n`, keeping only the named variables of the environment.
fn as_root(program: &Path, keep: &[&str]) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if root {
        return Command::new(program);
    }
    let mut command = Command::new("sudo");
    command.arg("-n");
    if !keep.is_empty() {
        command.arg(format!("--preserve-env={}", keep.join(",")));
    }
    command.arg(program);
    command
}
