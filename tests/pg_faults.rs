//! PostgreSQL under concurrency: DDL during backups, two restores into one
//! database, and the --create-db swap with other sessions about. Real
//! server, real binary; every wait in here is bounded.

mod common;

use common::pg::{Cluster, cluster};
use common::*;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Waits for a child at most `limit`; a run still going then is killed and
/// the test fails, so no hang outlives the test.
fn wait_bounded(child: Child, limit: Duration, what: &str) -> Output {
    let mut child = child;
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{what} still ran after {limit:?} (killed): {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A database with one large-ish table (so a backup takes a moment) and
/// a few small ones, made once and copied per case.
fn template(c: &Cluster) -> &'static str {
    static MADE: std::sync::Once = std::sync::Once::new();
    MADE.call_once(|| {
        c.createdb("ddl_tpl");
        c.psql(
            "ddl_tpl",
            "CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL); \
             INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 40000) g; \
             CREATE TABLE medium (id int PRIMARY KEY, v text); INSERT INTO medium SELECT g, md5(g::text) FROM generate_series(1, 20000) g; \
             CREATE TABLE small_a (id int PRIMARY KEY, v text); INSERT INTO small_a SELECT g, 'a' FROM generate_series(1, 50) g; \
             CREATE TABLE small_b (id int PRIMARY KEY, v text); INSERT INTO small_b SELECT g, 'b' FROM generate_series(1, 50) g;",
        );
    });
    "ddl_tpl"
}

fn copy_of_template(c: &Cluster, db: &str) {
    let tpl = template(c);
    c.psql("postgres", &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"));
    c.psql("postgres", &format!("CREATE DATABASE \"{db}\" TEMPLATE {tpl}"));
}

#[test]
fn ddl_during_backups_never_hangs_them() {
    let c = cluster();
    let dir = tmp();
    let ddls = [
        ("alter", "ALTER TABLE small_b ADD COLUMN extra int"),
        ("drop", "DROP TABLE small_a"),
        ("index", "CREATE INDEX ON big (payload)"),
        ("alter-big", "ALTER TABLE big ADD COLUMN extra int"),
    ];
    let mut outcomes = Vec::new();
    for jobs in ["1", "2", "4"] {
        for (kind, ddl) in ddls {
            // One connection cannot deadlock with itself, and --jobs 4 takes
            // the same paths as 2: fewer cases there.
            let delays: &[u64] = if jobs == "2" && kind == "alter-big" {
                &[0, 250]
            } else {
                &[250]
            };
            if jobs != "2" && !matches!(kind, "alter-big" | "drop") {
                continue;
            }
            for &delay_ms in delays {
                let case_started = Instant::now();
                let db = format!("ddl_{kind}_{jobs}_{delay_ms}").replace('-', "_");
                copy_of_template(c, &db);
                let backup = lifeboat(dir.path())
                    .args([
                        "backup",
                        &c.url(&db),
                        "--out",
                        "bk",
                        "--quiet",
                        "--jobs",
                        jobs,
                        "--lock-wait-timeout",
                        "5s",
                    ])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                std::thread::sleep(Duration::from_millis(delay_ms));
                let ddl_session = c.psql_background(&db, ddl);
                let out = wait_bounded(
                    backup,
                    Duration::from_secs(60),
                    &format!("backup --jobs {jobs} with {kind}"),
                );
                // The DDL gets its turn once the backup ends, one way or the other.
                let ddl_out = wait_bounded(ddl_session, Duration::from_secs(30), &format!("{kind} during a backup"));
                assert!(ddl_out.status.success(), "{kind}: {}", text(&ddl_out));
                match out.status.code() {
                    Some(0) => {
                        let set = dir.path().join(String::from_utf8_lossy(&out.stdout).trim());
                        let target = format!("{db}_restored");
                        c.createdb(&target);
                        expect(
                            dir.path(),
                            &["restore", set.to_str().unwrap(), "--to", &c.url(&target), "--quiet"],
                            0,
                        );
                        assert_eq!(c.psql(&target, "SELECT count(*) FROM big"), "40000");
                        outcomes.push(format!("{jobs}/{kind}/{delay_ms}: ok in {:?}", case_started.elapsed()));
                    }
                    Some(1) => {
                        let t = text(&out);
                        assert!(
                            t.contains("lock") && (t.contains("public.") || t.contains("table")),
                            "--jobs {jobs} {kind}: a failure names the lock and the table: {t}"
                        );
                        outcomes.push(format!(
                            "{jobs}/{kind}/{delay_ms}: refused in {:?}: {t}",
                            case_started.elapsed()
                        ));
                    }
                    other => panic!("--jobs {jobs} {kind}: exit {other:?}: {}", text(&out)),
                }
                c.psql("postgres", &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"));
                c.psql(
                    "postgres",
                    &format!("DROP DATABASE IF EXISTS \"{db}_restored\" WITH (FORCE)"),
                );
            }
        }
    }
    eprintln!("{}", outcomes.join("\n"));
}

#[test]
fn a_lock_held_before_the_backup_fails_it_naming_table_and_session() {
    let c = cluster();
    let dir = tmp();
    copy_of_template(c, "held_lock");
    let holder = c.psql_background(
        "held_lock",
        "BEGIN; LOCK TABLE small_b IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(20); COMMIT;",
    );
    // The holder has its lock once pg_locks shows it.
    let started = Instant::now();
    while c.psql(
        "held_lock",
        "SELECT count(*) FROM pg_locks WHERE relation = 'small_b'::regclass AND mode = 'AccessExclusiveLock' AND granted",
    ) != "1"
    {
        assert!(started.elapsed() < Duration::from_secs(10), "the lock holder did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    for jobs in ["1", "2"] {
        let backup = lifeboat(dir.path())
            .args([
                "backup",
                &c.url("held_lock"),
                "--out",
                "bk",
                "--jobs",
                jobs,
                "--lock-wait-timeout",
                "1s",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_bounded(backup, Duration::from_secs(30), "backup against a held lock");
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let t = text(&out);
        assert!(t.contains("public.small_b"), "names the table: {t}");
        assert!(t.contains("holds AccessExclusiveLock"), "names the holder: {t}");
        assert!(t.contains("--lock-wait-timeout"), "says what to do: {t}");
    }
    let mut holder = holder;
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(!dir.path().join("bk").exists() || std::fs::read_dir(dir.path().join("bk")).unwrap().next().is_none());
}

#[test]
fn a_second_restore_into_one_database_refuses() {
    let c = cluster();
    let dir = tmp();
    copy_of_template(c, "rl_src");
    let set = expect(dir.path(), &["backup", &c.url("rl_src"), "--out", "bk", "--quiet"], 0);
    c.createdb("rl_dst");
    // Another restore holds the lock a restore of rl_dst takes.
    let holder = c.psql_background(
        "postgres",
        "SELECT pg_advisory_lock(hashtext('lifeboat restore'), hashtext('rl_dst')); SELECT pg_sleep(20);",
    );
    let started = Instant::now();
    while c.psql(
        "postgres",
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
    ) == "0"
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the lock holder did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let to = c.url("rl_dst");
    for extra in [&[][..], &["--create-db"][..]] {
        let mut args = vec!["restore", set.trim(), "--to", &to, "--force", "--no-safety-backup"];
        args.extend_from_slice(extra);
        let out = run(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out));
        assert!(
            text(&out).contains("another restore into database rl_dst"),
            "{}",
            text(&out)
        );
        assert_eq!(
            c.psql("rl_dst", "SELECT count(*) FROM pg_class WHERE relname = 'big'"),
            "0"
        );
    }
    let mut holder = holder;
    let _ = holder.kill();
    let _ = holder.wait();
}

/// What the target holds: "old", "restored", or a description of anything
/// else (a half-done database, or none at all).
fn holds(c: &Cluster, db: &str) -> String {
    let exists = c.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
    );
    if exists != "1" {
        return "no database".into();
    }
    let marker = c.psql(
        db,
        "SELECT coalesce((SELECT string_agg(relname, ',') FROM pg_class WHERE relname IN ('old_marker', 'big')), '')",
    );
    match marker.as_str() {
        "old_marker" => "old".into(),
        "big"
            if c.psql(db, "SELECT count(*) FROM big") == "40000"
                && c.psql(db, "SELECT count(*) FROM small_b") == "50" =>
        {
            "restored".into()
        }
        other => format!("something else: {other}"),
    }
}

/// Databases a restore into swap_dst left (only this test's: others restore
/// into existing databases beside them on the same cluster at the same time).
fn leftovers(c: &Cluster) -> String {
    c.psql(
        "postgres",
        "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'swap\\_dst\\_lifeboat%'",
    )
}

#[test]
fn the_create_db_swap_never_loses_the_target() {
    let c = cluster();
    let dir = tmp();
    copy_of_template(c, "swap_src");
    let set = expect(dir.path(), &["backup", &c.url("swap_src"), "--out", "bk", "--quiet"], 0);
    let set = set.trim();
    let reset = || {
        c.createdb("swap_dst");
        c.psql(
            "swap_dst",
            "CREATE TABLE old_marker (x int); INSERT INTO old_marker VALUES (1)",
        );
    };
    let to = c.url("swap_dst");

    // A session on the target: named, and nothing changes.
    reset();
    let session = c.psql_background("swap_dst", "SELECT pg_sleep(30)");
    let started = Instant::now();
    while c.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'swap_dst'",
    ) == "0"
    {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = run(
        dir.path(),
        &[
            "restore",
            set,
            "--to",
            &to,
            "--create-db",
            "--force",
            "--no-safety-backup",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("connected to swap_dst") && text(&out).contains("pid "),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("--terminate-connections"), "{}", text(&out));
    assert_eq!(holds(c, "swap_dst"), "old");
    assert_eq!(leftovers(c), "");

    // The same with --terminate-connections: the session ends, the swap happens.
    let out = run(
        dir.path(),
        &[
            "restore",
            set,
            "--to",
            &to,
            "--create-db",
            "--force",
            "--no-safety-backup",
            "--terminate-connections",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let session_out = wait_bounded(session, Duration::from_secs(10), "the terminated session");
    assert!(!session_out.status.success(), "the session on the target was not ended");
    assert_eq!(holds(c, "swap_dst"), "restored");
    assert_eq!(leftovers(c), "");

    // A session on the new database while it is being filled: the rename
    // into place fails, and the old database is put back.
    reset();
    let restore = lifeboat(dir.path())
        .args(["restore", set, "--to", &to, "--create-db", "--force"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut intruder = None;
    while started.elapsed() < Duration::from_secs(30) {
        let temp = c.psql(
            "postgres",
            "SELECT coalesce(string_agg(datname, ','), '') FROM pg_database WHERE datname LIKE 'swap_dst_lifeboat_restore_%'",
        );
        if !temp.is_empty() {
            intruder = Some(c.psql_background(&temp, "SELECT pg_sleep(30)"));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = wait_bounded(
        restore,
        Duration::from_secs(60),
        "restore --create-db with a session on the new database",
    );
    let state = holds(c, "swap_dst");
    match out.status.code() {
        // The intruder got in before the swap: the old database is back.
        Some(1) => {
            assert_eq!(state, "old", "{}", text(&out));
            assert!(text(&out).contains("put back as it was"), "{}", text(&out));
        }
        // The restore finished first (or the intruder was too late).
        Some(0) => assert_eq!(state, "restored"),
        other => panic!("exit {other:?}: {}", text(&out)),
    }
    if let Some(mut i) = intruder {
        let _ = i.kill();
        let _ = i.wait();
    }
    let started = Instant::now();
    while !leftovers(c).is_empty() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(leftovers(c), "", "databases left behind");

    // A swap killed between its two renames leaves the target's data under
    // <db>_lifeboat_old_<pid> and no <db>: the next restore gives the name
    // back before anything else.
    reset();
    c.psql(
        "postgres",
        "ALTER DATABASE swap_dst RENAME TO swap_dst_lifeboat_old_4242",
    );
    let out = run(
        dir.path(),
        &[
            "restore",
            set,
            "--to",
            &to,
            "--create-db",
            "--force",
            "--no-safety-backup",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("renamed back to swap_dst"), "{}", text(&out));
    assert_eq!(holds(c, "swap_dst"), "restored");
    assert_eq!(leftovers(c), "");
}
