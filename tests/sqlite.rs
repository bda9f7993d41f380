//! SQLite end to end with the real binary, sqlite3, tar and sha256sum.

mod common;

use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[test]
fn round_trip_has_identical_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.02);
    let path = expect(dir, &["backup", "agent.db", "--out", "bk"], 0);
    let set = dir.join(path.trim());
    assert!(set.is_file(), "backup prints the set path: {path}");
    assert_eq!(set, only_set(&dir.join("bk")));

    expect(dir, &["restore", set.to_str().unwrap(), "--to", "restored.db"], 0);
    let restored = dir.join("restored.db");
    assert_eq!(dump(&db), dump(&restored));
    assert_eq!(sqlite(&restored, "PRAGMA user_version"), "7");
    assert_eq!(sqlite(&restored, "PRAGMA journal_mode"), "wal");
    assert_eq!(sqlite(&restored, "PRAGMA integrity_check"), "ok");
}

#[test]
fn set_is_checkable_and_unpackable_with_stock_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.02);
    expect(dir, &["backup", "agent.db", "--out", "bk", "--label", "nightly"], 0);
    let set = only_set(&dir.join("bk"));
    let name = set.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("agent-") && name.ends_with("-nightly.tar"), "{name}");

    let checked = sh(&dir.join("bk"), &format!("sha256sum -c '{name}.sha256'"));
    assert!(checked.contains(": OK"), "{checked}");
    let listing = sh(dir, &format!("tar -tf 'bk/{name}'"));
    let first = listing.lines().next().unwrap();
    assert_eq!(first, "manifest.json");
    assert!(listing.contains("RESTORE.md"));

    sh(
        dir,
        &format!("tar -xOf 'bk/{name}' agent/agent.db.gz | gunzip > unpacked.db"),
    );
    let unpacked = dir.join("unpacked.db");
    assert_eq!(sqlite(&unpacked, "PRAGMA integrity_check"), "ok");
    assert_eq!(dump(&unpacked), dump(&db));

    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&set), 0o600);
    assert_eq!(mode(&dir.join("bk")), 0o700);
}

#[test]
fn backup_while_another_process_writes_is_one_committed_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let db = agent_db(&dir, "busy.db", 0.1);
    sqlite(
        &db,
        "CREATE TABLE ledger(id INTEGER PRIMARY KEY, batch INTEGER, pad TEXT)",
    );

    const PER_TXN: u64 = 10;
    let committed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, committed, stop) = (db.clone(), committed.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut conn = rusqlite::Connection::open(&db).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            let mut batch = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let tx = conn.transaction().unwrap();
                for _ in 0..PER_TXN {
                    tx.execute(
                        "INSERT INTO ledger(batch, pad) VALUES (?1, hex(randomblob(64)))",
                        [batch as i64],
                    )
                    .unwrap();
                }
                tx.commit().unwrap();
                batch += 1;
                committed.store(batch * PER_TXN, Ordering::SeqCst);
            }
        })
    };
    while committed.load(Ordering::SeqCst) < 200 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let before = committed.load(Ordering::SeqCst);
    let out = run(&dir, &["backup", "busy.db", "--out", "bk"]);
    let after = committed.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        after > before,
        "the writer kept writing during the backup ({before} -> {after})"
    );

    let set = only_set(&dir.join("bk"));
    expect(&dir, &["restore", set.to_str().unwrap(), "--to", "copy.db"], 0);
    let copy = dir.join("copy.db");
    assert_eq!(sqlite(&copy, "PRAGMA integrity_check"), "ok");
    let rows: u64 = sqlite(&copy, "SELECT count(*) FROM ledger").parse().unwrap();
    assert_eq!(rows % PER_TXN, 0, "a partial transaction was captured: {rows} rows");
    assert!(
        rows >= before && rows <= after,
        "{rows} rows is not a state the writer committed between {before} and {after}"
    );
    let batches: u64 = sqlite(&copy, "SELECT count(DISTINCT batch) FROM ledger")
        .parse()
        .unwrap();
    assert_eq!(batches * PER_TXN, rows);
}

