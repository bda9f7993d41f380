//! Verification by restore, policies and reports, with real SQLite files
//! and a real PostgreSQL cluster.

mod common;

use common::pg::cluster;
use common::*;
use std::path::Path;

/// A TMPDIR the postgres user can enter, so the test can see that every
/// scratch directory is gone afterwards.
fn scratch_tmp(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let t = dir.join("scratch-tmp");
    std::fs::create_dir(&t).unwrap();
    std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o777)).unwrap();
    t
}

fn verify_json(dir: &Path, tmp: &Path, args: &[&str], code: i32) -> (serde_json::Value, String) {
    let report = dir.join("report.json");
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--report", report.to_str().unwrap()]);
    let out = lifeboat(dir).args(&all).env("TMPDIR", tmp).output().unwrap();
    assert_eq!(out.status.code(), Some(code), "verify {args:?}:\n{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    (json, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn checks(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap().to_string())
        .collect()
}

/// Every finding is in the JSON report and in the Markdown summary.
fn findings_in_both(report: &serde_json::Value, markdown: &str) {
    for f in report["findings"].as_array().unwrap() {
        for field in ["severity", "check", "object", "message", "fix"] {
            assert!(f[field].is_string(), "finding without {field}: {f}");
        }
        let message = f["message"].as_str().unwrap().replace('|', "\\|");
        assert!(
            markdown.contains(&message),
            "finding {message:?} missing from the summary:\n{markdown}"
        );
        assert!(markdown.contains(f["check"].as_str().unwrap()));
    }
}

#[test]
fn sqlite_set_passes_both_levels_and_a_wrong_one_fails_restore_by_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scratch = scratch_tmp(dir);
    agent_db(dir, "agent.db", 0.01);
    let set = dir.join(expect(dir, &["backup", "agent.db", "--out", "bk", "--quiet"], 0).trim());
    let (quick, _) = verify_json(dir, &scratch, &[set.to_str().unwrap()], 0);
    assert_eq!(quick["level"], "quick");
    let (restored, md) = verify_json(dir, &scratch, &[set.to_str().unwrap(), "--level", "restore"], 0);
    assert_eq!(restored["passed"], true);
    let tables = restored["checked_tables"].as_array().unwrap();
    assert_eq!(tables.len(), 3);
    assert!(
        tables
            .iter()
            .all(|t| t["digest_matches"] == true && t["rows_found"] == t["rows_expected"])
    );
    assert!(md.contains("| agent | `AgentQuery` |"), "{md}");
    assert!(
        std::fs::read_dir(&scratch).unwrap().next().is_none(),
        "scratch files left behind"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.verified.json", set.display())).unwrap()).unwrap();
    assert_eq!(record["level"], "restore");

    // Alter a row and rewrite every hash: the quick level cannot tell.
    let altered = dir.join("altered.db");
    std::fs::write(&altered, member_content(&set, "agent/agent.db.gz")).unwrap();
    sqlite(
        &altered,
        "PRAGMA journal_mode=DELETE; UPDATE AgentFeedback SET rating = 9 WHERE id = 4; PRAGMA journal_mode=WAL;",
    );
    replace_member(&set, "agent/agent.db.gz", &std::fs::read(&altered).unwrap());
    verify_json(dir, &scratch, &[set.to_str().unwrap()], 0);
    let (failed, md) = verify_json(dir, &scratch, &[set.to_str().unwrap(), "--level", "restore"], 3);
    assert_eq!(failed["passed"], false);
    let restore_finding = failed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "restore")
        .expect("a restore finding");
    assert!(
        restore_finding["message"].as_str().unwrap().contains("AgentFeedback"),
        "{restore_finding}"
    );
    findings_in_both(&failed, &md);
    assert!(
        std::fs::read_dir(&scratch).unwrap().next().is_none(),
        "scratch files left behind after a failure"
    );
}

