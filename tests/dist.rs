//! The binaries the action ships: static, for the two Linux targets,
//! matching dist/SHA256SUMS, and built from this very checkout (their
//! `--version` names the hash of the sources, recomputed here as
//! actions/typescript-action's check-dist rebuilds and compares), so dist/
//! cannot go stale unnoticed. Rebuild them with scripts/build-dist.sh.

use std::path::Path;
use std::process::Command;

include!("../build/source_hash.rs");

/// What `lifeboat --version` prints when built from this checkout.
fn expected_version() -> String {
    let hash = source_hash(Path::new(env!("CARGO_MANIFEST_DIR"))).expect("reading the sources");
    format!("lifeboat {} (source {hash})", env!("CARGO_PKG_VERSION"))
}

/// The hash is of the files on disk: this test's own build names it, and
/// it changes when a source file does.
#[test]
fn this_build_names_the_hash_of_its_sources() {
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected_version());
    let files = source_files(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(files.contains(&"src/main.rs".to_string()) && files.contains(&"Cargo.lock".to_string()));
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted, "the hashed files must be in a fixed order");
}

const TARGETS: [(&str, &str); 2] = [
    ("x86_64-unknown-linux-musl", "x86-64"),
    ("aarch64-unknown-linux-musl", "ARM aarch64"),
];

fn dist() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/dist"))
}

#[test]
fn dist_binaries_are_static_and_listed_in_sha256sums() {
    let sums =
        std::fs::read_to_string(dist().join("SHA256SUMS")).expect("dist/SHA256SUMS exists: run scripts/build-dist.sh");
    for (target, arch) in TARGETS {
        let file = format!("lifeboat-{target}");
        let path = dist().join(&file);
        assert!(
            path.is_file(),
            "{} is missing: run scripts/build-dist.sh",
            path.display()
        );
        let described = Command::new("file")
            .arg("-b")
            .arg(&path)
            .output()
            .expect("the file command runs");
        let described = String::from_utf8_lossy(&described.stdout);
        assert!(described.contains(arch), "{file}: {described}");
        assert!(
            described.contains("statically linked") || described.contains("static-pie linked"),
            "{file} is not static: {described}"
        );
        let line = sums
            .lines()
            .find(|l| l.ends_with(&format!("  {file}")))
            .unwrap_or_else(|| panic!("SHA256SUMS has no line for {file}"));
        let digest = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap()))
        };
        assert_eq!(
            line.split_whitespace().next(),
            Some(digest.as_str()),
            "{file} does not match SHA256SUMS"
        );
    }
    let check = Command::new("sha256sum")
        .args(["--check", "--status", "SHA256SUMS"])
        .current_dir(dist())
        .status()
        .unwrap();
    assert!(check.success(), "sha256sum --check fails in dist/");
}

/// Runs a dist binary: natively for x86_64, under qemu-user for aarch64
/// (`apt-get install qemu-user-static`).
fn dist_command(target: &str, dir: &Path) -> Command {
    let binary = dist().join(format!("lifeboat-{target}"));
    let mut command = if target.starts_with("aarch64") && std::env::consts::ARCH != "aarch64" {
        let mut c = Command::new("qemu-aarch64-static");
        c.arg(binary);
        c
    } else {
        Command::new(binary)
    };
    command.current_dir(dir);
    command
}

#[test]
fn both_binaries_are_this_version_and_back_up_and_verify() {
    for (target, _) in TARGETS {
        let out = dist_command(target, dist())
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("lifeboat-{target} does not run ({e}): is qemu-user-static installed?"));
        assert!(out.status.success(), "lifeboat-{target} --version failed");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expected_version(),
            "dist/lifeboat-{target} was built from other sources than this checkout: run scripts/build-dist.sh and commit dist/"
        );

        let dir = tempfile::tempdir().unwrap();
        let db = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
        db.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3);")
            .unwrap();
        drop(db);
        let backup = dist_command(target, dir.path())
            .args(["backup", "app.db", "--out", "bk", "--verify", "restore", "--quiet"])
            .output()
            .unwrap();
        assert!(
            backup.status.success(),
            "lifeboat-{target} backup: {}",
            String::from_utf8_lossy(&backup.stderr)
        );
        let set = dir.path().join(String::from_utf8_lossy(&backup.stdout).trim());
        let check = Command::new("sha256sum")
            .args(["--check", "--status"])
            .arg(format!("{}.sha256", set.display()))
            .current_dir(set.parent().unwrap())
            .status()
            .unwrap();
        assert!(
            check.success(),
            "lifeboat-{target} wrote a set its sidecar does not match"
        );
    }
}
