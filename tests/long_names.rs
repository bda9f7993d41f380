//! Database names of 63 bytes, the longest PostgreSQL keeps: every name
//! lifeboat makes from one (`--create-db`'s new database and the old one
//! set aside, `verify --scratch server`'s scratch database) fits whole, so
//! the server never cuts two into one; and after SIGKILL the next run on
//! the server removes what was left, never a user's database that merely
//! looks like a leftover. Its own binary, so its own cluster: the other
//! suites count every `%lifeboat%` database of theirs.

mod common;

use common::pg::{Cluster, cluster};
use common::*;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Two names of exactly 63 bytes that differ only in their last byte: the
/// server would cut `<name>_lifeboat_restore_<pid>` of both to one name.
fn long_name(last: char) -> String {
    let mut name: String = "long_database_name_".repeat(4).chars().take(62).collect();
    name.push(last);
    assert_eq!(name.len(), 63);
    name
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    lifeboat(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every database with "lifeboat" in its name.
fn lifeboat_databases(c: &Cluster) -> Vec<String> {
    let names = c.psql(
        "postgres",
        "SELECT coalesce(string_agg(datname, ',' ORDER BY datname), '') FROM pg_database WHERE datname LIKE '%lifeboat%'",
    );
    names.split(',').filter(|n| !n.is_empty()).map(str::to_string).collect()
}

/// Waits (bounded) until a database whose name holds `part` exists and
/// carries the mark lifeboat gives the databases it makes, and gives its
/// name.
fn wait_for_database(c: &Cluster, child: &mut Child, part: &str) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let marked = c.psql(
            "postgres",
            &format!(
                "SELECT coalesce(min(datname), '') FROM pg_database WHERE datname LIKE '%{part}%' \
                 AND shobj_description(oid, 'pg_database') LIKE 'lifeboat %'"
            ),
        );
        if !marked.is_empty() {
            return marked;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it made a {part} database"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no {part} database appeared");
}

fn kill(mut child: Child) {
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    child.wait().unwrap();
}

/// Sessions of a killed run go away once the server notices.
fn wait_until_unused(c: &Cluster, db: &str) {
    let started = Instant::now();
    while c.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"),
    ) != "0"
    {
        assert!(started.elapsed() < Duration::from_secs(10), "sessions on {db} stayed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn names_of_63_bytes_make_names_that_fit_and_are_cleaned_up() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (source, target) = (long_name('a'), long_name('b'));
    c.createdb(&source);
    c.psql(
        &source,
        "CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL); \
         INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 100000) g;",
    );
    c.createdb(&target);
    c.psql(&target, "CREATE TABLE old_marker (x int)");
    let set = expect(d, &["backup", &c.url(&source), "--out", "bk", "--quiet"], 0);
    let set = set.trim().to_string();
    let (to, from) = (c.url(&target), c.url(&source));
    let restore = [
        "restore",
        &set,
        "--to",
        &to,
        "--create-db",
        "--force",
        "--no-safety-backup",
    ];
    let verify = [
        "verify",
        &set,
        "--level",
        "restore",
        "--scratch",
        "server",
        "--source",
        &from,
    ];

    // restore --create-db: the new database and the old one set aside keep
    // their whole names, so the swap works and nothing is left.
    let out = run(d, &restore);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("truncated"), "{}", text(&out));
    assert_eq!(c.psql(&target, "SELECT count(*) FROM big"), "100000");
    assert_eq!(
        c.psql(&target, "SELECT count(*) FROM pg_class WHERE relname = 'old_marker'"),
        "0"
    );
    assert_eq!(lifeboat_databases(c), Vec::<String>::new());

    // verify --scratch server on the source's server.
    let out = run(d, &verify);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("truncated"), "{}", text(&out));
    assert_eq!(lifeboat_databases(c), Vec::<String>::new());

    // SIGKILL while --create-db fills its new database: the name holds the
    // killed run's whole pid, so the server did not cut it.
    let mut child = spawn(d, &restore);
    let pid = child.id().to_string();
    let restore_temp = wait_for_database(c, &mut child, "lifeboat_restore");
    kill(child);
    assert!(restore_temp.len() <= 63, "{restore_temp}");
    assert!(
        restore_temp.ends_with(&format!("_lifeboat_restore_{pid}")),
        "{restore_temp}"
    );
    wait_until_unused(c, &restore_temp);

    // SIGKILL while verify --scratch server fills its scratch database.
    let mut child = spawn(d, &verify);
    let scratch = wait_for_database(c, &mut child, "lifeboat_verify");
    kill(child);
    // That verify was the next run on the server: the killed restore's
    // database went before it made its own.
    assert!(
        !lifeboat_databases(c).contains(&restore_temp),
        "{restore_temp} was left"
    );
    assert!(scratch.len() <= 63, "{scratch}");
    let time = scratch.rsplit('_').next().unwrap();
    assert!(
        time.len() == 14 && time.bytes().all(|b| b.is_ascii_digit()),
        "{scratch}"
    );
    wait_until_unused(c, &scratch);

    // A user's databases named like leftovers, but not made by lifeboat:
    // never touched.
    let lookalikes = [
        restore_temp.replace(&format!("_{pid}"), "_1"),
        scratch.replace(time, "20200101000000"),
    ];
    for name in &lookalikes {
        c.createdb(name);
    }
    let mut expected: Vec<String> = vec![scratch.clone()];
    expected.extend(lookalikes.iter().cloned());
    expected.sort();
    assert_eq!(lifeboat_databases(c), expected);

    // The next run on that server, whatever the command (here a backup),
    // removes the leftover and only it.
    expect(d, &["backup", &c.url(&source), "--out", "bk2", "--quiet"], 0);
    let mut expected = lookalikes.to_vec();
    expected.sort();
    assert_eq!(lifeboat_databases(c), expected);
    assert_eq!(c.psql(&target, "SELECT count(*) FROM big"), "100000");
    for name in &lookalikes {
        c.psql("postgres", &format!("DROP DATABASE \"{name}\""));
    }
}
