//! SIGINT, SIGTERM and SIGKILL at several points of backup, restore and
//! verify: after SIGINT/SIGTERM nothing the run made is left and the exit
//! code is 130/143; after SIGKILL the next run removes what was left. All
//! waits are bounded.

mod common;

use common::pg::{Cluster, cluster};
use common::*;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    lifeboat(dir)
        .args(args)
        .env("TMPDIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn wait_bounded(mut child: Child, limit: Duration, what: &str) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{what} still ran {limit:?} after the signal (killed): {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `seen()` holds (the run reached the point to interrupt),
/// at most 60 s; false when the run ended first.
fn wait_for(child: &mut Child, mut seen: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if seen() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the run never reached the point to interrupt");
}

fn has_staging(dir: &Path) -> bool {
    names_in(dir).iter().any(|n| n.ends_with(".staging"))
}

const SIGNALS: [(i32, i32); 2] = [(libc::SIGINT, 130), (libc::SIGTERM, 143)];

#[test]
fn sqlite_backup_and_restore_stop_cleanly() {
    let dir = tmp();
    let d = dir.path();
    let db = agent_db(d, "app.db", 0.4);
    let set = expect(d, &["backup", "sqlite:app.db", "--out", "kept", "--quiet"], 0);
    let set = set.trim().to_string();
    let before = sha256(&db);
    for (sig, code) in SIGNALS {
        // Backup, stopped while it writes members.
        let mut child = spawn(d, &["backup", "sqlite:app.db", "--out", "bk"]);
        assert!(
            wait_for(&mut child, || has_staging(&d.join("bk"))),
            "the backup ended too soon"
        );
        signal(&child, sig);
        let out = wait_bounded(child, Duration::from_secs(30), "backup");
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        assert!(text(&out).contains("cancelled"), "{}", text(&out));
        assert_eq!(
            names_in(&d.join("bk")),
            Vec::<String>::new(),
            "left by the stopped backup"
        );

        // SQLite restore, stopped while it unpacks the hidden copy.
        let mut child = spawn(
            d,
            &[
                "restore",
                &set,
                "--to",
                "sqlite:app.db",
                "--force",
                "--no-safety-backup",
            ],
        );
        let hidden = || {
            names_in(d)
                .iter()
                .any(|n| n.contains(".lifeboat-restore-") && !n.ends_with("lock"))
        };
        assert!(wait_for(&mut child, hidden), "the restore ended too soon");
        signal(&child, sig);
        let out = wait_bounded(child, Duration::from_secs(30), "restore");
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        assert!(
            !names_in(d).iter().any(|n| n.contains("lifeboat-restore")),
            "left beside the target: {:?}",
            names_in(d)
        );
        assert_eq!(sha256(&db), before, "the stopped restore changed the target");
    }
}

#[test]
fn after_sigkill_the_next_run_removes_what_was_left() {
    let dir = tmp();
    let d = dir.path();
    agent_db(d, "app.db", 0.4);
    let kill_backup = || {
        let mut child = spawn(d, &["backup", "sqlite:app.db", "--out", "bk", "--name", "app"]);
        assert!(
            wait_for(&mut child, || has_staging(&d.join("bk"))),
            "the backup ended too soon"
        );
        signal(&child, libc::SIGKILL);
        child.wait().unwrap();
        assert!(has_staging(&d.join("bk")), "SIGKILL leaves the staging directory");
    };
    // A kill between the sidecar's rename and the tar's leaves an orphan.
    let orphan = |set: &str| {
        std::fs::write(
            d.join(format!("bk/{set}-20200101T000000Z.tar.sha256")),
            format!("0  {set}-20200101T000000Z.tar\n"),
        )
        .unwrap();
    };
    let left_over = || {
        names_in(&d.join("bk"))
            .into_iter()
            .filter(|n| n.ends_with(".staging") || n.contains("-2020"))
            .collect::<Vec<_>>()
    };

    // Any command on the directory removes what a killed run left, of
    // any set: here `list`, which only reads.
    kill_backup();
    orphan("app");
    orphan("other");
    expect(d, &["list", "bk"], 0);
    assert_eq!(left_over(), Vec::<String>::new());

    // The next backup of the set, likewise.
    kill_backup();
    orphan("app");
    let set = expect(
        d,
        &["backup", "sqlite:app.db", "--out", "bk", "--name", "app", "--quiet"],
        0,
    );
    assert_eq!(left_over(), Vec::<String>::new());

    // verify of a set in the directory, likewise.
    kill_backup();
    expect(d, &["verify", set.trim(), "--quiet"], 0);
    assert_eq!(left_over(), Vec::<String>::new());

    // prune removes orphan sidecars, and --dry-run only names them.
    orphan("other");
    let dry = expect(d, &["prune", "bk", "--keep-last", "5", "--dry-run"], 0);
    assert!(dry.contains("other-20200101T000000Z.tar.sha256"), "{dry}");
    assert_eq!(left_over(), vec!["other-20200101T000000Z.tar.sha256".to_string()]);
    expect(d, &["prune", "bk", "--keep-last", "5"], 0);
    let set_name = Path::new(set.trim())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        names_in(&d.join("bk")),
        vec![
            set_name.clone(),
            format!("{set_name}.sha256"),
            format!("{set_name}.verified.json"),
        ]
    );

    // A SQLite restore killed while it writes its hidden copy beside the
    // target: the next restore into that target removes the copy.
    std::fs::create_dir(d.join("out")).unwrap();
    let hidden = || {
        names_in(&d.join("out"))
            .into_iter()
            .filter(|n| n.starts_with(".copy.db.lifeboat-restore-") && !n.ends_with("-lock"))
            .collect::<Vec<_>>()
    };
    let mut child = spawn(d, &["restore", set.trim(), "--to", "out/copy.db"]);
    assert!(
        wait_for(&mut child, || !hidden().is_empty()),
        "the restore ended too soon"
    );
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    assert_eq!(hidden().len(), 1);
    expect(d, &["restore", set.trim(), "--to", "out/copy.db", "--force"], 0);
    assert_eq!(hidden(), Vec::<String>::new());
    assert_eq!(dump(&d.join("out/copy.db")), dump(&d.join("app.db")));
}

