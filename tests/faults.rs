//! Runs that overlap, and input that used to panic: the real binary on
//! SQLite files, many copies at once.

mod common;

use common::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Runs `n` backups of one set name into one directory at once; returns
/// the sets of the runs that exited 0, after checking the others failed
/// with a message rather than a crash.
fn concurrent_backups(dir: &Path, n: usize) -> Vec<PathBuf> {
    let children: Vec<_> = (0..n)
        .map(|_| {
            lifeboat(dir)
                .args(["backup", "sqlite:app.db", "--out", "bk", "--name", "app", "--quiet"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut sets = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(0) => sets.push(dir.join(String::from_utf8_lossy(&out.stdout).trim())),
            Some(1) => assert!(text(&out).contains("another lifeboat backup"), "{}", text(&out)),
            other => panic!("backup exited {other:?}: {}", text(&out)),
        }
    }
    sets
}

#[test]
fn concurrent_backups_of_one_name_never_share_files() {
    let dir = tmp();
    agent_db(dir.path(), "app.db", 0.02);
    let mut all = HashSet::new();
    for (n, rounds) in [(2, 4), (8, 4)] {
        for _ in 0..rounds {
            let sets = concurrent_backups(dir.path(), n);
            assert!(!sets.is_empty(), "no backup of {n} succeeded");
            for set in &sets {
                assert!(all.insert(set.clone()), "two runs named the same set {}", set.display());
                expect(dir.path(), &["verify", set.to_str().unwrap(), "--quiet"], 0);
            }
        }
    }
    // Nothing half-done is left: only sets, their sidecars and records.
    for entry in std::fs::read_dir(dir.path().join("bk")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            name.ends_with(".tar")
                || name.ends_with(".sha256")
                || name.ends_with(".verified.json")
                || name == ".app.lifeboat-lock",
            "left behind: {name}"
        );
    }
}

#[test]
fn a_second_restore_into_one_sqlite_file_refuses_while_the_first_runs() {
    let dir = tmp();
    let db = agent_db(dir.path(), "app.db", 0.02);
    let set = expect(dir.path(), &["backup", "sqlite:app.db", "--out", "bk", "--quiet"], 0);
    // Another restore holds the target's lock: flock(1) stands in for it.
    let lock = dir.path().join(".app.db.lifeboat-restore-lock");
    // -o: the lock stays with flock itself, so killing it lets go.
    let mut holder = std::process::Command::new("flock")
        .arg("-o")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    let mut tries = 0;
    while !lock.exists() && tries < 100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        tries += 1;
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    sqlite(&db, "CREATE TABLE after_backup(x); INSERT INTO after_backup VALUES (1)");
    let before = dump(&db);
    let out = run(dir.path(), &["restore", set.trim(), "--to", "sqlite:app.db", "--force"]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("another lifeboat restore"), "{}", text(&out));
    assert_eq!(dump(&db), before, "the refused restore changed the database");
    // Once the other lets go, the restore runs.
    expect(
        dir.path(),
        &[
            "restore",
            set.trim(),
            "--to",
            "sqlite:app.db",
            "--force",
            "--no-safety-backup",
        ],
        0,
    );
}

#[test]
fn a_closed_pipe_ends_list_quietly() {
    let dir = tmp();
    std::fs::create_dir(dir.path().join("bk")).unwrap();
    // Enough sets that the listing outgrows the pipe's buffer.
    for i in 0..1500 {
        let day = 1 + i % 28;
        let (h, m) = (i / 60 % 24, i % 60);
        std::fs::write(
            dir.path().join(format!(
                "bk/some-long-set-name-for-the-listing-20250{}{day:02}T{h:02}{m:02}00Z.tar",
                1 + i / 1400
            )),
            b"",
        )
        .unwrap();
    }
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' list bk 2>err.txt | head -1",
            bin().display()
        ))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = std::fs::read_to_string(dir.path().join("err.txt")).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{err}", text(&out));
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
fn odd_input_is_an_error_not_a_panic() {
    let dir = tmp();
    agent_db(dir.path(), "app.db", 0.02);
    // A percent sign followed by a multi-byte character in a URL value.
    let out = run(
        dir.path(),
        &[
            "backup",
            "postgresql://u@127.0.0.1:1/db?sslmode=disable&sslrootcert=%aé",
            "--out",
            "bk",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));

    // A span too long for the calendar.
    let out = run(dir.path(), &["prune", "bk", "--keep-within", "1000000y"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("too long"), "{}", text(&out));

    // Non-ASCII names of .tar files beside real sets break nothing.
    let set = expect(dir.path(), &["backup", "sqlite:app.db", "--out", "bk", "--quiet"], 0);
    for odd in ["app-20261122T030405é.tar", "é-x.tar", "ünïcode-20200101T000000Z.tar"] {
        std::fs::write(dir.path().join("bk").join(odd), b"").unwrap();
    }
    let listed = expect(dir.path(), &["list", "bk"], 0);
    assert!(
        listed.contains(Path::new(set.trim()).file_name().unwrap().to_str().unwrap()),
        "{listed}"
    );
    expect(dir.path(), &["restore", "--latest", "bk", "--to", "sqlite:copy.db"], 0);
    expect(dir.path(), &["prune", "bk", "--keep-last", "1", "--dry-run"], 0);

    // A manifest whose member hash is short.
    let set = dir.path().join(set.trim());
    let mut members = read_members(&set);
    let mut manifest: serde_json::Value = serde_json::from_slice(&members[0].1).unwrap();
    manifest["databases"][0]["members"][0]["sha256"] = serde_json::json!("ab");
    members[0].1 = serde_json::to_vec(&manifest).unwrap();
    write_set(&set, &members);
    for args in [
        vec!["info", set.to_str().unwrap()],
        vec!["verify", set.to_str().unwrap()],
    ] {
        let out = run(dir.path(), &args);
        assert!(matches!(out.status.code(), Some(0..=3)), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains("panicked"), "{args:?}: {}", text(&out));
    }
}

#[test]
fn prune_never_keeps_a_failed_set_in_place_of_intact_ones_and_records_are_tied_to_their_set() {
    let dir = tmp();
    let db = agent_db(dir.path(), "app.db", 0.02);
    let mut sets = Vec::new();
    for i in 0..3 {
        sqlite(&db, &format!("CREATE TABLE t{i}(x)"));
        let set = expect(dir.path(), &["backup", "sqlite:app.db", "--out", "bk", "--quiet"], 0);
        sets.push(dir.path().join(set.trim()));
    }
    // A record copied from another set is not this set's record.
    let record = |p: &Path| PathBuf::from(format!("{}.verified.json", p.display()));
    expect(dir.path(), &["verify", sets[0].to_str().unwrap(), "--quiet"], 0);
    std::fs::copy(record(&sets[0]), record(&sets[1])).unwrap();
    let listed: serde_json::Value = serde_json::from_str(&expect(dir.path(), &["list", "bk", "--json"], 0)).unwrap();
    let verified = |name: &Path| {
        listed
            .as_array()
            .or_else(|| listed["sets"].as_array())
            .unwrap()
            .iter()
            .find(|s| {
                s["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(name.file_name().unwrap().to_str().unwrap()))
            })
            .map(|s| s["verified"].clone())
            .unwrap()
    };
    assert!(verified(&sets[0]).is_object(), "{listed}");
    assert!(verified(&sets[1]).is_null(), "a copied record was trusted: {listed}");

    // The newest set is damaged and fails verification.
    let mut bytes = std::fs::read(&sets[2]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&sets[2], bytes).unwrap();
    expect(dir.path(), &["verify", sets[2].to_str().unwrap(), "--quiet"], 3);
    std::fs::remove_file(record(&sets[1])).unwrap();
    expect(dir.path(), &["prune", "bk", "--keep-last", "1"], 0);
    assert!(!sets[2].exists(), "the failed set was kept");
    assert!(sets[1].exists(), "the newest intact set was removed");
    assert!(sets[0].exists(), "the newest verified set was removed");
}

#[test]
fn restoring_sqlite_under_a_live_application_loses_no_commit_it_saw_succeed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let dir = tmp();
    let d = dir.path().to_path_buf();
    let db = agent_db(&d, "app.db", 0.4);
    sqlite(&db, "CREATE TABLE app_log (i INTEGER PRIMARY KEY)");
    let set = expect(&d, &["backup", "sqlite:app.db", "--out", "bk", "--quiet"], 0);
    let restored_rows = sqlite(&db, "SELECT count(*) FROM AgentQuery");
    // What the set does not hold, so the restore visibly changes the data.
    sqlite(&db, "DELETE FROM AgentQuery WHERE id % 2 = 0");

    // The application: one long-lived connection committing in a loop.
    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<(i64, bool, Instant)>>> = Arc::default();
    let app = {
        let (stop, log, db) = (stop.clone(), log.clone(), db.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            let mut i = 0i64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let ok = conn.execute("INSERT INTO app_log (i) VALUES (?1)", [i]).is_ok();
                log.lock().unwrap().push((i, ok, Instant::now()));
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let out = lifeboat(&d)
        .args([
            "restore",
            set.trim(),
            "--to",
            "sqlite:app.db",
            "--force",
            "--no-safety-backup",
        ])
        .output()
        .unwrap();
    let finished = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    app.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let log = log.lock().unwrap();
    let after: Vec<i64> = log
        .iter()
        .filter(|(_, ok, at)| *ok && *at > finished)
        .map(|(i, _, _)| *i)
        .collect();
    assert!(!after.is_empty(), "the application committed nothing after the restore");
    let present: HashSet<i64> = sqlite(&db, "SELECT i FROM app_log")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let lost: Vec<&i64> = after.iter().filter(|i| !present.contains(i)).collect();
    assert!(
        lost.is_empty(),
        "commits reported as successful after the restore were lost: {lost:?}"
    );
    assert_eq!(
        sqlite(&db, "SELECT count(*) FROM AgentQuery"),
        restored_rows,
        "the restored rows are there"
    );
    assert_eq!(sqlite(&db, "PRAGMA integrity_check"), "ok");
}

/// Found by fuzzing the URL parser: a password with an unencoded `@` (or
/// `/`) was split by the driver at its first `@`, and the rest of the
/// password became the host and the database name: printed in every
/// message, made the set's name, and looked up in DNS. Now the URL is
/// refused, saying how to encode it, and no piece of the password is shown.
#[test]
fn a_password_the_driver_would_split_is_refused_and_never_printed() {
    let dir = tmp();
    for (url, secret) in [
        ("postgres://app:p@ssw0rd@127.0.0.1:1/db", "ssw0rd"),
        ("postgres://app:p@ss/w0rd@127.0.0.1:1/db", "w0rd"),
    ] {
        for args in [vec!["backup", url, "--out", "bk"], vec!["compare", "none.tar", url]] {
            let out = lifeboat(dir.path())
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_STEP_SUMMARY", dir.path().join("summary.md"))
                .args(&args)
                .output()
                .unwrap();
            let all = format!(
                "{}{}",
                text(&out),
                std::fs::read_to_string(dir.path().join("summary.md")).unwrap_or_default()
            );
            assert!(matches!(out.status.code(), Some(1) | Some(2)), "{args:?}: {all}");
            // Masking the password in Actions is the one place it may go.
            let shown: Vec<&str> = all.lines().filter(|l| !l.starts_with("::add-mask::")).collect();
            assert!(
                !shown.iter().any(|l| l.contains(secret)),
                "{args:?} printed a piece of the password: {all}"
            );
            assert!(
                all.contains("percent-encode") || args[0] == "compare",
                "{args:?}: {all}"
            );
        }
    }
    assert!(!dir.path().join("bk").exists(), "a set was started");
}
