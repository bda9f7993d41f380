//! Sets built by an attacker: real sets edited with their hashes, manifest
//! and sidecar recomputed, so every checksum passes. Each must be refused
//! or neutralised without touching anything outside the test's directory,
//! sending a password anywhere or running the set's own code.

mod common;

use common::pg::{PASSWORD, cluster};
use common::*;
use std::path::{Path, PathBuf};

fn pg_set(dir: &Path, db: &str, setup: &str) -> PathBuf {
    let c = cluster();
    c.createdb(db);
    c.psql(db, setup);
    let out = expect(dir, &["backup", &c.url(db), "--out", "bk", "--quiet"], 0);
    dir.join(out.trim())
}

#[test]
fn a_sqlite_set_naming_another_path_restores_nowhere_without_to() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "app.db", 0.01);
    let out = expect(dir, &["backup", "app.db", "--out", "bk", "--quiet"], 0);
    let set = dir.join(out.trim());
    let elsewhere = dir.join("victim/.ssh/authorized_keys");
    edit_manifest(&set, |m| {
        m["databases"][0]["source"] = elsewhere.display().to_string().into()
    });
    let out = run(
        dir,
        &["restore", set.to_str().unwrap(), "--force", "--no-safety-backup"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pass --to"), "{}", text(&out));
    assert!(!dir.join("victim").exists(), "the set chose where to write");
    // With --to, the user's target is used and the manifest's only shown.
    let out = run(dir, &["restore", set.to_str().unwrap(), "--to", "mine.db"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(dir.join("mine.db").exists());
    assert!(!dir.join("victim").exists());
}

#[test]
fn a_postgres_set_naming_another_host_receives_no_password() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let set = pg_set(
        dir,
        "host_src",
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);",
    );
    let listener = Listener::start();
    let evil = format!(
        "postgresql://postgres@127.0.0.1:{}/host_src?sslmode=disable",
        listener.port
    );
    edit_manifest(&set, |m| m["databases"][0]["source"] = evil.clone().into());
    let with_password = |args: &[&str]| lifeboat(dir).env("PGPASSWORD", PASSWORD).args(args).output().unwrap();
    let out = with_password(&["restore", set.to_str().unwrap(), "--force", "--no-safety-backup"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pass --to"), "{}", text(&out));

    let out = with_password(&[
        "verify",
        set.to_str().unwrap(),
        "--level",
        "restore",
        "--scratch",
        "server",
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("--source"), "{}", text(&out));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(listener.connections(), 0, "lifeboat connected to the host a set named");
    assert!(!listener.saw(PASSWORD));
}