fn big_database(c: &Cluster, db: &str) {
    c.createdb(db);
    c.psql(
        db,
        "CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL); \
         INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 100000) g; \
         CREATE TABLE other (id int PRIMARY KEY); INSERT INTO other SELECT generate_series(1, 1000);",
    );
}

fn lifeboat_databases(c: &Cluster) -> String {
    c.psql(
        "postgres",
        "SELECT coalesce(string_agg(datname, ','), '') FROM pg_database WHERE datname LIKE '%lifeboat%'",
    )
}

#[test]
fn postgres_backup_restore_and_verify_stop_cleanly() {
    let c = cluster();
    let dir = tmp();
    let d = dir.path();
    big_database(c, "sig_src");
    let set = expect(d, &["backup", &c.url("sig_src"), "--out", "kept", "--quiet"], 0);
    let set = set.trim().to_string();
    c.createdb("sig_dst");
    c.psql("sig_dst", "CREATE TABLE old_marker (x int)");
    let (int, term) = ((libc::SIGINT, 130), (libc::SIGTERM, 143));
    for (jobs, (sig, code)) in [("1", int), ("2", term)] {
        let mut child = spawn(d, &["backup", &c.url("sig_src"), "--out", "bk", "--jobs", jobs]);
        assert!(
            wait_for(&mut child, || has_staging(&d.join("bk"))),
            "the backup ended too soon"
        );
        std::thread::sleep(Duration::from_millis(100));
        signal(&child, sig);
        let out = wait_bounded(child, Duration::from_secs(30), "backup");
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        assert_eq!(names_in(&d.join("bk")), Vec::<String>::new());
    }
    // Built beside the target, stopped while the new database fills: it
    // goes, and the target is as it was. --create-db, and in place over two
    // connections (--clean builds beside and swaps).
    let (sig, code) = term;
    for how in [&["--create-db"][..], &["--clean", "--jobs", "2"]] {
        let url = c.url("sig_dst");
        let mut args = vec!["restore", &set, "--to", &url, "--force", "--no-safety-backup"];
        args.extend_from_slice(how);
        let mut child = spawn(d, &args);
        assert!(
            wait_for(&mut child, || lifeboat_databases(c).contains("lifeboat_restore")),
            "the restore ended too soon"
        );
        std::thread::sleep(Duration::from_millis(100));
        signal(&child, sig);
        let out = wait_bounded(child, Duration::from_secs(30), &format!("restore {how:?}"));
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        assert_eq!(lifeboat_databases(c), "");
        assert_eq!(
            c.psql("sig_dst", "SELECT count(*) FROM pg_class WHERE relname = 'old_marker'"),
            "1"
        );
    }
    {
        let (sig, code) = int;
        // In place over one connection (with more, --clean builds beside
        // and swaps, as below), stopped while rows load: the transaction
        // rolls back.
        let mut child = spawn(
            d,
            &[
                "restore",
                &set,
                "--to",
                &c.url("sig_dst"),
                "--clean",
                "--force",
                "--no-safety-backup",
                "--jobs",
                "1",
            ],
        );
        let loading = || {
            c.psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'sig_dst' AND query LIKE 'COPY%'",
            ) != "0"
        };
        assert!(wait_for(&mut child, loading), "the restore ended too soon");
        signal(&child, sig);
        let out = wait_bounded(child, Duration::from_secs(30), "restore in place");
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        assert_eq!(
            c.psql("sig_dst", "SELECT count(*) FROM pg_class WHERE relname = 'old_marker'"),
            "1"
        );
    }
    for (sig, code) in [int, term] {
        // verify on the server, stopped while the scratch database fills.
        let mut child = spawn(
            d,
            &[
                "verify",
                &set,
                "--level",
                "restore",
                "--scratch",
                "server",
                "--source",
                &c.url("sig_src"),
            ],
        );
        assert!(
            wait_for(&mut child, || lifeboat_databases(c).contains("lifeboat_verify")),
            "the verify ended too soon"
        );
        std::thread::sleep(Duration::from_millis(100));
        signal(&child, sig);
        let out = wait_bounded(child, Duration::from_secs(30), "verify --scratch server");
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        assert_eq!(lifeboat_databases(c), "");
        assert!(
            !Path::new(&format!("{}/{set}.verified.json", d.display())).exists(),
            "a cut-short verify left a record"
        );
    }

    // SIGKILL during --create-db leaves the new database; the next restore
    // of that target drops it.
    let mut child = spawn(
        d,
        &[
            "restore",
            &set,
            "--to",
            &c.url("sig_dst"),
            "--create-db",
            "--force",
            "--no-safety-backup",
        ],
    );
    // Killed once the new database is marked as lifeboat's (a kill in the
    // few milliseconds between CREATE DATABASE and its mark leaves an
    // unmarked database, which no later run may take for its own).
    assert!(wait_for(&mut child, || c.psql(
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'sig\\_dst\\_lifeboat\\_restore\\_%' \
         AND pg_catalog.shobj_description(oid, 'pg_database') LIKE 'lifeboat %'"
    ) == "1"));
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    let started = Instant::now();
    while c.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '%lifeboat%'",
    ) != "0"
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the killed run's sessions stayed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lifeboat_databases(c).contains("sig_dst_lifeboat_restore_"));
    expect(
        d,
        &[
            "restore",
            &set,
            "--to",
            &c.url("sig_dst"),
            "--create-db",
            "--force",
            "--no-safety-backup",
        ],
        0,
    );
    assert_eq!(lifeboat_databases(c), "");
    assert_eq!(c.psql("sig_dst", "SELECT count(*) FROM big"), "100000");
}