#[test]
fn postgres_restore_level_on_a_local_cluster_and_on_the_server() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scratch = scratch_tmp(dir);
    c.fixture("verify_src", "schema_zoo.sql", &[]);
    let set = dir.join(expect(dir, &["backup", &c.url("verify_src"), "--out", "bk", "--quiet"], 0).trim());

    let pg_bin = c.bin.to_str().unwrap().to_string();
    let (local, _) = verify_json(
        dir,
        &scratch,
        &[
            set.to_str().unwrap(),
            "--level",
            "restore",
            "--scratch",
            "local",
            "--pg-bin",
            &pg_bin,
        ],
        0,
    );
    assert_eq!(local["checked_tables"].as_array().unwrap().len(), 14);
    assert!(
        std::fs::read_dir(&scratch).unwrap().next().is_none(),
        "the scratch cluster was left behind"
    );

    let (server, _) = verify_json(
        dir,
        &scratch,
        &[
            set.to_str().unwrap(),
            "--level",
            "restore",
            "--scratch",
            "server",
            "--source",
            &c.url("verify_src"),
        ],
        0,
    );
    assert_eq!(server["passed"], true);
    assert_eq!(
        c.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'verify\\_src\\_lifeboat\\_verify%'"
        ),
        "0"
    );

    // Change one value in a data member and rewrite every hash.
    let item = read_members(&set)
        .into_iter()
        .map(|(n, _)| n)
        .find(|n| n.contains("inventory.item"))
        .unwrap();
    let sql = String::from_utf8(member_content(&set, &item))
        .unwrap()
        .replacen("A-1\t", "A-9\t", 1);
    replace_member(&set, &item, sql.as_bytes());
    verify_json(dir, &scratch, &[set.to_str().unwrap()], 0);
    for scratch_args in [
        vec!["--scratch", "local", "--pg-bin", &pg_bin],
        vec!["--scratch", "server", "--source", &c.url("verify_src")],
    ] {
        let mut args = vec![set.to_str().unwrap(), "--level", "restore"];
        args.extend(scratch_args.iter().copied());
        let (failed, md) = verify_json(dir, &scratch, &args, 3);
        assert!(checks(&failed).contains(&"restore-digest".to_string()), "{failed}");
        let finding = failed["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "restore-digest")
            .unwrap();
        assert_eq!(finding["object"], "verify_src.inventory.item");
        findings_in_both(&failed, &md);
        assert!(
            std::fs::read_dir(&scratch).unwrap().next().is_none(),
            "the scratch cluster was left behind after a failure"
        );
        assert_eq!(
            c.psql(
                "postgres",
                "SELECT count(*) FROM pg_database WHERE datname LIKE 'verify\\_src\\_lifeboat\\_verify%'"
            ),
            "0"
        );
    }

    // A local scratch needs a server at least as new as the backup's.
    let old = dir.join("bk/verify_src-20200101T000000Z.tar");
    let mut members = read_members(&set);
    let mut manifest: serde_json::Value = serde_json::from_slice(&members[0].1).unwrap();
    manifest["databases"][0]["server_version"] = serde_json::json!("99.1");
    members[0].1 = serde_json::to_vec(&manifest).unwrap();
    write_set(&old, &members);
    let (none_fits, _) = verify_json(
        dir,
        &scratch,
        &[old.to_str().unwrap(), "--level", "restore", "--scratch", "local"],
        3,
    );
    let msg = none_fits["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "restore")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("version 99 or newer"), "{msg}");

    // Rows without a schema cannot be proven by restore on their own: said
    // as such, not as a damaged backup.
    let rows = dir.join(
        expect(
            dir,
            &[
                "backup",
                &c.url("verify_src"),
                "--data-only",
                "--out",
                "rows",
                "--quiet",
            ],
            0,
        )
        .trim(),
    );
    let (rows_only, md) = verify_json(
        dir,
        &scratch,
        &[
            rows.to_str().unwrap(),
            "--level",
            "restore",
            "--scratch",
            "local",
            "--pg-bin",
            &pg_bin,
        ],
        3,
    );
    let finding = rows_only["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "restore")
        .unwrap();
    assert!(
        finding["message"].as_str().unwrap().contains("--data-only"),
        "{finding}"
    );
    findings_in_both(&rows_only, &md);
}

#[test]
fn policies_expected_tables_age_and_size_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scratch = scratch_tmp(dir);
    let db = agent_db(dir, "agent.db", 0.05);
    let first = dir.join(expect(dir, &["backup", "agent.db", "--out", "bk", "--quiet"], 0).trim());
    // An older copy, so that "the previous set" and "the newest set" exist.
    let older = dir.join("bk/agent-20200101T000000Z.tar");
    std::fs::copy(&first, &older).unwrap();
    rewrite_sidecar(&older);
    sqlite(
        &db,
        "DELETE FROM AgentQuery WHERE id > 100; DELETE FROM AgentFeedback WHERE id > 10; VACUUM;",
    );
    let small = dir.join(expect(dir, &["backup", "agent.db", "--out", "bk", "--quiet"], 0).trim());

    let (report, md) = verify_json(
        dir,
        &scratch,
        &[
            small.to_str().unwrap(),
            "--expect-table",
            "AgentQuery",
            "--expect-table",
            "Sessions",
            "--max-size-change",
            "50%",
            "--min-size",
            "1kB",
        ],
        3,
    );
    let found = checks(&report);
    assert!(found.contains(&"expected-table".to_string()), "{found:?}");
    assert!(found.contains(&"size-change".to_string()), "{found:?}");
    assert!(!found.contains(&"min-size".to_string()), "{found:?}");
    let missing = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "expected-table")
        .unwrap();
    assert_eq!(missing["object"], "Sessions");
    let change = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "size-change")
        .unwrap();
    assert!(change["message"].as_str().unwrap().contains("-9"), "{change}");
    findings_in_both(&report, &md);

    // Freshness on its own: the newest set is young, an old directory is not.
    verify_json(dir, &scratch, &["--latest", "bk", "--max-age", "26h"], 0);
    for f in [&first, &small] {
        std::fs::remove_file(f).unwrap();
    }
    let (stale, md) = verify_json(dir, &scratch, &["--latest", "bk", "--max-age", "26h"], 3);
    assert!(checks(&stale).contains(&"max-age".to_string()), "{stale}");
    findings_in_both(&stale, &md);

    // backup --verify restore, with the policies in lifeboat.toml.
    std::fs::write(
        dir.join("lifeboat.toml"),
        "[verify]\nexpect_tables = [\"AgentQuery\", \"AgentFeedback\"]\n",
    )
    .unwrap();
    let out = lifeboat(dir)
        .args(["backup", "agent.db", "--out", "bk2", "--verify", "restore", "--json"])
        .env("TMPDIR", &scratch)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], true);
    std::fs::write(dir.join("lifeboat.toml"), "[verify]\nexpect_tables = [\"Missing\"]\n").unwrap();
    let out = lifeboat(dir)
        .args(["backup", "agent.db", "--out", "bk2", "--verify", "quick", "--json"])
        .env("TMPDIR", &scratch)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], false);
}

