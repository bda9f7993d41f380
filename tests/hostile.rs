//! Sets built by an attacker: real sets edited with their hashes, manifest
//! and sidecar recomputed, so every checksum passes. Each must be refused
//! or neutralised without touching anything outside the test's directory,
//! sending a password anywhere or running the set's own code.

mod common;

use common::pg::{PASSWORD, cluster};
use common::*;
use std::path::{Path, PathBuf};

/// What reading any hostile set may cost in memory: lifeboat reads
/// members as streams, so a set's claims never show in its footprint.
const MAX_RSS_KIB: u64 = 200 << 10;

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

/// The member of a set whose path ends with `suffix`.
fn member_named(set: &Path, suffix: &str) -> String {
    read_members(set)
        .into_iter()
        .map(|(n, _)| n)
        .find(|n| n.contains(suffix))
        .unwrap_or_else(|| panic!("no member like {suffix}"))
}

fn append_to_member(set: &Path, suffix: &str, sql: &str) {
    let name = member_named(set, suffix);
    let mut content = member_content(set, &name);
    content.extend_from_slice(sql.as_bytes());
    replace_member(set, &name, &content);
}

#[test]
fn scripts_run_only_statements_lifeboat_writes() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let original = pg_set(
        dir,
        "guard_src",
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    let pwned = dir.join("pwned");
    let program = format!("COPY (SELECT 1) TO PROGRAM 'touch {}';\n", pwned.display());
    for (n, (member, sql)) in [
        ("0-pre-data", program.clone()),
        ("3-post-data", program.clone()),
        (
            "2-indexes",
            format!("/* ' */ CREATE INDEX i ON public.t (v); {program} /* ' */\n"),
        ),
        ("0-pre-data", "ALTER SYSTEM SET archive_command = 'x';\n".into()),
        ("0-pre-data", "CREATE ROLE evil SUPERUSER;\n".into()),
        ("4-foreign-keys", "DO $$ BEGIN EXECUTE 'SELECT 1'; END $$;\n".into()),
    ]
    .into_iter()
    .enumerate()
    {
        let set = dir.join(format!("hostile-{n}.tar"));
        std::fs::copy(&original, &set).unwrap();
        rewrite_sidecar(&set);
        append_to_member(&set, member, &sql);
        let target = format!("guard_dst_{n}");
        c.createdb(&target);
        let out = run(
            dir,
            &["restore", set.to_str().unwrap(), "--to", &c.url(&target), "--force"],
        );
        assert_eq!(out.status.code(), Some(1), "{sql}: {}", text(&out));
        assert!(text(&out).contains("statement lifeboat never writes"), "{}", text(&out));
        let first_word = sql
            .trim_start_matches("/* ' */ CREATE INDEX i ON public.t (v); ")
            .split(' ')
            .next()
            .unwrap();
        assert!(
            text(&out).contains(first_word),
            "the refusal names the statement: {}",
            text(&out)
        );
        // Checked before anything ran: the target is still empty.
        assert_eq!(
            c.psql(&target, "SELECT count(*) FROM pg_class WHERE relname = 't'"),
            "0"
        );
        assert!(!pwned.exists(), "the set's COPY ... PROGRAM ran");
        assert_eq!(
            c.psql("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'evil'"),
            "0"
        );
    }
    // The restore level refuses it too, as a finding.
    let set = dir.join("hostile-0.tar");
    let out = run(
        dir,
        &[
            "verify",
            set.to_str().unwrap(),
            "--level",
            "restore",
            "--scratch",
            "local",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("statement lifeboat never writes"), "{}", text(&out));
    assert!(!pwned.exists());
}

/// schema.json is what a restore runs: a hostile one is held against the
/// guard statement by statement, as scripts are, and one lifeboat could
/// not have written is refused whole, before anything runs.
#[test]
fn a_hostile_schema_json_runs_nothing_the_guard_refuses() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let original = pg_set(
        dir,
        "schema_json_src",
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    let member = "schema_json_src.schema.json.gz";
    let pwned = dir.join("pwned");
    let program = format!("COPY (SELECT 1) TO PROGRAM 'touch {}';", pwned.display());
    let schema: serde_json::Value = serde_json::from_slice(&member_content(&original, member)).unwrap();
    // A carriage return ends a -- comment for the server: a statement
    // behind one, with the allowed one that follows swallowed by /* */,
    // is what the server would run.
    let behind_a_carriage_return = format!(
        "-- innocuous\r{} /*\nCOMMENT ON SCHEMA public IS 'standard public schema' */;",
        program.trim_end_matches(';')
    );
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let program_in_item: Edit = Box::new(move |s| {
        let items = s["items"].as_array_mut().unwrap();
        let table = items.iter_mut().find(|i| i["kind"] == "table").unwrap();
        table["sql"] = format!("{} {program}", table["sql"].as_str().unwrap()).into();
    });
    let item = |sql: String| -> Edit {
        Box::new(move |s| {
            s["items"].as_array_mut().unwrap().push(serde_json::json!({
                "section": "post-data", "kind": "comment", "name": "schema public", "sql": sql,
            }))
        })
    };
    let cases: [(Edit, &str); 7] = [
        (program_in_item, "statement lifeboat never writes"),
        (
            Box::new(|s| {
                s["items"].as_array_mut().unwrap().push(serde_json::json!({
                    "section": "indexes", "kind": "index", "name": "x",
                    "sql": "CREATE ROLE evil SUPERUSER;",
                }))
            }),
            "statement lifeboat never writes",
        ),
        (
            Box::new(|s| s["items"][0]["run_as"] = "postgres".into()),
            "not a schema.json lifeboat writes",
        ),
        (
            Box::new(|s| s["items"][0]["sql"] = "SET row_security = off;".into()),
            "holds a session setting",
        ),
        (item(behind_a_carriage_return), "statement lifeboat never writes"),
        // Privileges on what belongs to the whole server, not the target.
        (
            item("GRANT CREATE ON DATABASE postgres TO PUBLIC;".into()),
            "belongs to the whole server",
        ),
        (
            item("GRANT ALTER SYSTEM ON PARAMETER archive_command TO PUBLIC;".into()),
            "belongs to the whole server",
        ),
    ];
    for (n, (edit, refusal)) in cases.into_iter().enumerate() {
        let set = dir.join(format!("bk/schema_json-2026010{n}T000000Z.tar"));
        std::fs::copy(&original, &set).unwrap();
        let mut hostile = schema.clone();
        edit(&mut hostile);
        replace_member(&set, member, &serde_json::to_vec(&hostile).unwrap());
        let target = format!("schema_json_dst_{n}");
        c.createdb(&target);
        let out = run(
            dir,
            &["restore", set.to_str().unwrap(), "--to", &c.url(&target), "--force"],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(refusal), "{refusal}: {}", text(&out));
        // Checked before anything ran: the target is still empty.
        assert_eq!(
            c.psql(&target, "SELECT count(*) FROM pg_class WHERE relname = 't'"),
            "0"
        );
        // Quick verification refuses it too.
        let out = run(dir, &["verify", set.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(text(&out).contains(refusal), "{refusal}: {}", text(&out));
    }
    assert!(!pwned.exists(), "schema.json's COPY ... PROGRAM ran");
    assert_eq!(
        c.psql("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'evil'"),
        "0"
    );
    assert_eq!(
        c.psql(
            "postgres",
            "SELECT count(*) FROM pg_catalog.pg_parameter_acl WHERE parname = 'archive_command'"
        ),
        "0"
    );
    assert_eq!(
        c.psql(
            "postgres",
            "SELECT pg_catalog.has_database_privilege('public', 'postgres', 'CREATE')::text"
        ),
        "false"
    );
}

#[test]
fn data_members_are_copy_data_into_lifeboats_own_copy() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let original = pg_set(
        dir,
        "data_src",
        "CREATE TABLE t (id int, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    let pwned = dir.join("pwned");
    let data = member_named(&original, "1-data-");
    let rows = String::from_utf8(member_content(&original, &data)).unwrap();
    let body = rows.split_once('\n').unwrap().1.to_string();
    for (n, header) in [
        format!("COPY public.t FROM PROGRAM 'touch {}' -- FROM stdin;", pwned.display()),
        "COPY public.t FROM '/etc/passwd' -- FROM stdin;".to_string(),
        format!(
            "COPY public.t FROM stdin; COPY (SELECT 1) TO PROGRAM 'touch {}'; -- FROM stdin;",
            pwned.display()
        ),
        "COPY public.other FROM stdin;".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let set = dir.join(format!("data-{n}.tar"));
        std::fs::copy(&original, &set).unwrap();
        replace_member(&set, &data, format!("{header}\n{body}").as_bytes());
        c.createdb(&format!("data_dst_{n}"));
        let out = run(
            dir,
            &[
                "restore",
                set.to_str().unwrap(),
                "--to",
                &c.url(&format!("data_dst_{n}")),
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{header}: {}", text(&out));
        assert!(text(&out).contains("not the COPY lifeboat writes"), "{}", text(&out));
        // Rows alone into tables that exist: the same refusal.
        let out = run(
            dir,
            &[
                "restore",
                set.to_str().unwrap(),
                "--to",
                &c.url("data_src"),
                "--data-only",
                "-t",
                "t",
                "--force",
                "--no-safety-backup",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{header}: {}", text(&out));
        assert!(!pwned.exists(), "the data member's COPY ran");
    }
    assert_eq!(c.psql("data_src", "SELECT count(*) FROM t"), "2");
    // Rows after the end marker are a second COPY in disguise: refused.
    let set = dir.join("data-extra.tar");
    std::fs::copy(&original, &set).unwrap();
    replace_member(
        &set,
        &data,
        format!("{rows}COPY public.t FROM stdin;\n3\tc\n\\.\n").as_bytes(),
    );
    c.createdb("data_dst_extra");
    let out = run(
        dir,
        &["restore", set.to_str().unwrap(), "--to", &c.url("data_dst_extra")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("more after its rows' end marker"), "{}", text(&out));
}

#[test]
fn a_function_in_the_set_cannot_reach_the_machine_during_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pwned = dir.join("pwned");
    // The function tries its shell command only in the scratch database,
    // so building the source runs nothing; a check constraint calls it
    // for every row the verification loads.
    let set = pg_set(
        dir,
        "reach_src",
        &format!(
            "CREATE FUNCTION public.sneaky(v int) RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN \
             IF current_database() = 'verify' THEN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''env > {p}'''; END IF; \
             RETURN true; END $f$; \
             CREATE TABLE t (id int CHECK (public.sneaky(id))); INSERT INTO t VALUES (1), (2);",
            p = pwned.display()
        ),
    );
    let out = lifeboat(dir)
        .env("PGPASSWORD", PASSWORD)
        .env("GITHUB_TOKEN", "ghp_planted_token_value")
        .args([
            "verify",
            set.to_str().unwrap(),
            "--level",
            "restore",
            "--scratch",
            "local",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("pg_execute_server_program") || text(&out).contains("permission denied"),
        "{}",
        text(&out)
    );
    assert!(!pwned.exists(), "a function of the set ran a shell command");
}

#[test]
fn one_manifest_first_and_every_member_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "app.db", 0.01);
    let out = expect(dir, &["backup", "app.db", "--out", "bk", "--quiet"], 0);
    let good = dir.join(out.trim());
    let members = read_members(&good);

    // A second manifest after the first: refused, whatever it says.
    let mut altered: serde_json::Value = serde_json::from_slice(&members[0].1).unwrap();
    altered["label"] = "second".into();
    let mut twice = members.clone();
    twice.push(("manifest.json".into(), serde_json::to_vec(&altered).unwrap()));
    let set = dir.join("two-manifests.tar");
    write_set(&set, &twice);
    let out = run(dir, &["verify", set.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("appears more than once"), "{}", text(&out));
    let out = run(dir, &["restore", set.to_str().unwrap(), "--to", "x.db"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!dir.join("x.db").exists());

    // The same member twice: refused.
    let mut dup = members.clone();
    dup.push(members[1].clone());
    let set = dir.join("dup.tar");
    write_set(&set, &dup);
    let out = run(dir, &["verify", set.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("appears more than once"), "{}", text(&out));

    // A short, non-hex SHA-256: an error, not a panic.
    let set = dir.join("short-sha.tar");
    std::fs::copy(&good, &set).unwrap();
    edit_manifest(&set, |m| m["databases"][0]["members"][0]["sha256"] = "zz".into());
    for args in [&["info", set.to_str().unwrap()][..], &["verify", set.to_str().unwrap()]] {
        let out = run(dir, args);
        assert!(
            matches!(out.status.code(), Some(1) | Some(3)),
            "{args:?}: {}",
            text(&out)
        );
        assert!(text(&out).contains("64 hex digits"), "{}", text(&out));
    }
}

#[test]
fn a_member_that_inflates_past_its_raw_size_stops_there() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "app.db", 0.01);
    let out = expect(dir, &["backup", "app.db", "--out", "bk", "--quiet"], 0);
    let set = dir.join(out.trim());
    let member = member_named(&set, "app");
    // 64 MiB of zeros gzip to about 64 KiB; the manifest claims 1 KiB.
    replace_member(&set, &member, &vec![0u8; 64 << 20]);
    edit_manifest(&set, |m| m["databases"][0]["members"][0]["raw_size"] = 1024.into());
    // Memory stays bounded while the 64 MiB stream is read and refused.
    let (code, out, rss_kib) = run_measured(dir, &["verify", set.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("inflates past"), "{out}");
    assert!(rss_kib < MAX_RSS_KIB, "verify held {rss_kib} KiB");
    let (code, out, rss_kib) = run_measured(dir, &["restore", set.to_str().unwrap(), "--to", "out/x.db"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("inflates past"), "{out}");
    assert!(rss_kib < MAX_RSS_KIB, "restore held {rss_kib} KiB");
    // Nothing beside the target grew past what the manifest allowed.
    for entry in std::fs::read_dir(dir.join("out")).into_iter().flatten().flatten() {
        assert!(entry.metadata().unwrap().len() <= 1024, "{:?}", entry.path());
    }
    assert!(!dir.join("out/x.db").exists());
}

/// A manifest that claims a huge raw size is refused before anything is
/// written: beyond what the format can inflate to, beyond the plausible
/// ratio (256:1 above 64 MiB), and, for a stored member, anything but its
/// own size. Verification reports the same finding.
#[test]
fn a_manifest_claiming_a_huge_raw_size_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "app.db", 0.01);
    for (compression, factor, says) in [
        ("gzip", 2000, "more than gzip can"),
        ("gzip", 1000, "no more than 256:1"),
        ("zstd", 40000, "more than zstd can"),
        ("zstd", 1000, "no more than 256:1"),
        ("none", 2, "uncompressed member"),
    ] {
        let bk = format!("bk-{compression}-{factor}");
        let out = expect(
            dir,
            &[
                "backup",
                "app.db",
                "--out",
                &bk,
                "--compression",
                compression,
                "--quiet",
            ],
            0,
        );
        let set = dir.join(out.trim());
        let set_arg = set.to_str().unwrap();
        edit_manifest(&set, |m| {
            let member = &mut m["databases"][0]["members"][0];
            let size = member["size"].as_u64().unwrap();
            // Past the 64 MiB floor, so the ratio alone decides.
            assert!(compression == "none" || size * factor > 64 << 20, "{size}");
            member["raw_size"] = (size * factor).into();
        });
        let (code, out, rss_kib) = run_measured(dir, &["verify", set_arg]);
        assert_eq!(code, Some(3), "{compression} x{factor}: {out}");
        assert!(out.contains(says), "{compression} x{factor}: {out}");
        assert!(
            rss_kib < MAX_RSS_KIB,
            "{compression} x{factor}: verify held {rss_kib} KiB"
        );
        let target = format!("out-{compression}-{factor}/x.db");
        // Restore's own checks refuse the set, as verify does.
        let out = run(dir, &["restore", set_arg, "--to", &target]);
        assert_eq!(out.status.code(), Some(3), "{compression} x{factor}: {}", text(&out));
        assert!(text(&out).contains(says), "{compression} x{factor}: {}", text(&out));
        // Not a byte was written beside the target.
        let written: Vec<_> = std::fs::read_dir(dir.join(&target).parent().unwrap())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().ends_with("lifeboat-restore-lock"))
            .map(|e| (e.file_name(), e.metadata().unwrap().len()))
            .collect();
        assert!(
            written.iter().all(|(_, len)| *len == 0),
            "{compression} x{factor}: {written:?}"
        );
    }
}

#[test]
fn names_from_a_set_cannot_print_workflow_commands_or_escapes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "app.db", 0.01);
    let out = expect(dir, &["backup", "app.db", "--out", "bk", "--quiet"], 0);
    let set = dir.join(out.trim());
    edit_manifest(&set, |m| {
        m["label"] = "x\n::error::label-owned".into();
        m["kind"] = "::warning::kind-owned".into();
        m["databases"][0]["source"] = "\u{1b}]0;title\u{7}\n::add-mask::source-owned".into();
        m["databases"][0]["tables"][0]["name"] = "t\r\n::error file=x::table-owned\u{1b}[2J".into();
    });
    let mut outs = Vec::new();
    for args in [
        &["info", set.to_str().unwrap()][..],
        &["list", "bk"],
        &["verify", set.to_str().unwrap()],
        &["verify", set.to_str().unwrap(), "--level", "restore"],
        &["restore", set.to_str().unwrap(), "--to", "copy.db"],
        &["restore", set.to_str().unwrap()],
    ] {
        let out = lifeboat(dir)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
            .args(args)
            .output()
            .unwrap();
        outs.push((args.to_vec(), text(&out)));
    }
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
    outs.push((vec!["summary"], summary));
    let mut seen = 0;
    for (args, all) in &outs {
        assert!(
            !all.contains('\u{1b}') && !all.contains('\u{7}') && !all.contains('\r'),
            "{args:?}: {all:?}"
        );
        for line in all.lines() {
            let l = line.trim_start();
            // Lifeboat's own annotations may quote the names, neutralised;
            // no line may start with a command the set wrote.
            let own = l.starts_with("::error title=lifeboat") || l.starts_with("::warning title=lifeboat");
            assert!(
                !(l.starts_with("::") && l.contains("-owned") && !own),
                "{args:?} printed a workflow command from the set: {line:?}"
            );
            for command in ["::error::", "::warning::", "::add-mask::", "::error file"] {
                assert!(!l.contains(command), "{args:?}: {line:?}");
            }
        }
        seen += all.matches("-owned").count();
    }
    assert!(seen > 0, "the names are shown, neutralised: {outs:?}");
}

/// Names from a live database (schemas, tables, constraints) and server
/// errors that quote them are neutralised wherever lifeboat prints them:
/// backup, info, list, verify, compare, and a restore the server refuses
/// with a message naming the hostile objects.
#[test]
fn names_and_server_errors_from_a_database_cannot_print_workflow_commands_or_escapes() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Unicode escapes give identifiers a newline, ESC, BEL and workflow
    // commands; a value carries one too.
    let schema = r#"U&"s\000A::error::schema-owned\001B[2J""#;
    let table = r#"U&"t\000A::warning::table-owned\001B]0;x\0007""#;
    let constraint = r#"U&"k\000D\000A::error::constraint-owned""#;
    let setup = format!(
        "CREATE SCHEMA {schema}; \
         CREATE TABLE {schema}.{table} (id int CONSTRAINT {constraint} PRIMARY KEY, v text); \
         INSERT INTO {schema}.{table} VALUES (1, E'x\\n::error::value-owned\\u001b[2J');"
    );
    let set = pg_set(dir, "hostile_names", &setup);
    let set_arg = set.to_str().unwrap().to_string();
    // A target that already holds the same objects: the server refuses the
    // restore's CREATE SCHEMA, quoting the name.
    c.createdb("hostile_names_copy");
    c.psql("hostile_names_copy", &setup);
    c.psql(
        "hostile_names",
        &format!("INSERT INTO {schema}.{table} VALUES (2, 'changed')"),
    );
    let (source, copy) = (c.url("hostile_names"), c.url("hostile_names_copy"));
    let mut outs = Vec::new();
    for args in [
        &["backup", source.as_str(), "--out", "bk2"][..],
        &["info", &set_arg],
        &["list", "bk"],
        &[
            "verify",
            &set_arg,
            "--level",
            "restore",
            "--scratch",
            "server",
            "--source",
            &source,
        ],
        &["compare", &set_arg, &source],
        &["restore", &set_arg, "--to", &copy, "--force", "--no-safety-backup"],
        &["restore", &set_arg, "--to", &copy, "--data-only", "--no-safety-backup"],
    ] {
        let out = lifeboat(dir)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
            .args(args)
            .output()
            .unwrap();
        // The hostile names take nothing apart: the set restores (a
        // carriage return in a name once ended the script's comment line
        // and turned the rest of the name into SQL).
        if args[0] == "verify" {
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        }
        outs.push((args.to_vec(), text(&out)));
    }
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
    outs.push((vec!["summary"], summary));
    for (args, all) in &outs {
        assert!(
            !all.contains('\u{1b}') && !all.contains('\u{7}') && !all.contains('\r'),
            "{args:?}: {all:?}"
        );
        for line in all.lines() {
            let l = line.trim_start();
            let own = l.starts_with("::error title=lifeboat") || l.starts_with("::warning title=lifeboat");
            assert!(
                !(l.starts_with("::") && l.contains("-owned") && !own),
                "{args:?} printed a workflow command from the database: {line:?}"
            );
            for command in ["::error::", "::warning::"] {
                assert!(!l.contains(command), "{args:?}: {line:?}");
            }
        }
    }
    let all: String = outs.iter().map(|(_, o)| o.as_str()).collect();
    for shown in ["schema-owned", "table-owned"] {
        assert!(all.contains(shown), "{shown} is shown, neutralised: {outs:?}");
    }
    // The server's own refusal, quoting the hostile schema, got through
    // neutralised.
    assert!(all.contains("already exists"), "{outs:?}");
}

/// Two tables of a manifest that name the same table: their rows would go
/// into it twice, and the frozen load of one would empty it while the
/// other's rows were on their way (20000 rows lost, exit 0, counts "ok",
/// before both were guarded). The set is refused before anything runs.
#[test]
fn a_manifest_naming_one_table_twice_is_refused() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let set = pg_set(
        dir,
        "twice_src",
        "CREATE TABLE t (id int); CREATE TABLE u (id int); \
         INSERT INTO t SELECT generate_series(1, 10); \
         INSERT INTO u SELECT generate_series(100001, 120000);",
    );
    let u = member_named(&set, "public.u");
    let rows = String::from_utf8(member_content(&set, &u)).unwrap();
    let (header, body) = rows.split_once('\n').unwrap();
    replace_member(
        &set,
        &u,
        format!("{}\n{body}", header.replace("public.u", "public.t")).as_bytes(),
    );
    edit_manifest(&set, |m| {
        for table in m["databases"][0]["tables"].as_array_mut().unwrap() {
            if table["name"] == "public.u" {
                table["sql_name"] = "public.t".into();
            }
        }
    });
    for jobs in ["1", "2"] {
        let out = run(
            dir,
            &[
                "restore",
                set.to_str().unwrap(),
                "--to",
                &c.url("twice_dst"),
                "--create-db",
                "--jobs",
                jobs,
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains("the manifest lists table public.t twice: the set was altered"),
            "{}",
            text(&out)
        );
        assert_eq!(
            c.psql(
                "postgres",
                "SELECT count(*) FROM pg_database WHERE datname LIKE 'twice\\_dst%'"
            ),
            "0"
        );
    }
}
