//! PostgreSQL end to end: the real binary against a real cluster, with
//! `pg_dump --schema-only` as the fidelity oracle.

mod common;

use common::pg::{PASSWORD, cluster};
use common::*;
use std::process::Stdio;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Backs up `db` and returns the set's path.
fn backup(dir: &std::path::Path, url: &str, extra: &[&str]) -> std::path::PathBuf {
    let mut args = vec!["backup", url, "--out", "bk", "--quiet"];
    args.extend_from_slice(extra);
    let out = expect(dir, &args, 0);
    dir.join(out.trim())
}

#[test]
fn schema_zoo_restores_to_the_same_schema_and_rows() {
    let c = cluster();
    let dir = tmp();
    c.fixture("zoo_src", "schema_zoo.sql", &[]);
    let set = backup(dir.path(), &c.url("zoo_src"), &["--jobs", "2"]);
    let out = run(dir.path(), &["backup", &c.url("zoo_src"), "--out", "bk2"]);
    assert!(!text(&out).contains(PASSWORD), "the password leaked into the output");
    let manifest = String::from_utf8(read_members(&set)[0].1.clone()).unwrap();
    assert!(!manifest.contains(PASSWORD), "the password leaked into the manifest");
    assert!(manifest.contains("\"engine\": \"postgresql\""));

    c.createdb("zoo_dst");
    let out = expect(
        dir.path(),
        &["restore", set.to_str().unwrap(), "--to", &c.url("zoo_dst")],
        0,
    );
    assert!(out.contains("row counts the manifest records"), "{out}");
    assert_eq!(c.schema("zoo_src"), c.schema("zoo_dst"));
    // Every table's digest and the schema fingerprint, through compare.
    let cmp = expect(
        dir.path(),
        &["compare", set.to_str().unwrap(), &c.url("zoo_dst"), "--json"],
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&cmp).unwrap();
    assert_eq!(v["differences"].as_array().unwrap().len(), 0, "{cmp}");
    // In parallel, where indexes and foreign keys start as their tables
    // fill: keys between partitioned tables and in cycles must still hold.
    expect(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &c.url("zoo_par"),
            "--create-db",
            "--jobs",
            "4",
        ],
        0,
    );
    assert_eq!(c.schema("zoo_src"), c.schema("zoo_par"));
    expect(dir.path(), &["compare", set.to_str().unwrap(), &c.url("zoo_par")], 0);
    assert_eq!(
        c.psql("zoo_dst", "SELECT last_value FROM public.invoice_no"),
        c.psql("zoo_src", "SELECT last_value FROM public.invoice_no")
    );
    assert_eq!(
        c.psql(
            "zoo_dst",
            "SELECT \"Name\" FROM \"Billing\".\"Customer\" WHERE \"Id\" = 30"
        ),
        "Tab\there, newline\nthere, backslash \\ end"
    );

    // The same check catches a difference.
    c.psql("zoo_dst", "UPDATE inventory.item SET flag = NOT flag WHERE sku = 'A-1'");
    let cmp = expect(
        dir.path(),
        &["compare", set.to_str().unwrap(), &c.url("zoo_dst"), "--json"],
        3,
    );
    assert!(cmp.contains("inventory.item"), "{cmp}");
}

#[test]
fn compare_names_a_sequence_moved_since_the_backup() {
    let c = cluster();
    let dir = tmp();
    c.fixture("seqcmp_src", "schema_zoo.sql", &[]);
    let set = backup(dir.path(), &c.url("seqcmp_src"), &[]);
    let set_arg = set.to_str().unwrap();
    expect(
        dir.path(),
        &["restore", set_arg, "--to", &c.url("seqcmp_dst"), "--create-db"],
        0,
    );
    // Restored, it matches; the materialized view's rows, which the set
    // does not record, are said to be left out, not to match.
    let out = expect(dir.path(), &["compare", set_arg, &c.url("seqcmp_dst")], 0);
    assert!(out.contains("matches"), "{out}");
    assert!(
        out.contains("not compared") && out.contains("inventory.heavy_items"),
        "{out}"
    );

    // The same rows, but a plain sequence and an identity column's moved
    // on: a restore of the set would put them back, so they differ.
    c.psql("seqcmp_dst", "SELECT setval('public.invoice_no', 999)");
    c.psql(
        "seqcmp_dst",
        "SELECT setval(pg_get_serial_sequence('\"Billing\".\"Customer\"', 'Id'), 5000, false)",
    );
    let out = expect(dir.path(), &["compare", set_arg, &c.url("seqcmp_dst")], 3);
    assert!(out.contains("public.invoice_no"), "{out}");
    assert!(out.contains("\"Billing\".\"Customer_Id_seq\""), "{out}");
    assert!(out.contains("last_value 5000, is_called false"), "{out}");
    assert!(out.contains("pg_catalog.setval('public.invoice_no'"), "{out}");
    let cmp = expect(dir.path(), &["compare", set_arg, &c.url("seqcmp_dst"), "--json"], 3);
    let v: serde_json::Value = serde_json::from_str(&cmp).unwrap();
    let kinds: Vec<&str> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sequence", "sequence"], "{cmp}");
}

#[test]
fn members_piped_through_gunzip_into_psql_rebuild_the_database() {
    let c = cluster();
    let dir = tmp();
    c.fixture("manual_src", "schema_zoo.sql", &[]);
    let set = backup(dir.path(), &c.url("manual_src"), &[]);
    c.createdb("manual_dst");
    // Exactly what RESTORE.md tells a person to run, with -o pipefail so
    // a failing tar or gunzip fails the pipeline.
    let script = format!(
        "set -o pipefail; tar --wildcards -xOf '{}' 'manual_src/*' | gunzip | PGHOST='{}' PGPORT={} PGUSER=postgres '{}' -X -q -v ON_ERROR_STOP=1 -d manual_dst",
        set.display(),
        c.dir.display(),
        c.port,
        c.tool("psql").display()
    );
    sh(dir.path(), &script);
    assert_eq!(c.schema("manual_src"), c.schema("manual_dst"));
    expect(dir.path(), &["compare", set.to_str().unwrap(), &c.url("manual_dst")], 0);
    let restore_md = String::from_utf8(read_members(&set)[1].1.clone()).unwrap();
    assert!(restore_md.contains("tar --wildcards -xOf"), "{restore_md}");
}