#[test]
fn config_file_globs_and_several_databases_in_one_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join(".agentic-qe")).unwrap();
    for name in ["memory", "swarm"] {
        let db = dir.join(".agentic-qe").join(format!("{name}.db"));
        sqlite(
            &db,
            &format!("CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('{name}');"),
        );
    }
    let other = dir.join("app.sqlite");
    sqlite(
        &other,
        "CREATE TABLE alembic_version(version_num TEXT); INSERT INTO alembic_version VALUES ('3f2a1c');",
    );
    std::fs::write(
        dir.join("lifeboat.toml"),
        r#"
name = "fleet"
out = "sets"
compression = "zstd"

[[databases]]
url = "sqlite:.agentic-qe/*.db"

[[databases]]
name = "main"
url = "app.sqlite"
"#,
    )
    .unwrap();
    let json = expect(dir, &["backup", "--json"], 0);
    let summary: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(summary["set"], "fleet");
    let names: Vec<&str> = summary["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["memory", "swarm", "main"]);
    assert_eq!(summary["databases"][2]["migration"], "alembic_version 3f2a1c");
    let set = only_set(&dir.join("sets"));
    assert!(set.file_name().unwrap().to_string_lossy().starts_with("fleet-"));

    let info: serde_json::Value =
        serde_json::from_str(&expect(dir, &["info", set.to_str().unwrap(), "--json"], 0)).unwrap();
    assert_eq!(info["compression"], "zstd");
    assert_eq!(info["databases"][2]["migration"]["revision"], "3f2a1c");

    // Several databases and one --to: the user must say which.
    let out = run(dir, &["restore", set.to_str().unwrap(), "--to", "x.db"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--database"), "{}", text(&out));
    expect(
        dir,
        &[
            "restore",
            set.to_str().unwrap(),
            "--database",
            "swarm",
            "--to",
            "swarm-copy.db",
        ],
        0,
    );
    assert_eq!(sqlite(&dir.join("swarm-copy.db"), "SELECT x FROM t"), "swarm");
}

#[test]
fn restore_in_place_keeps_a_safety_backup_and_refuses_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.01);
    let original = dump(&db);
    expect(dir, &["backup", "agent.db", "--out", "bk"], 0);
    sqlite(&db, "DELETE FROM AgentQuery WHERE id % 2 = 0");
    let damaged = dump(&db);

    // The set does not choose its target: without --to or a configured
    // database of its name, nothing is restored.
    let out = run(dir, &["restore", "--latest", "bk", "--force"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pass --to"), "{}", text(&out));
    assert_eq!(dump(&db), damaged);

    // The database configured under the set's name is the target. No
    // terminal and no --force: refused, nothing changed.
    let configured = |args: &[&str]| {
        lifeboat(dir)
            .env("LIFEBOAT_DATABASES", "agent.db")
            .args(args)
            .output()
            .unwrap()
    };
    let out = configured(&["restore", "--latest", "bk"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--force"));
    assert_eq!(dump(&db), damaged);

    let out = configured(&["restore", "--latest", "bk", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.contains("safety backup"), "{out}");
    assert_eq!(dump(&db), original);
    assert!(!dir.join("agent.db-wal").exists() || sqlite(&db, "PRAGMA integrity_check") == "ok");

    // The safety backup holds the damaged state and restores it.
    let safety = only_set(&dir.join("bk/safety"));
    let info: serde_json::Value =
        serde_json::from_str(&expect(dir, &["info", safety.to_str().unwrap(), "--json"], 0)).unwrap();
    assert_eq!(info["kind"], "safety");
    expect(dir, &["restore", safety.to_str().unwrap(), "--to", "before.db"], 0);
    assert_eq!(dump(&dir.join("before.db")), damaged);
    // --latest in the main directory still means the real backup.
    let listed = expect(dir, &["list", "bk"], 0);
    assert_eq!(listed.lines().count(), 2, "{listed}");
}

#[test]
fn compare_names_what_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.01);
    let set = expect(dir, &["backup", "agent.db", "--out", "bk"], 0);
    let set = set.trim();
    let same = expect(dir, &["compare", set, "agent.db"], 0);
    assert!(same.contains("matches"), "{same}");
    sqlite(
        &db,
        "UPDATE AgentQuery SET latency_ms = 0 WHERE id = 3; DELETE FROM AgentFeedback WHERE id = 1; CREATE TABLE extra(x); CREATE INDEX fb_rating ON AgentFeedback(rating);",
    );
    let json = expect(dir, &["compare", set, "agent.db", "--json"], 3);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let diffs: Vec<(String, String)> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["object"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        ("content", "AgentQuery"),
        ("rows", "AgentFeedback"),
        ("table-only-live", "extra"),
        ("schema-object", "index fb_rating"),
        ("schema-object", "table extra"),
    ] {
        assert!(
            diffs.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} missing from {diffs:?}"
        );
    }
}

#[test]
fn compression_choices_and_log_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.01);
    for (compression, member) in [("zstd", "agent/agent.db.zst"), ("none", "agent/agent.db")] {
        let out_dir = format!("bk-{compression}");
        let set = expect(
            dir,
            &[
                "backup",
                "agent.db",
                "--out",
                &out_dir,
                "--compression",
                compression,
                "--log-file",
                "lifeboat.log",
                "--quiet",
            ],
            0,
        );
        let members: Vec<String> = read_members(&dir.join(set.trim()))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(members, ["manifest.json", "RESTORE.md", member]);
        expect(dir, &["verify", set.trim()], 0);
        let to = format!("{compression}.db");
        expect(dir, &["restore", set.trim(), "--to", &to, "--quiet"], 0);
        assert_eq!(dump(&dir.join(&to)), dump(&db));
    }
    let log = std::fs::read_to_string(dir.join("lifeboat.log")).unwrap();
    assert_eq!(log.matches("wrote bk-").count(), 2, "{log}");

    // LIFEBOAT_* variables mirror the flags.
    let out = lifeboat(dir)
        .args(["backup", "agent.db"])
        .env("LIFEBOAT_OUT", "from-env")
        .env("LIFEBOAT_LABEL", "env")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(only_set(&dir.join("from-env")).to_string_lossy().ends_with("-env.tar"));

    let out = run(dir, &["backup", "agent.db", "--compression", "lz4"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = run(dir, &["backup", "agent.db", "--label", "../x"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn a_manifest_larger_than_its_room_still_comes_first_and_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = dir.join("wide.db");
    // Hundreds of tables: the manifest outgrows the room kept before the
    // member, which is moved up once to make space.
    let mut sql = String::from("BEGIN;");
    for i in 0..400 {
        sql.push_str(&format!(
            "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, note TEXT); INSERT INTO t{i} VALUES ({i}, 'row of table {i}');"
        ));
    }
    sql.push_str("COMMIT;");
    sqlite(&db, &sql);
    expect(dir, &["backup", "wide.db", "--out", "bk"], 0);
    let set = only_set(&dir.join("bk"));
    let name = set.file_name().unwrap().to_string_lossy().into_owned();
    assert!(sh(&dir.join("bk"), &format!("sha256sum -c '{name}.sha256'")).contains(": OK"));
    let (first, manifest) = read_members(&set).swap_remove(0);
    assert_eq!(first, "manifest.json");
    assert!(manifest.len() > 16 << 10, "{} bytes", manifest.len());
    let parsed: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest.json is JSON");
    assert_eq!(parsed["databases"][0]["tables"].as_array().unwrap().len(), 400);
    assert_eq!(
        sh(dir, &format!("tar -tf 'bk/{name}'")).lines().next(),
        Some("manifest.json")
    );
    sh(
        dir,
        &format!("tar -xOf 'bk/{name}' wide/wide.db.gz | gunzip > unpacked.db"),
    );
    assert_eq!(dump(&dir.join("unpacked.db")), dump(&db));
    expect(dir, &["verify", set.to_str().unwrap(), "--quiet"], 0);
    expect(
        dir,
        &["restore", set.to_str().unwrap(), "--to", "restored.db", "--quiet"],
        0,
    );
    assert_eq!(dump(&dir.join("restored.db")), dump(&db));
}

/// A database file built to pass every checksum and to open cleanly, but
/// whose index disagrees with its table (which `quick_check` does not
/// look at), is refused by the restore's `integrity_check`: the target
/// stays as it was, no safety backup is taken and no unpacked copy is left.
#[test]
fn a_crafted_file_whose_index_disagrees_with_its_table_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "agent.db", 0.02);
    let set = dir.join(expect(dir, &["backup", "agent.db", "--out", "bk", "--quiet"], 0).trim());
    let crafted = dir.join("crafted.db");
    std::fs::write(&crafted, member_content(&set, "agent/agent.db.gz")).unwrap();
    // The index now claims another column: its entries no longer match.
    sqlite(
        &crafted,
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_schema SET sql = replace(sql, '(created_at)', '(latency_ms)') WHERE name = 'q_created';",
    );
    assert_eq!(sqlite(&crafted, "PRAGMA quick_check"), "ok");
    assert_ne!(sqlite(&crafted, "PRAGMA integrity_check"), "ok");
    replace_member(&set, "agent/agent.db.gz", &std::fs::read(&crafted).unwrap());

    let target = dir.join("target.db");
    std::fs::copy(dir.join("agent.db"), &target).unwrap();
    sqlite(&target, "DELETE FROM AgentQuery WHERE id > 10");
    let before = sha256(&target);
    let out = run(dir, &["restore", set.to_str().unwrap(), "--to", "target.db", "--force"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("integrity_check"), "{}", text(&out));
    assert_eq!(sha256(&target), before, "the target changed");
    assert!(
        !dir.join("bk/safety").exists(),
        "no safety backup for a refused restore"
    );
    let left: Vec<String> = names_in(dir)
        .into_iter()
        .filter(|n| n.contains("lifeboat-restore"))
        .collect();
    assert!(left.is_empty(), "unpacked copies left behind: {left:?}");
}