fn scratch_dirs(d: &Path) -> Vec<String> {
    names_in(d)
        .into_iter()
        .filter(|n| n.starts_with("lifeboat-scratch-"))
        .collect()
}

#[test]
fn verify_with_a_local_scratch_cluster_stops_cleanly_and_cleans_up_after_sigkill() {
    let c = cluster();
    let dir = tmp();
    let d = dir.path();
    big_database(c, "sig_local");
    let set = expect(d, &["backup", &c.url("sig_local"), "--out", "kept", "--quiet"], 0);
    let set = set.trim().to_string();
    let pg_bin = c.bin.to_str().unwrap().to_string();
    let args = [
        "verify",
        &set,
        "--level",
        "restore",
        "--scratch",
        "local",
        "--pg-bin",
        &pg_bin,
    ];
    // The cluster is running once its postmaster.pid is there.
    let running = || {
        scratch_dirs(d)
            .iter()
            .any(|s| d.join(s).join("data/postmaster.pid").exists())
    };

    let mut child = spawn(d, &args);
    assert!(wait_for(&mut child, running), "the verify ended too soon");
    signal(&child, libc::SIGTERM);
    let out = wait_bounded(child, Duration::from_secs(60), "verify --scratch local");
    assert_eq!(out.status.code(), Some(143), "{}", text(&out));
    assert_eq!(scratch_dirs(d), Vec::<String>::new(), "the scratch cluster was left");

    let mut child = spawn(d, &args);
    assert!(wait_for(&mut child, running), "the verify ended too soon");
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    let left = scratch_dirs(d);
    assert_eq!(left.len(), 1, "SIGKILL leaves the cluster: {left:?}");
    let pid_file = d.join(&left[0]).join("data/postmaster.pid");
    // The server writes its pid file in steps: read it once it is whole.
    let started = Instant::now();
    let postmaster: i32 = loop {
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()));
        if let Some(pid) = pid {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no pid in {}",
            pid_file.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // The next run of any command (here `info`) stops the orphan and
    // removes its directory.
    let out = lifeboat(d).args(["info", &set]).env("TMPDIR", d).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(scratch_dirs(d), Vec::<String>::new());
    let started = Instant::now();
    // SAFETY: kill(2) with signal 0 only checks the process exists.
    while unsafe { libc::kill(postmaster, 0) } == 0 {
        let zombie = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).is_ok_and(|s| s.contains(") Z "));
        if zombie {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the orphan postmaster still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_signal_cancels_a_backup_waiting_for_a_lock_on_the_server() {
    let c = cluster();
    let dir = tmp();
    let d = dir.path();
    c.createdb("sig_lock");
    c.psql("sig_lock", "CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
    let mut holder = c.psql_background(
        "sig_lock",
        "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;",
    );
    let waiting = || {
        c.psql(
            "postgres",
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation IS NOT NULL AND database = (SELECT oid FROM pg_database WHERE datname = 'sig_lock')",
        ) != "0"
    };
    let mut child = spawn(
        d,
        &[
            "backup",
            &c.url("sig_lock"),
            "--out",
            "bk",
            "--lock-wait-timeout",
            "10m",
        ],
    );
    assert!(
        wait_for(&mut child, waiting),
        "the backup ended before it waited for the lock"
    );
    signal(&child, libc::SIGINT);
    // Far below the 10-minute lock wait: the statement was cancelled.
    let out = wait_bounded(child, Duration::from_secs(20), "backup waiting for a lock");
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert_eq!(names_in(&d.join("bk")), Vec::<String>::new());
}