#[test]
fn agent_platform_round_trip_in_parallel_into_a_new_database() {
    let c = cluster();
    let dir = tmp();
    c.fixture("agents_src", "agent_platform.sql", &["scale=1"]);
    let set = backup(
        dir.path(),
        &c.url("agents_src"),
        &["--jobs", "2", "--compression", "zstd"],
    );
    let info: serde_json::Value =
        serde_json::from_str(&expect(dir.path(), &["info", set.to_str().unwrap(), "--json"], 0)).unwrap();
    assert_eq!(info["databases"][0]["migration"]["revision"], "013_execution_plans");
    assert!(
        info["databases"][0]["server_version"]
            .as_str()
            .unwrap()
            .starts_with(char::is_numeric)
    );
    expect(dir.path(), &["verify", set.to_str().unwrap()], 0);

    let out = expect(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &c.url("agents_dst"),
            "--create-db",
            "--jobs",
            "2",
        ],
        0,
    );
    assert!(out.contains("row counts"), "{out}");
    assert_eq!(c.schema("agents_src"), c.schema("agents_dst"));
    expect(dir.path(), &["compare", set.to_str().unwrap(), &c.url("agents_dst")], 0);
    let dbs = c.psql(
        "postgres",
        // Only this restore's names: other tests restore on the same cluster at the same time.
        "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'agents\\_dst\\_lifeboat%'",
    );
    assert_eq!(dbs, "", "a temporary database was left behind");
}

#[test]
fn a_backup_during_transfers_holds_one_committed_state() {
    let c = cluster();
    let dir = tmp();
    c.createdb("bank");
    c.psql(
        "bank",
        "CREATE TABLE checking (id int PRIMARY KEY, balance bigint NOT NULL, pad text); CREATE TABLE savings (id int PRIMARY KEY, balance bigint NOT NULL, pad text);
         INSERT INTO checking SELECT g, 1000, repeat('x', 200) FROM generate_series(1, 200000) g;
         INSERT INTO savings SELECT g, 1000, repeat('y', 200) FROM generate_series(1, 200000) g;",
    );
    let url = c.url("bank");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let moved = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (url, stop, moved) = (url.clone(), stop.clone(), moved.clone());
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut i = 0i32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let id = 1 + (i % 200000);
                let mut tx = client.transaction().unwrap();
                tx.execute("UPDATE checking SET balance = balance - 7 WHERE id = $1", &[&id])
                    .unwrap();
                tx.execute("UPDATE savings SET balance = balance + 7 WHERE id = $1", &[&id])
                    .unwrap();
                tx.commit().unwrap();
                moved.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                i += 1;
            }
        })
    };
    while moved.load(std::sync::atomic::Ordering::SeqCst) < 50 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let before = moved.load(std::sync::atomic::Ordering::SeqCst);
    let set = backup(dir.path(), &url, &["--jobs", "2"]);
    let after = moved.load(std::sync::atomic::Ordering::SeqCst);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    assert!(after > before, "the writer kept moving money during the backup");

    expect(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &c.url("bank_copy"),
            "--create-db",
        ],
        0,
    );
    let totals = c.psql("bank_copy", "SELECT (SELECT sum(balance) FROM checking) + (SELECT sum(balance) FROM savings), (SELECT 200000 * 1000 - sum(balance) FROM checking)");
    let (total, moved_out) = totals.split_once('|').unwrap();
    assert_eq!(total, "400000000", "money appeared or vanished: {totals}");
    let transfers: u64 = moved_out.parse::<u64>().unwrap() / 7;
    assert!(
        transfers >= before && transfers <= after,
        "{transfers} transfers is not a committed state between {before} and {after}"
    );
}

#[test]
fn connection_problems_are_explained_without_the_secret() {
    let c = cluster();
    let dir = tmp();
    c.createdb("conn");
    let wrong = c.url_as("postgres", "not-the-password-xyz", "conn");
    let out = run(dir.path(), &["backup", &wrong, "--out", "bk"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("password"), "{t}");
    assert!(!t.contains("not-the-password-xyz"), "the password leaked: {t}");

    // A statement timeout from the URL applies to every statement.
    c.psql(
        "conn",
        "CREATE TABLE big AS SELECT g, md5(g::text) AS t FROM generate_series(1, 300000) g",
    );
    let out = run(
        dir.path(),
        &[
            "backup",
            &format!("{}&statement_timeout=1ms", c.url("conn")),
            "--out",
            "bk",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("statement timeout"), "{}", text(&out));
    expect(
        dir.path(),
        &[
            "backup",
            &format!("{}&statement_timeout=5min", c.url("conn")),
            "--out",
            "bk-ok",
            "--quiet",
        ],
        0,
    );

    let out = run(dir.path(), &["backup", &c.url("no_such_db"), "--out", "bk"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));

    // A server that accepts the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let hold = std::thread::spawn(move || {
        let conn = silent.accept();
        // Long enough for the leftover sweep's connections (to postgres,
        // then template1) to time out before the backup's own does.
        std::thread::sleep(std::time::Duration::from_secs(15));
        drop(conn);
    });
    let out = lifeboat(dir.path())
        .args([
            "backup",
            &format!("postgres://u:secret-xyz@127.0.0.1:{port}/db?sslmode=disable"),
            "--out",
            "bk",
        ])
        .env("PGCONNECT_TIMEOUT", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("did not answer in time") || t.contains("timed out"), "{t}");
    assert!(!t.contains("secret-xyz"));
    hold.join().unwrap();
    assert!(
        !dir.path().join("bk").exists() || std::fs::read_dir(dir.path().join("bk")).unwrap().next().is_none(),
        "a failed backup left files"
    );
}