/// When the restore level cannot make a scratch database because the role
/// lacks CREATEDB, the finding says so and how to give it one, instead of
/// calling the set bad.
#[test]
fn a_role_without_createdb_is_named_not_the_set() {
    let c = cluster();
    for sql in [
        "DROP DATABASE IF EXISTS nocreate_src",
        "DROP ROLE IF EXISTS nocreate",
        "CREATE ROLE nocreate LOGIN PASSWORD 'nc-pw' NOCREATEDB",
        "CREATE DATABASE nocreate_src OWNER nocreate",
    ] {
        c.psql("postgres", sql);
    }
    let url = c.url_as("nocreate", "nc-pw", "nocreate_src");
    c.psql(
        "nocreate_src",
        "SET ROLE nocreate; CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2);",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scratch = scratch_tmp(dir);
    let set = dir.join(expect(dir, &["backup", &url, "--out", "bk", "--quiet"], 0).trim());
    let (report, md) = verify_json(
        dir,
        &scratch,
        &[
            set.to_str().unwrap(),
            "--level",
            "restore",
            "--scratch",
            "server",
            "--source",
            &url,
        ],
        3,
    );
    let finding = &report["findings"][0];
    assert!(finding["fix"].as_str().unwrap().contains("CREATEDB"), "{finding}");
    assert!(
        !finding["fix"].as_str().unwrap().contains("take a new backup"),
        "{finding}"
    );
    assert!(md.contains("CREATEDB"), "{md}");
}

#[test]
fn what_only_a_superuser_may_make_is_verified_on_a_local_cluster() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scratch = scratch_tmp(dir);
    c.fixture("untrusted_src", "postgis.sql", &[]);
    for fixture in ["untrusted_extensions.sql", "superuser_shapes.sql"] {
        c.psql_file(
            "untrusted_src",
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(fixture),
            &[],
        );
    }
    let pg_bin = c.bin.to_str().unwrap().to_string();
    let local = ["--scratch", "local", "--pg-bin", pg_bin.as_str()];
    let verify_local = |set: &Path, code: i32| {
        let mut args = vec![set.to_str().unwrap(), "--level", "restore"];
        args.extend(local);
        verify_json(dir, &scratch, &args, code)
    };

    // As a scheduled backup proves itself: by a restore into a throw-away
    // cluster, where the set's SQL runs without superuser.
    let url = c.url("untrusted_src");
    let mut args = vec!["backup", url.as_str(), "--out", "bk", "--verify", "restore"];
    args.extend(local);
    let out = lifeboat(dir).args(&args).env("TMPDIR", &scratch).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let set = only_set(&dir.join("bk"));

    let (report, md) = verify_local(&set, 0);
    assert_eq!(report["passed"], true, "{report}");
    assert!(report["findings"].as_array().unwrap().is_empty(), "{report}");
    // The user's rows in the extensions' configuration tables were loaded
    // and read back.
    let checked = report["checked_tables"].as_array().unwrap();
    for table in [
        "public.spatial_ref_sys",
        "public.us_gaz",
        "tools.events",
        "audit.entries",
    ] {
        let t = checked
            .iter()
            .find(|t| t["table"] == table)
            .unwrap_or_else(|| panic!("{table} not checked: {report}"));
        assert_eq!(t["rows_found"], t["rows_expected"], "{t}");
        assert_eq!(t["digest_matches"], true, "{t}");
    }
    assert!(md.contains("passed"), "{md}");
    assert!(
        std::fs::read_dir(&scratch).unwrap().next().is_none(),
        "the scratch cluster was left behind"
    );

    // The extensions' comments need their owner, the admin, too.
    let pre_data = String::from_utf8(member_content(&set, "untrusted_src/0-pre-data.sql.gz")).unwrap();
    assert!(
        pre_data.contains("COMMENT ON EXTENSION pgstattuple IS 'tuple-level statistics, commented by us';"),
        "{pre_data}"
    );
    let other = dir.join("bk/untrusted_src-20200101T000000Z.tar");
    std::fs::copy(&set, &other).unwrap();

    // The admin creates an extension only while the scratch database
    // holds none of the set's code, which an extension's script (run as
    // superuser, its schema on the path) could otherwise call.
    alter_item(
        &other,
        "untrusted_src",
        |i| {
            i["sql"]
                .as_str()
                .unwrap()
                .starts_with("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        },
        |sql| format!("CREATE FUNCTION tools.planted() RETURNS int LANGUAGE sql AS 'SELECT 1';\n{sql}"),
    );
    let (refused, _) = verify_local(&other, 3);
    let message = refused["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "restore")
        .unwrap_or_else(|| panic!("{refused}"))["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("tools.planted()"), "{message}");
    assert!(message.contains("CREATE EXTENSION pgstattuple"), "{message}");
}

#[test]
fn a_sequence_restored_elsewhere_than_the_manifest_records_is_a_finding() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scratch = dir.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    c.createdb("seqpos_src");
    c.psql(
        "seqpos_src",
        "CREATE SEQUENCE counter; SELECT setval('counter', 42); CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
    );
    let out = expect(dir, &["backup", &c.url("seqpos_src"), "--out", "bk", "--quiet"], 0);
    let set = dir.join(out.trim());
    let pg_bin = c.bin.to_str().unwrap().to_string();
    let args = [
        set.to_str().unwrap(),
        "--level",
        "restore",
        "--scratch",
        "local",
        "--pg-bin",
        &pg_bin,
    ];
    let (report, _) = verify_json(dir, &scratch, &args, 0);
    assert!(report["findings"].as_array().unwrap().is_empty(), "{report}");
    // The schema's own setval puts the sequence elsewhere than the
    // manifest records it.
    alter_item(
        &set,
        "seqpos_src",
        |i| i["sql"].as_str().unwrap().contains("setval('public.counter', 42"),
        |sql| sql.replace("42", "7"),
    );
    let (report, _) = verify_json(dir, &scratch, &args, 3);
    assert_eq!(checks(&report), ["restore-sequence"], "{report}");
    let finding = &report["findings"][0];
    assert!(
        finding["object"].as_str().unwrap().contains("public.counter"),
        "{report}"
    );
    assert!(finding["expected"].as_str().unwrap().contains("42"), "{report}");
    assert!(finding["actual"].as_str().unwrap().contains("last_value 7"), "{report}");
}
