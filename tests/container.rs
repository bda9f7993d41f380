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
    let out = Command::new(root.join("scripts/container-image.sh"))
        .current_dir(root)
        .args(["--tag", &tag, "--smoke", &database])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .expect("scripts/container-image.sh runs (apt-get install buildah debootstrap; .ci/run installs them)");
    let log = text(&out);
    let _ = Command::new("buildah")
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
