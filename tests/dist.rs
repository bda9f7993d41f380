//! The binaries the action ships: static, for the two Linux targets,
//! matching dist/SHA256SUMS and this Cargo.toml's version, so dist/ cannot
//! go stale unnoticed. Rebuild them with scripts/build-dist.sh.

use std::path::Path;
use std::process::Command;

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

#[test]
fn the_x86_64_binary_is_this_version() {
    let out = Command::new(dist().join("lifeboat-x86_64-unknown-linux-musl"))
        .arg("--version")
        .output()
        .expect("the dist binary runs");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("lifeboat {}", env!("CARGO_PKG_VERSION"))
    );
}