#[test]
fn a_table_the_user_may_not_read_is_named() {
    let c = cluster();
    let dir = tmp();
    c.createdb("perm");
    c.psql(
        "perm",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reader') THEN CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; END IF; END $$;
         CREATE TABLE open_data (x int); CREATE TABLE salaries (x int); GRANT SELECT ON open_data TO reader;",
    );
    let out = run(
        dir.path(),
        &["backup", &c.url_as("reader", "reader-pw", "perm"), "--out", "bk"],
    );
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("salaries"), "{t}");
    assert!(t.contains("--exclude-table"), "{t}");
    let out = expect(
        dir.path(),
        &[
            "backup",
            &c.url_as("reader", "reader-pw", "perm"),
            "--out",
            "bk",
            "--exclude-table",
            "salaries",
            "--json",
        ],
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["databases"][0]["tables"], 1);
}

#[test]
fn the_server_stopping_mid_dump_leaves_no_set() {
    let c = cluster();
    let dir = tmp();
    c.createdb("midway");
    c.psql(
        "midway",
        "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g*3)::text) AS t FROM generate_series(1, 3000000) g",
    );
    let child = lifeboat(dir.path())
        .args([
            "backup",
            &c.url("midway"),
            "--out",
            "bk",
            "--jobs",
            "1",
            "--compression",
            "gzip",
            "--compression-level",
            "9",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut killed = false;
    for _ in 0..400 {
        let n = c.psql("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'midway' AND query LIKE 'COPY%'");
        if n != "0" {
            killed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    assert!(killed, "the dump finished before it could be interrupted");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("bk"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left after a failed backup: {left:?}");
}

#[test]
fn restore_refuses_a_non_empty_database_and_cleans_when_asked() {
    let c = cluster();
    let dir = tmp();
    c.fixture("busy_src", "schema_zoo.sql", &[]);
    let set = backup(dir.path(), &c.url("busy_src"), &[]);
    c.createdb("busy_dst");
    c.psql("busy_dst", "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42); CREATE SCHEMA other; CREATE TABLE other.t (y int);");
    let before = c.schema("busy_dst");
    let out = run(
        dir.path(),
        &["restore", set.to_str().unwrap(), "--to", &c.url("busy_dst")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(c.schema("busy_dst"), before, "a refused restore changed the database");

    // A restore that fails midway rolls back: nothing changed.
    let broken = dir.path().join("bk/busy_src-20200101T000000Z.tar");
    std::fs::copy(&set, &broken).unwrap();
    // A statement lifeboat writes, that fails only when it runs.
    alter_item(
        &broken,
        "busy_src",
        |i| i["kind"] == "sequence value",
        |sql| format!("{sql}\nSELECT pg_catalog.setval('public.no_such_sequence', 1, true);"),
    );
    let out = run(
        dir.path(),
        &[
            "restore",
            broken.to_str().unwrap(),
            "--to",
            &c.url("busy_dst"),
            "--clean",
            "--no-safety-backup",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no_such_sequence\" does not exist"),
        "{}",
        text(&out)
    );
    assert_eq!(c.schema("busy_dst"), before, "a failed restore left changes behind");
    assert_eq!(c.psql("busy_dst", "SELECT x FROM precious"), "42");

    let out = expect(
        dir.path(),
        &["restore", set.to_str().unwrap(), "--to", &c.url("busy_dst"), "--clean"],
        0,
    );
    assert!(out.contains("safety backup"), "{out}");
    assert_eq!(c.schema("busy_src"), c.schema("busy_dst"));
    // The safety backup holds what was there before.
    let safety = only_set(&dir.path().join("bk/safety"));
    expect(
        dir.path(),
        &[
            "restore",
            safety.to_str().unwrap(),
            "--to",
            &c.url("busy_before"),
            "--create-db",
        ],
        0,
    );
    assert_eq!(c.psql("busy_before", "SELECT x FROM precious"), "42");
}

#[test]
fn table_selection_schema_only_and_data_only() {
    let c = cluster();
    let dir = tmp();
    c.fixture("sel_src", "agent_platform.sql", &["scale=0"]);
    c.psql("sel_src", "INSERT INTO agent_registry VALUES ('extra', '1', '{}')");
    let set = backup(
        dir.path(),
        &c.url("sel_src"),
        &["-t", "agent_*", "-t", "public.tenants", "-t", "users"],
    );
    let info: serde_json::Value =
        serde_json::from_str(&expect(dir.path(), &["info", set.to_str().unwrap(), "--json"], 0)).unwrap();
    let mut tables: Vec<&str> = info["databases"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    tables.sort();
    assert_eq!(tables, ["public.agent_registry", "public.tenants", "public.users"]);
    c.createdb("sel_dst");
    expect(
        dir.path(),
        &["restore", set.to_str().unwrap(), "--to", &c.url("sel_dst")],
        0,
    );
    assert_eq!(c.psql("sel_dst", "SELECT count(*) FROM agent_registry"), "4");

    let schema = backup(dir.path(), &c.url("sel_src"), &["--schema-only"]);
    c.createdb("schema_dst");
    expect(
        dir.path(),
        &["restore", schema.to_str().unwrap(), "--to", &c.url("schema_dst")],
        0,
    );
    assert_eq!(c.schema("sel_src"), c.schema("schema_dst"));
    assert_eq!(c.psql("schema_dst", "SELECT count(*) FROM agent_registry"), "0");

    let data = backup(dir.path(), &c.url("sel_src"), &["--data-only", "-t", "agent_registry"]);
    c.psql("schema_dst", "ALTER TABLE agent_registry DISABLE TRIGGER USER");
    expect(
        dir.path(),
        &[
            "restore",
            data.to_str().unwrap(),
            "--to",
            &c.url("schema_dst"),
            "--data-only",
        ],
        0,
    );
    assert_eq!(c.psql("schema_dst", "SELECT count(*) FROM agent_registry"), "4");
    // A set taken with --data-only adds its rows without being told, and
    // cannot make a new database.
    expect(
        dir.path(),
        &[
            "restore",
            data.to_str().unwrap(),
            "--to",
            &c.url("schema_dst"),
            "--force",
        ],
        1,
    );
    assert_eq!(c.psql("schema_dst", "SELECT count(*) FROM agent_registry"), "4");
    c.psql("schema_dst", "TRUNCATE agent_registry");
    expect(
        dir.path(),
        &[
            "restore",
            data.to_str().unwrap(),
            "--to",
            &c.url("schema_dst"),
            "--force",
        ],
        0,
    );
    assert_eq!(c.psql("schema_dst", "SELECT count(*) FROM agent_registry"), "4");
    let out = run(
        dir.path(),
        &[
            "restore",
            data.to_str().unwrap(),
            "--to",
            &c.url("data_new"),
            "--create-db",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("rows alone"), "{}", text(&out));
}

#[test]
fn chosen_tables_from_a_full_set() {
    let c = cluster();
    let dir = tmp();
    c.fixture("pick_src", "agent_platform.sql", &["scale=0"]);
    c.psql(
        "pick_src",
        "INSERT INTO tenants(name, plan, created_at, settings) SELECT 't' || g, 'pro', now(), '{}' FROM generate_series(1, 3) g; \
         INSERT INTO users(tenant_id, email, display_name, is_admin, created_at) SELECT (SELECT id FROM tenants ORDER BY name LIMIT 1), 'u' || g, 'U', false, now() FROM generate_series(1, 5) g;",
    );
    let set = backup(dir.path(), &c.url("pick_src"), &[]);
    let set = set.to_str().unwrap();
    let rows = |db: &str, table: &str| c.psql(db, &format!("SELECT count(*) FROM {table}"));
    let registry = |db: &str| {
        c.psql(
            db,
            "SELECT string_agg(name || version, ',' ORDER BY name) FROM agent_registry",
        )
    };

    // Into an empty database: a chosen table without the tables its keys
    // point at is refused before anything changes.
    c.createdb("pick_dst");
    let out = run(dir.path(), &["restore", set, "--to", &c.url("pick_dst"), "-t", "users"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("public.users references public.tenants"),
        "{}",
        text(&out)
    );
    assert_eq!(
        c.psql(
            "pick_dst",
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ),
        "0"
    );
    let out = expect(
        dir.path(),
        &[
            "restore",
            set,
            "--to",
            &c.url("pick_dst"),
            "-t",
            "users",
            "-t",
            "tenants",
        ],
        0,
    );
    assert!(out.contains("2 tables, 8 rows"), "{out}");
    assert_eq!(rows("pick_dst", "users"), "5");
    assert_eq!(rows("pick_dst", "tenants"), "3");
    assert_eq!(rows("pick_dst", "agent_registry"), "0");

    // Into a database that holds them: only the chosen tables' rows are
    // replaced, their triggers stay quiet, everything else stays.
    c.psql(
        "pick_dst",
        "INSERT INTO agent_registry VALUES ('junk', '0', '{}'); UPDATE tenants SET plan = 'changed' WHERE name = 't1';",
    );
    let audits = rows("pick_dst", "audit_logs");
    let out = run(
        dir.path(),
        &["restore", set, "--to", &c.url("pick_dst"), "-t", "agent_registry"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("those tables' rows"), "{}", text(&out));
    assert_eq!(registry("pick_dst"), "junk0");
    expect(
        dir.path(),
        &[
            "restore",
            set,
            "--to",
            &c.url("pick_dst"),
            "-t",
            "agent_registry",
            "--force",
        ],
        0,
    );
    assert_eq!(registry("pick_dst"), registry("pick_src"));
    assert_eq!(rows("pick_dst", "audit_logs"), audits, "restoring rows fired a trigger");
    assert_eq!(
        c.psql("pick_dst", "SELECT plan FROM tenants WHERE name = 't1'"),
        "changed"
    );
    assert_eq!(
        c.psql(
            "pick_dst",
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'agent_registry_audit'"
        ),
        "O"
    );

    // A table that others point at cannot be emptied on its own.
    let out = run(
        dir.path(),
        &["restore", set, "--to", &c.url("pick_dst"), "-t", "tenants", "--force"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("add the tables that reference them"),
        "{}",
        text(&out)
    );
    assert_eq!(
        c.psql("pick_dst", "SELECT plan FROM tenants WHERE name = 't1'"),
        "changed"
    );

    // Rows alone into a schema from the same set: parents before children,
    // sequences put back, and the result equals the source.
    c.createdb("pick_schema");
    expect(
        dir.path(),
        &["restore", set, "--to", &c.url("pick_schema"), "--schema-only"],
        0,
    );
    c.psql("pick_schema", "SELECT setval('users_id_seq', 1)");
    expect(
        dir.path(),
        &["restore", set, "--to", &c.url("pick_schema"), "--data-only"],
        0,
    );
    expect(dir.path(), &["compare", set, &c.url("pick_schema")], 0);
    assert_eq!(
        c.psql("pick_schema", "SELECT nextval('users_id_seq')"),
        c.psql("pick_src", "SELECT last_value + 1 FROM users_id_seq")
    );
}

#[test]
fn objects_the_engine_cannot_carry_stop_the_backup_by_name() {
    let c = cluster();
    let dir = tmp();
    c.createdb("odd");
    c.psql(
        "odd",
        "CREATE TABLE t (x int); CREATE FUNCTION my_len(text) RETURNS int LANGUAGE internal IMMUTABLE STRICT AS 'textlen';",
    );
    let out = run(dir.path(), &["backup", &c.url("odd"), "--out", "bk"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("public.my_len(text) (LANGUAGE internal)"), "{t}");
    // And says what to do about it.
    assert!(t.contains("CREATE EXTENSION"), "{t}");
    assert!(!dir.path().join("bk").exists() || std::fs::read_dir(dir.path().join("bk")).unwrap().next().is_none());
}

#[test]
fn sslmodes_through_rustls() {
    let c = cluster();
    let dir = tmp();
    c.createdb("tls");
    c.psql(
        "tls",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tlsuser') THEN CREATE ROLE tlsuser LOGIN PASSWORD 'tls-pw'; END IF; END $$; \
         CREATE TABLE t (x int); INSERT INTO t VALUES (1); GRANT SELECT ON t TO tlsuser;",
    );
    let ca = c.dir.join("ca.crt");
    let url = |host: &str, mode: &str| {
        format!(
            "postgresql://tlsuser:tls-pw@{host}:{}/tls?sslmode={mode}&sslrootcert={}",
            c.port,
            ca.display()
        )
    };
    // The server rejects tlsuser without TLS, so success proves encryption.
    let out = run(dir.path(), &["backup", &url("127.0.0.1", "disable"), "--out", "bk"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for (host, mode) in [
        ("127.0.0.1", "require"),
        ("127.0.0.1", "prefer"),
        ("127.0.0.1", "verify-ca"),
        ("localhost", "verify-full"),
    ] {
        let out = run(dir.path(), &["backup", &url(host, mode), "--out", "bk", "--quiet"]);
        assert_eq!(out.status.code(), Some(0), "sslmode={mode} host={host}: {}", text(&out));
    }
    // verify-full checks the name: the certificate is for localhost only.
    let out = run(dir.path(), &["backup", &url("127.0.0.1", "verify-full"), "--out", "bk"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("TLS") || text(&out).contains("certificate"),
        "{}",
        text(&out)
    );
    // Without the CA, the public roots do not vouch for a test certificate.
    let no_ca = format!(
        "postgresql://tlsuser:tls-pw@localhost:{}/tls?sslmode=verify-full",
        c.port
    );
    let out = run(dir.path(), &["backup", &no_ca, "--out", "bk"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // PGSSLMODE applies when the URL has no sslmode.
    let out = lifeboat(dir.path())
        .args([
            "backup",
            &format!("postgresql://tlsuser:tls-pw@127.0.0.1:{}/tls", c.port),
            "--out",
            "bk",
            "--quiet",
        ])
        .env("PGSSLMODE", "require")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// A URL without a password, to a server that wants one: the error says
/// where a password goes, and the failed backup leaves no output directory.
#[test]
fn a_missing_password_is_named_and_leaves_no_output_directory() {
    let c = cluster();
    let dir = tmp();
    let url = c.url("postgres").replace(&format!(":{PASSWORD}@"), "@");
    let out = lifeboat(dir.path())
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSWORD_FILE")
        .env_remove("POSTGRES_PASSWORD_FILE")
        .args(["backup", &url, "--out", "new/sets"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("none was given") && text(&out).contains("PGPASSWORD"),
        "no hint about the password:\n{}",
        text(&out)
    );
    assert!(
        !dir.path().join("new").exists(),
        "a failed backup left its output directory"
    );
}

/// Flips one bit in the middle of a member's compressed bytes, in place,
/// and rewrites the sidecar: damage the scan before a restore does not
/// read (rows are hashed as they load).
fn damage_member(set: &std::path::Path, member: &str) {
    let (offset, size) = {
        let mut archive = tar::Archive::new(std::fs::File::open(set).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path_bytes().as_ref() == member.as_bytes())
            .map(|e| (e.raw_file_position(), e.size()))
            .unwrap_or_else(|| panic!("no member {member}"))
    };
    let mut bytes = std::fs::read(set).unwrap();
    bytes[(offset + size / 2) as usize] ^= 0x10;
    std::fs::write(set, bytes).unwrap();
    rewrite_sidecar(set);
}

/// Database `db` with a table `parent` of 20000 rows and a smaller
/// `child` that references it, backed up in small chunks: parent's rows
/// are several members. Returns the set and parent's members.
fn parent_and_child_in_chunks(dir: &std::path::Path, db: &str) -> (std::path::PathBuf, Vec<String>) {
    let c = cluster();
    c.createdb(db);
    c.psql(
        db,
        "CREATE TABLE parent (id int PRIMARY KEY, v text); \
         INSERT INTO parent SELECT g, repeat('x', 50) || g FROM generate_series(1, 20000) g; \
         CREATE TABLE child (id int PRIMARY KEY, parent int REFERENCES parent, note text); \
         INSERT INTO child SELECT g, g % 20000 + 1, md5(g::text) FROM generate_series(1, 5000) g; \
         CREATE INDEX ON parent (v);",
    );
    let out = lifeboat(dir)
        .env("LIFEBOAT_TEST_CHUNK_BYTES", "100000")
        .args(["backup", &c.url(db), "--out", "bk", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let set = dir.join(String::from_utf8_lossy(&out.stdout).trim());
    let parts: Vec<String> = read_members(&set)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.contains("public.parent"))
        .collect();
    assert!(parts.len() > 3, "{parts:?}");
    (set, parts)
}

#[test]
fn in_place_restores_build_beside_and_swap_where_they_may_and_say_which() {
    let c = cluster();
    let dir = tmp();
    let (set, parts) = parent_and_child_in_chunks(dir.path(), "beside_src");

    let fresh = |db: &str| {
        c.createdb(db);
        c.psql(db, "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42);");
    };
    let leftovers = |db: &str| {
        c.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{db}\\_lifeboat%'"),
        )
    };
    let restore = |db: &str, set: &std::path::Path, extra: &[&str]| {
        let url = c.url(db);
        let mut args = vec![
            "restore",
            set.to_str().unwrap(),
            "--to",
            url.as_str(),
            "--clean",
            "--no-safety-backup",
        ];
        args.extend_from_slice(extra);
        run(dir.path(), &args)
    };

    // The role may create databases: built beside and swapped in.
    fresh("beside_dst");
    let out = restore("beside_dst", &set, &["--jobs", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("restored beside the target over 2 connections and swapped in"),
        "{}",
        text(&out)
    );
    assert_eq!(c.schema("beside_src"), c.schema("beside_dst"));
    assert_eq!(c.rows("beside_src"), c.rows("beside_dst"));
    assert_eq!(leftovers("beside_dst"), "0");

    // A damaged row member, and a sidecar that does not match: found while
    // loading, the restore fails as a verification does, the target is as
    // it was and nothing is left behind, whichever way it restores.
    let damaged = dir.path().join("damaged.tar");
    std::fs::copy(&set, &damaged).unwrap();
    damage_member(&damaged, &parts[1]);
    let mismatched = dir.path().join("mismatched.tar");
    std::fs::copy(&set, &mismatched).unwrap();
    std::fs::write(
        dir.path().join("mismatched.tar.sha256"),
        format!("{}  mismatched.tar\n", "0".repeat(64)),
    )
    .unwrap();
    for (bad, why) in [(&damaged, "damaged or was altered"), (&mismatched, ".sha256")] {
        for jobs in ["1", "2"] {
            let db = format!("beside_bad_{jobs}");
            fresh(&db);
            let out = restore(&db, bad, &["--jobs", jobs]);
            assert_eq!(out.status.code(), Some(3), "{}", text(&out));
            assert!(text(&out).contains(why), "{}", text(&out));
            assert_eq!(c.psql(&db, "SELECT x FROM precious"), "42");
            assert_eq!(
                c.psql(&db, "SELECT count(*) FROM pg_class WHERE relname = 'parent'"),
                "0"
            );
            assert_eq!(leftovers(&db), "0");
            c.psql("postgres", &format!("DROP DATABASE {db}"));
        }
        let url = c.url("beside_new");
        let out = run(
            dir.path(),
            &["restore", bad.to_str().unwrap(), "--to", &url, "--create-db"],
        );
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert_eq!(
            c.psql(
                "postgres",
                "SELECT count(*) FROM pg_database WHERE datname LIKE 'beside\\_new%'"
            ),
            "0"
        );
    }

    // Another session on the target: one transaction, and the output says why.
    fresh("beside_busy");
    let mut session = c.psql_background("beside_busy", "SELECT pg_sleep(60)");
    while c.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'beside_busy' AND query LIKE '%pg_sleep%'",
    ) == "0"
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = restore("beside_busy", &set, &["--jobs", "2"]);
    session.kill().unwrap();
    session.wait().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("restored in one transaction"), "{}", text(&out));
    assert!(text(&out).contains("session(s) are connected"), "{}", text(&out));
    assert_eq!(c.rows("beside_src"), c.rows("beside_busy"));

    // A role that may not create databases: one transaction, saying so.
    c.psql(
        "postgres",
        &format!("CREATE ROLE beside_owner LOGIN PASSWORD '{PASSWORD}' NOCREATEDB"),
    );
    c.psql("postgres", "CREATE DATABASE beside_owned OWNER beside_owner");
    let owned = c.url_as("beside_owner", PASSWORD, "beside_owned");
    let out = run(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &owned,
            "--clean",
            "--no-safety-backup",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("restored in one transaction"), "{}", text(&out));
    assert!(text(&out).contains("CREATEDB"), "{}", text(&out));
    assert_eq!(c.rows("beside_src"), c.rows("beside_owned"));
}

#[test]
fn a_null_where_a_value_is_expected_is_an_error_naming_the_column() {
    use lifeboat::engine::postgres::rows::Value;
    let c = cluster();
    let mut client = postgres::Client::connect(
        &format!("host={} port={} user=postgres dbname=postgres", c.dir.display(), c.port),
        postgres::NoTls,
    )
    .unwrap();
    // The shape of a catalog row whose definition went missing, as
    // pg_get_viewdef answers for an object that is no longer there.
    let row = client
        .query_one(
            "SELECT 'public.v'::text AS name, pg_catalog.pg_get_viewdef(0::pg_catalog.oid) AS definition",
            &[],
        )
        .unwrap();
    let name: String = row.value(0).unwrap();
    assert_eq!(name, "public.v");
    let error = format!("{:#}", row.value::<String>(1).unwrap_err());
    assert!(error.contains("column 2 (definition)"), "{error}");
    assert!(error.contains("(name, definition)"), "{error}");
    assert!(error.contains("NULL"), "{error}");
    // Asked for as optional, it is simply absent.
    assert_eq!(row.value::<Option<String>>(1).unwrap(), None);
}

#[test]
fn a_parallel_backup_writes_one_tar_that_stock_tools_read_and_restore() {
    let c = cluster();
    let dir = tmp();
    c.createdb("direct_src");
    c.psql(
        "direct_src",
        "CREATE TABLE a (id int PRIMARY KEY, v text); \
         INSERT INTO a SELECT g, md5(g::text) || repeat('a', g % 40) FROM generate_series(1, 30000) g; \
         CREATE TABLE b (id int PRIMARY KEY, a int REFERENCES a, w text); \
         INSERT INTO b SELECT g, g % 30000 + 1, md5((g * 7)::text) FROM generate_series(1, 30000) g; \
         CREATE INDEX ON b (w);",
    );
    // Small chunks over two workers: members of both tables are finished
    // while the other worker writes at the end of the set, so some wait
    // in memory and follow it.
    let out = lifeboat(dir.path())
        .env("LIFEBOAT_TEST_CHUNK_BYTES", "50000")
        .args(["backup", &c.url("direct_src"), "--out", "bk", "--jobs", "2", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let set = dir.path().join(String::from_utf8_lossy(&out.stdout).trim());
    let name = set.file_name().unwrap().to_string_lossy().into_owned();
    // Nothing but the set and its sidecar is left in the directory.
    assert_eq!(
        names_in(&dir.path().join("bk")),
        vec![name.clone(), format!("{name}.sha256")]
    );
    assert!(sh(&dir.path().join("bk"), &format!("sha256sum -c '{name}.sha256'")).contains(": OK"));

    let listing = sh(dir.path(), &format!("tar -tf '{}'", set.display()));
    let in_tar: Vec<&str> = listing.lines().collect();
    assert_eq!(in_tar[0], "manifest.json", "{listing}");
    assert_eq!(in_tar[1], "RESTORE.md", "{listing}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&read_members(&set).swap_remove(0).1).expect("manifest.json is JSON");
    let mut listed: Vec<String> = manifest["databases"][0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap().to_string())
        .collect();
    assert!(listed.len() > 10, "{listed:?}");
    let mut members: Vec<String> = in_tar[2..].iter().map(|s| s.to_string()).collect();
    // The scripts stand around the rows as restore order needs them.
    assert!(members[0].ends_with("0-pre-data.sql.gz"), "{members:?}");
    let indexes = members.iter().position(|m| m.ends_with("2-indexes.sql.gz")).unwrap();
    let last_rows = members.iter().rposition(|m| m.contains("/1-data-")).unwrap();
    assert!(last_rows < indexes, "{members:?}");
    listed.sort();
    members.sort();
    assert_eq!(listed, members);

    expect(dir.path(), &["verify", set.to_str().unwrap(), "--quiet"], 0);
    c.createdb("direct_stock");
    sh(
        dir.path(),
        &format!(
            "set -o pipefail; tar --wildcards -xOf '{}' 'direct_src/*' | gunzip | {} '{}' -X -q -v ON_ERROR_STOP=1 -d direct_stock >/dev/null",
            set.display(),
            c.shell_env(),
            c.tool("psql").display()
        ),
    );
    assert_eq!(c.schema("direct_src"), c.schema("direct_stock"));
    assert_eq!(c.rows("direct_src"), c.rows("direct_stock"));
    let url = c.url("direct_dst");
    expect(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &url,
            "--create-db",
            "--jobs",
            "2",
            "--quiet",
        ],
        0,
    );
    assert_eq!(c.rows("direct_src"), c.rows("direct_dst"));
    // The mark the database carried while it was built is gone with the
    // swap, so the next in-place restore over it builds beside it again.
    assert_eq!(
        c.psql(
            "postgres",
            "SELECT coalesce(shobj_description(oid, 'pg_database'), 'none') FROM pg_database WHERE datname = 'direct_dst'"
        ),
        "none"
    );
    let out = run(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &url,
            "--clean",
            "--jobs",
            "2",
            "--no-safety-backup",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("swapped in"), "{}", text(&out));
    assert_eq!(c.rows("direct_src"), c.rows("direct_dst"));
}

#[test]
fn a_parallel_restore_loads_each_table_frozen_in_one_transaction_unless_it_is_split() {
    let c = cluster();
    let dir = tmp();
    let (set, parts) = parent_and_child_in_chunks(dir.path(), "frozen_src");
    // Pages of `parent` the visibility map marks all-frozen, and the pages
    // that hold its rows (a server may extend a table by several empty
    // pages at once). COPY FREEZE marks the map from PostgreSQL 14 on;
    // before, it freezes the rows alone, which this cannot see.
    let frozen = |db: &str| -> (String, String) {
        c.psql(db, "CREATE EXTENSION IF NOT EXISTS pg_visibility");
        if c.psql(db, "SHOW server_version_num").parse::<u32>().unwrap() < 140000 {
            return ("-".into(), "-".into());
        }
        (
            c.psql(db, "SELECT all_frozen FROM pg_visibility_map_summary('parent')"),
            c.psql(db, "SELECT count(DISTINCT (ctid::text::point)[0]) FROM parent"),
        )
    };
    let restore = |db: &str, set: &std::path::Path, jobs: &str| -> String {
        let log = dir.path().join(format!("{db}.log"));
        expect(
            dir.path(),
            &[
                "restore",
                set.to_str().unwrap(),
                "--to",
                &c.url(db),
                "--create-db",
                "--jobs",
                jobs,
                "--log-file",
                log.to_str().unwrap(),
            ],
            0,
        );
        std::fs::read_to_string(&log).unwrap()
    };

    // Over two connections every table's rows are less than a connection's
    // share of the work: each goes in whole, frozen.
    restore("frozen_two", &set, "2");
    assert_eq!(c.rows("frozen_two"), c.rows("frozen_src"));
    let (all_frozen, pages) = frozen("frozen_two");
    assert!(pages == "-" || pages.parse::<u64>().unwrap() > 10, "{pages}");
    assert_eq!(all_frozen, pages);

    // Over eight, parent's rows are more than a connection's share: its
    // chunks go in side by side, as ordinary rows.
    restore("frozen_eight", &set, "8");
    assert_eq!(c.rows("frozen_eight"), c.rows("frozen_src"));
    assert!(["0", "-"].contains(&frozen("frozen_eight").0.as_str()));

    // A row of the last chunk that does not convert to binary (`+7`, which
    // the server's text input reads as 7): the chunks already sent are
    // undone with it, the whole table goes in again as text, once.
    let last = parts.last().unwrap();
    let text_rows = String::from_utf8(member_content(&set, last)).unwrap();
    let (header, rows) = text_rows.split_once('\n').unwrap();
    let edited = format!("{header}\n+{rows}");
    replace_member(&set, last, edited.as_bytes());
    let logged = restore("frozen_text", &set, "2");
    assert!(
        logged.contains("back to text on a row lifeboat does not convert: public.parent"),
        "{logged}"
    );
    assert_eq!(c.rows("frozen_text"), c.rows("frozen_src"));
    let (all_frozen, pages) = frozen("frozen_text");
    assert_eq!(all_frozen, pages);
}

#[test]
fn tables_that_print_alike_keep_their_own_rows() {
    let c = cluster();
    let dir = tmp();
    c.createdb("alike_src");
    // "public.a".b and public."a.b" both print as public.a.b.
    c.psql(
        "alike_src",
        "CREATE SCHEMA \"public.a\"; \
         CREATE TABLE \"public.a\".b (x int PRIMARY KEY, v text); \
         CREATE TABLE public.\"a.b\" (y int, w text); \
         INSERT INTO \"public.a\".b SELECT g, g::text FROM generate_series(1, 100) g; \
         INSERT INTO public.\"a.b\" SELECT g, (g * 2)::text FROM generate_series(1, 37) g;",
    );
    let set = backup(dir.path(), &c.url("alike_src"), &[]);
    for jobs in ["1", "2"] {
        let db = format!("alike_dst_{jobs}");
        let out = expect(
            dir.path(),
            &[
                "restore",
                set.to_str().unwrap(),
                "--to",
                &c.url(&db),
                "--create-db",
                "--jobs",
                jobs,
            ],
            0,
        );
        assert!(
            out.contains("2 tables took the row counts the manifest records"),
            "{out}"
        );
        assert_eq!(c.rows(&db), c.rows("alike_src"));
        assert_eq!(c.schema(&db), c.schema("alike_src"));
        expect(dir.path(), &["compare", set.to_str().unwrap(), &c.url(&db)], 0);
    }
}

#[test]
fn the_target_databases_own_settings_change_nothing_a_restore_makes() {
    let c = cluster();
    let dir = tmp();
    c.createdb("pinned_src");
    // An xml value that is content, not a document; a table in heap.
    c.psql(
        "pinned_src",
        "CREATE TABLE docs (id int PRIMARY KEY, body xml); \
         INSERT INTO docs VALUES (1, 'plain text'), (2, '<a>x</a><b/>');",
    );
    let set = backup(dir.path(), &c.url("pinned_src"), &[]);
    // A target whose own defaults would read the xml as documents and make
    // tables with an access method of its own, which --clean drops.
    c.createdb("pinned_dst");
    c.psql(
        "pinned_dst",
        "CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler; \
         CREATE TABLE old (id int) USING heap2; \
         ALTER DATABASE pinned_dst SET xmloption = document; \
         ALTER DATABASE pinned_dst SET default_table_access_method = heap2;",
    );
    for how in ["--clean", "--create-db"] {
        if how == "--create-db" {
            c.psql("postgres", "DROP DATABASE IF EXISTS pinned_new");
        }
        let db = if how == "--clean" { "pinned_dst" } else { "pinned_new" };
        expect(
            dir.path(),
            &["restore", set.to_str().unwrap(), "--to", &c.url(db), how, "--force"],
            0,
        );
        assert_eq!(c.rows(db), c.rows("pinned_src"), "{how}");
        assert_eq!(
            c.psql(
                db,
                "SELECT a.amname FROM pg_class r JOIN pg_am a ON a.oid = r.relam WHERE r.relname = 'docs'"
            ),
            "heap",
            "{how}"
        );
    }
}

#[test]
fn a_role_that_is_no_superuser_restores_grants_on_pg_catalog_as_pg_restore_would() {
    let c = cluster();
    let dir = tmp();
    c.psql(
        "postgres",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'catalog_restorer') THEN \
         CREATE ROLE catalog_restorer LOGIN CREATEDB PASSWORD 'restorer-pw'; END IF; END $$;",
    );
    c.createdb("catgrant_src");
    c.psql(
        "catgrant_src",
        "ALTER DATABASE catgrant_src OWNER TO catalog_restorer; CREATE TABLE t (x int); INSERT INTO t VALUES (1); \
         ALTER TABLE t OWNER TO catalog_restorer; \
         GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text) TO catalog_restorer;",
    );
    let set = backup(dir.path(), &c.url("catgrant_src"), &["--with-privileges"]);
    // A superuser carries the grant, as pg_dump | psql does.
    c.psql("postgres", "DROP DATABASE IF EXISTS catgrant_super");
    expect(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &c.url("catgrant_super"),
            "--create-db",
        ],
        0,
    );
    let may = "SELECT has_function_privilege('catalog_restorer', 'pg_catalog.pg_ls_dir(text)', 'EXECUTE')";
    assert_eq!(c.psql("catgrant_super", may), "t");
    // A role that is no superuser restores the rest and says what it left
    // out, as pg_restore would report the grant it could not make.
    c.psql("postgres", "DROP DATABASE IF EXISTS catgrant_dst");
    c.psql("postgres", "CREATE DATABASE catgrant_dst OWNER catalog_restorer");
    let out = run(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &c.url_as("catalog_restorer", "restorer-pw", "catgrant_dst"),
            "--force",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("left out") && stderr.contains("pg_ls_dir"), "{stderr}");
    assert_eq!(c.psql("catgrant_dst", "SELECT count(*) FROM t"), "1");
}
